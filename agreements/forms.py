"""Forms of the web pages. They check the shape of the input only; the services decide."""

from django import forms
from django.contrib.auth import get_user_model
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from agreements.models import Agreement, AgreementState, Organisation
from agreements.services import MAX_DOCX_BYTES
from audit.models import AuditAction

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class AgreementFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State"), choices=[("", _("All"))] + AgreementState.choices, required=False
    )


class AuditLogFilterForm(forms.Form):
    agreement = forms.IntegerField(label=_("Agreement number"), required=False, min_value=1)
    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("All"))] + AuditAction.choices, required=False
    )


class AgreementCreateForm(forms.Form):
    subject = forms.CharField(
        label=_("Subject (oggetto)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the agreement is about, as it will appear in the act."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Agreement.Kind.choices)
    valid_from = forms.DateField(label=_("Valid from"), required=False)
    valid_until = forms.DateField(label=_("Valid until"), required=False)


class TransitionForm(forms.Form):
    """The state the page showed travels with the request, so a change made meanwhile by someone
    else is caught by the service instead of being acted upon blindly."""

    expected_state = forms.ChoiceField(choices=AgreementState.choices, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("It is kept in the record of the procedure."),
    )


class PartyAddForm(forms.Form):
    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.none()
    )
    role_description = forms.CharField(
        label=_("Role in the agreement"),
        required=False,
        max_length=255,
        help_text=_("For example: lead body, partner, funder."),
    )

    def __init__(self, *args, agreement: Agreement, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = Organisation.objects.exclude(
            agreement_parties__agreement=agreement
        ).order_by("name")


class _PartyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, party):
        return f"{party.position}. {party.organisation.name}"


class _UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user):
        full_name = user.get_full_name()
        return f"{full_name} ({user.get_username()})" if full_name else user.get_username()


class SignatoryAddForm(forms.Form):
    party = _PartyChoiceField(label=_("Party"), queryset=None)
    user = _UserChoiceField(
        label=_("Person"),
        queryset=None,
        help_text=_("Only people who act for one of the parties are listed."),
    )
    title = forms.CharField(
        label=_("Title"), max_length=255, help_text=_("For example: Mayor, Director General.")
    )
    authorising_act = forms.CharField(
        label=_("Authorising act"),
        max_length=500,
        help_text=_("The act that authorises this person to sign, e.g. a council resolution."),
    )
    fiscal_code = forms.CharField(label=_("Fiscal code"), max_length=16, required=False)

    def __init__(self, *args, agreement: Agreement, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = agreement.parties.select_related("organisation").order_by(
            "position"
        )
        self.fields["user"].queryset = (
            get_user_model()
            .objects.filter(
                is_active=True, memberships__organisation__agreement_parties__agreement=agreement
            )
            .distinct()
            .order_by("last_name", "first_name", "username")
        )


class VersionUploadForm(forms.Form):
    docx = forms.FileField(
        label=_("DOCX file"),
        widget=forms.FileInput(attrs={"accept": f".docx,{DOCX_CONTENT_TYPE}"}),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What changed in this version."),
    )

    def clean_docx(self):
        upload = self.cleaned_data["docx"]
        # Refused before reading, so an oversized upload is never loaded into memory.
        if upload.size > MAX_DOCX_BYTES:
            raise forms.ValidationError(
                _("The file is %(size)s; the limit is %(limit)s.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(MAX_DOCX_BYTES)}
            )
        return upload
