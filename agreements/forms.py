"""Forms of the web pages. They check the shape of the input only; the services decide."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from agreements.models import Agreement, AgreementState, Organisation
from templates_docx.docx_safety import DEFAULT_MAX_DOCX_BYTES

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class AgreementFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State"), choices=[("", _("All"))] + AgreementState.choices, required=False
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


def read_docx_upload(upload) -> bytes:
    """The bytes of an uploaded DOCX, at most one byte past the size limit: the service refuses
    (and audits) an oversized file, and an oversized upload is never loaded into memory whole."""
    limit = getattr(settings, "STIPULA_MAX_DOCX_BYTES", None) or DEFAULT_MAX_DOCX_BYTES
    return upload.read(limit + 1)


def _docx_field(label=None, help_text=""):
    return forms.FileField(
        label=label or _("DOCX file"),
        help_text=help_text,
        widget=forms.FileInput(attrs={"accept": f".docx,{DOCX_CONTENT_TYPE}"}),
    )


class DocxUploadForm(forms.Form):
    """A DOCX file; ``cleaned_data["docx_bytes"]`` holds its bytes (see read_docx_upload)."""

    def clean_docx(self):
        upload = self.cleaned_data["docx"]
        self.cleaned_data["docx_bytes"] = read_docx_upload(upload)
        return upload


class VersionUploadForm(DocxUploadForm):
    docx = _docx_field()
    note = forms.CharField(
        label=_("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What changed in this version."),
    )


# Drafting from a template --------------------------------------------------------------------


def template_version_label(version) -> str:
    return _("%(name)s, version %(number)d (%(kind)s)") % {
        "name": version.template.name,
        "number": version.number,
        "kind": version.template.get_kind_display(),
    }


class TemplateChoiceForm(forms.Form):
    """Which template to draft from: the latest version of each template in the library (the
    page for drafting accepts any version, so a text can be redrafted from an older one)."""

    template_version = forms.TypedChoiceField(label=_("Template"), coerce=int)

    def __init__(self, *args, templates, agreement: Agreement, **kwargs):
        super().__init__(*args, **kwargs)
        latest = [t.latest_version for t in templates if t.latest_version is not None]
        # Templates of the agreement's kind first.
        latest.sort(key=lambda v: (v.template.kind != agreement.kind, v.template.name))
        field = self.fields["template_version"]
        field.choices = [(v.pk, template_version_label(v)) for v in latest]
        if latest:
            field.initial = latest[0].pk


# How each value a template asks for is typed in. The shipped templates (templates_docx/shipped)
# use these names; any other name gets a text box, or the shape of the value it had last time.
BOOLEAN_PREFIXES = ("clausola_", "oneri_", "con_", "include_", "prevede_")
LIST_VARIABLES = frozenset({"premesse", "finalita", "attivita", "obiettivi", "azioni", "impegni"})
RECORD_VARIABLES = {"referenti": ("ente", "nome", "recapito")}
SHORT_VARIABLES = frozenset({"luogo", "foro_competente", "importo"})
# The order of the form follows the document; other names come after, alphabetically.
VARIABLE_ORDER = (
    "premesse",
    "finalita",
    "attivita",
    "referenti",
    "oneri_finanziari",
    "importo",
    "copertura_finanziaria",
    "clausola_recesso",
    "clausola_privacy",
    "foro_competente",
    "luogo",
    "data_stipula",
)
RECORD_SEPARATOR = "|"

VARIABLE_LABELS = {
    "luogo": _("Place of signing (luogo)"),
    "data_stipula": _("Date of signing (data_stipula)"),
    "premesse": _("Further premises (premesse)"),
    "finalita": _("Aims (finalità)"),
    "attivita": _("Activities (attività)"),
    "referenti": _("Contact persons (referenti)"),
    "clausola_recesso": _("Include the withdrawal clause (recesso)"),
    "clausola_privacy": _("Include the data protection clause (privacy)"),
    "oneri_finanziari": _("The agreement has financial costs (oneri finanziari)"),
    "importo": _("Amount in euro (importo)"),
    "copertura_finanziaria": _("Financial coverage (copertura finanziaria)"),
    "foro_competente": _("Competent court (foro competente)"),
}
VARIABLE_HELP = {
    "luogo": _("Leave empty if the agreement is signed digitally at different places."),
    "data_stipula": _(
        "For example 20/11/2026. Leave empty: the date is that of the last digital signature."
    ),
    "importo": _("For example 25.000,00. Read only when the agreement has financial costs."),
    "copertura_finanziaria": _(
        "It follows «trovano copertura», e.g. «sul capitolo 11040 del bilancio di previsione "
        "2027-2029». Read only when the agreement has financial costs."
    ),
    "foro_competente": _("The city, e.g. Lucca."),
}


def variable_kind(name: str, previous=None) -> str:
    """``boolean``, ``list``, ``records``, ``short`` or ``text``: how the value is typed in."""
    if name in RECORD_VARIABLES or (
        isinstance(previous, list) and previous and all(isinstance(v, dict) for v in previous)
    ):
        return "records"
    if name.startswith(BOOLEAN_PREFIXES) or isinstance(previous, bool):
        return "boolean"
    if name in LIST_VARIABLES or isinstance(previous, list):
        return "list"
    if name in SHORT_VARIABLES or name.startswith("data_"):
        return "short"
    return "text"


def _record_keys(name: str, previous) -> tuple[str, ...]:
    if name in RECORD_VARIABLES:
        return RECORD_VARIABLES[name]
    keys: list[str] = []
    for record in previous or []:
        keys.extend(key for key in record if key not in keys)
    return tuple(keys)


def _record_line(record: dict, keys: tuple[str, ...]) -> str:
    parts = [str(record.get(key, "") or "") for key in keys]
    while parts and not parts[-1]:
        parts.pop()
    return f" {RECORD_SEPARATOR} ".join(parts)


class TemplateDataForm(forms.Form):
    """The values a template asks the user for, one field per variable, and a note.

    ``variables`` are the template's user variables (templates_docx.context.user_variables);
    ``previous`` is the data of the last version drafted from the same template, which fills
    the form in so that a change is a small edit. ``template_data()`` gives the dict for the
    service: every variable, with "" or an empty list for what was left empty.
    """

    def __init__(self, *args, variables: list[str], previous: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        previous = previous or {}
        self.kinds: dict[str, str] = {}
        self.record_keys: dict[str, tuple[str, ...]] = {}
        known = {name: index for index, name in enumerate(VARIABLE_ORDER)}
        for name in sorted(variables, key=lambda n: (known.get(n, len(known)), n)):
            value = previous.get(name)
            kind = variable_kind(name, value)
            self.kinds[name] = kind
            label = VARIABLE_LABELS.get(name) or name.replace("_", " ").capitalize()
            help_text = VARIABLE_HELP.get(name, "")
            if kind == "boolean":
                field = forms.BooleanField(label=label, required=False, help_text=help_text)
                initial = bool(value)
            elif kind == "list":
                field = forms.CharField(
                    label=label,
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 4}),
                    help_text=help_text or _("One item per line."),
                )
                initial = "\n".join(str(item) for item in value or [])
            elif kind == "records":
                keys = _record_keys(name, value)
                self.record_keys[name] = keys
                field = forms.CharField(
                    label=label,
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 3}),
                    help_text=help_text
                    or _("One per line, the parts separated by «%(sep)s»: %(parts)s.")
                    % {"sep": RECORD_SEPARATOR, "parts": f" {RECORD_SEPARATOR} ".join(keys)},
                )
                initial = "\n".join(_record_line(record, keys) for record in value or [])
            else:
                widget = forms.TextInput() if kind == "short" else forms.Textarea(attrs={"rows": 2})
                field = forms.CharField(
                    label=label, required=False, widget=widget, help_text=help_text
                )
                initial = "" if value is None else str(value)
            field.initial = initial
            self.fields[name] = field
        self.fields["note"] = forms.CharField(
            label=_("Note"),
            required=False,
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text=_("What changed in this version."),
        )

    def clean(self):
        cleaned = super().clean()
        for name, keys in self.record_keys.items():
            for line in (cleaned.get(name) or "").splitlines():
                if line.strip() and len(line.split(RECORD_SEPARATOR)) > len(keys):
                    self.add_error(
                        name,
                        _(
                            "Too many parts in «%(line)s»: give at most %(n)d, separated by "
                            "«%(sep)s»."
                        )
                        % {"line": line.strip(), "n": len(keys), "sep": RECORD_SEPARATOR},
                    )
                    break
        return cleaned

    def template_data(self) -> dict:
        data = {}
        for name, kind in self.kinds.items():
            value = self.cleaned_data.get(name)
            if kind == "boolean":
                data[name] = bool(value)
            elif kind == "list":
                data[name] = [line.strip() for line in (value or "").splitlines() if line.strip()]
            elif kind == "records":
                keys = self.record_keys[name]
                records = []
                for line in (value or "").splitlines():
                    if not line.strip():
                        continue
                    parts = [part.strip() for part in line.split(RECORD_SEPARATOR)]
                    parts += [""] * (len(keys) - len(parts))
                    records.append(dict(zip(keys, parts, strict=True)))
                data[name] = records
            else:
                data[name] = (value or "").strip()
        return data


# Versions and comparison ---------------------------------------------------------------------


class CompareForm(forms.Form):
    """Two versions to compare, by number, among those the user may read."""

    old = forms.TypedChoiceField(label=_("From version"), coerce=int)
    new = forms.TypedChoiceField(label=_("To version"), coerce=int)

    def __init__(self, *args, numbers: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(n, _("version %(number)d") % {"number": n}) for n in numbers]
        self.fields["old"].choices = choices
        self.fields["new"].choices = choices

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("old") is not None and cleaned.get("old") == cleaned.get("new"):
            raise forms.ValidationError(_("Choose two different versions."))
        return cleaned


# Negotiation ---------------------------------------------------------------------------------


class _VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, version):
        label = _("version %(number)d") % {"number": version.number}
        return f"{label}: {version.note}" if version.note else label


class RoundOpenForm(forms.Form):
    version = _VersionChoiceField(
        label=_("Version to negotiate on"), queryset=None, empty_label=None
    )
    invitees = forms.TypedMultipleChoiceField(
        label=_("Invite"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The people who act for the parties."),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What the parties are asked to look at in this round."),
    )

    def __init__(self, *args, agreement: Agreement, representatives, **kwargs):
        # Its own ids: the agreement page also has the version upload form's «note».
        kwargs.setdefault("auto_id", "id_round_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["version"]
        field.queryset = agreement.versions.order_by("-number")
        field.initial = agreement.current_version_id
        self.representatives = {user.pk: user for user, _party in representatives}
        self.fields["invitees"].choices = [
            (user.pk, f"{_user_label(user)} – {party.organisation.name}")
            for user, party in representatives
        ]
        self.fields["invitees"].initial = list(self.representatives)

    def invited_users(self) -> list:
        return [self.representatives[pk] for pk in self.cleaned_data["invitees"]]


def _user_label(user) -> str:
    full_name = user.get_full_name()
    return f"{full_name} ({user.get_username()})" if full_name else user.get_username()


class CommentForm(forms.Form):
    text = forms.CharField(label=_("Comment"), widget=forms.Textarea(attrs={"rows": 3}))
    anchor = forms.CharField(
        label=_("Article or paragraph"),
        required=False,
        max_length=120,
        help_text=_("Optional: what the comment is about, e.g. «Art. 3»."),
    )
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ProposalForm(DocxUploadForm):
    docx = _docx_field(
        label=_("Revised text (DOCX)"),
        help_text=_("The whole text as your party proposes it, edited from the version above."),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What you changed and why."),
    )


class DecisionForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
