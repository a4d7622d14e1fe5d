"""The forms of the workflow pages. They only collect what the services ask for: every rule
(who may act, in which state, what is complete) is the services' to check, so that a refusal
has one wording and is audited."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from agreements.models import OrganisationMember
from agreements.roles import Role
from workflow.models import ItemOutcome, ReviewDecision, SigningOrder


def _person(user) -> str:
    return user.get_full_name() or user.get_username()


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _person(obj)


class ReviewForm(forms.Form):
    """The checklist (an outcome and a note per item), the decision and its reason.

    The items are numbered fields (``outcome_<n>``, ``note_<n>``): checklist codes may hold
    characters (``competence:1``) that make poor HTML ids.
    """

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=ReviewDecision.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    reason = forms.CharField(
        label=_("Reasons (required to request changes; they go to the legal officer)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )

    def __init__(self, *args, checklist=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.checklist = list(checklist)
        for index, item in enumerate(self.checklist):
            self.fields[f"outcome_{index}"] = forms.ChoiceField(
                label=item.label,
                choices=ItemOutcome.choices,
                widget=forms.RadioSelect,
                required=False,
            )
            self.fields[f"note_{index}"] = forms.CharField(
                label=_("Note on «%(item)s»") % {"item": item.label},
                widget=forms.Textarea(attrs={"rows": 2}),
                required=False,
            )

    def rows(self):
        """(item, outcome field, note field) for each item of the checklist."""
        return [
            (item, self[f"outcome_{index}"], self[f"note_{index}"])
            for index, item in enumerate(self.checklist)
        ]

    def outcomes(self) -> dict:
        data = self.cleaned_data
        return {
            item.code: {
                "outcome": data.get(f"outcome_{index}") or "",
                "note": data.get(f"note_{index}") or "",
            }
            for index, item in enumerate(self.checklist)
        }


class ReviewerForm(forms.Form):
    user = PersonChoiceField(
        label=_("Reviewer"),
        queryset=get_user_model().objects.none(),
        empty_label=_("Choose a reviewer"),
    )

    def __init__(self, *args, exclude=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name=Role.REVIEWER.value)
            .exclude(pk__in=list(exclude))
            .distinct()
            .order_by("last_name", "first_name", "username")
        )


class SigningOrderForm(forms.Form):
    """The order, and for the staged order the stage of each party (parties without a stage
    sign last, together)."""

    order = forms.ChoiceField(
        label=_("Signing order"), choices=SigningOrder.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args, parties=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.parties = list(parties)
        for party in self.parties:
            self.fields[f"stage_{party.pk}"] = forms.IntegerField(
                label=_("Stage of %(party)s") % {"party": party.organisation.name},
                min_value=1,
                max_value=max(len(self.parties), 1),
                required=False,
            )

    def stage_fields(self):
        return [(party, self[f"stage_{party.pk}"]) for party in self.parties]

    def stages(self) -> list[list]:
        by_stage: dict[int, list] = {}
        for party in self.parties:
            number = self.cleaned_data.get(f"stage_{party.pk}")
            if number:
                by_stage.setdefault(number, []).append(party)
        return [by_stage[number] for number in sorted(by_stage)]


class DelegateForm(forms.Form):
    to_user = PersonChoiceField(
        label=_("Delegate"),
        queryset=get_user_model().objects.none(),
        empty_label=_("Choose a person authorised for the party"),
    )
    act = forms.CharField(
        label=_("Act that authorises the delegation (e.g. the decree and its number)"),
        max_length=500,
        required=False,
    )
    title = forms.CharField(
        label=_("Title of the delegate (optional)"), max_length=255, required=False
    )
    fiscal_code = forms.CharField(
        label=_("Fiscal code of the delegate, as in their certificate"),
        max_length=16,
        required=False,
    )

    def __init__(self, *args, signatory=None, **kwargs):
        super().__init__(*args, **kwargs)
        members = get_user_model().objects.none()
        if signatory is not None:
            member_ids = OrganisationMember.objects.filter(
                organisation_id=signatory.party.organisation_id
            ).values("user_id")
            members = (
                get_user_model()
                .objects.filter(pk__in=member_ids, is_active=True)
                .exclude(pk=signatory.user_id)
                .order_by("last_name", "first_name", "username")
            )
        self.fields["to_user"].queryset = members


class DeclineForm(forms.Form):
    reason = forms.CharField(
        label=_("Why you decline to sign (it is kept in the record of the procedure)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )


class ResumeForm(forms.Form):
    note = forms.CharField(
        label=_("Note (optional)"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language of your e-mail"), choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = settings.LANGUAGES
