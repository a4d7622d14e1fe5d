"""Forms of the registry's pages. They check the shape of the input only; the services decide.

Uploads are refused by their declared size before they are read, so an oversized file is never
loaded into memory, and the hash of a file to verify is computed chunk by chunk.
"""

import hashlib

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.models import Register, Registration
from registry.selectors import RegistrationFilter, active_registers, parse_sha256
from registry.services import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, Attachment, rome_now

DEFAULT_MAX_VERIFY_BYTES = 50 * 1024 * 1024


def max_verify_bytes() -> int:
    return getattr(settings, "STIPULA_PUBLIC_VERIFY_MAX_BYTES", None) or DEFAULT_MAX_VERIFY_BYTES


def _date_input():
    # The browser's date picker sends and shows ISO dates whatever the language of the page.
    return forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


# Registrar's pages ---------------------------------------------------------------------------


class RegistrationSearchForm(forms.Form):
    STATUS_CHOICES = [
        ("", _("All, annulled included")),
        ("active", _("Not annulled")),
        ("annulled", _("Annulled only")),
    ]

    number = forms.IntegerField(label=_("Number"), required=False, min_value=1)
    year = forms.IntegerField(label=_("Year"), required=False, min_value=1900, max_value=9999)
    subject = forms.CharField(label=_("Subject contains"), required=False, max_length=200)
    party = forms.CharField(label=_("Party contains"), required=False, max_length=200)
    date_from = forms.DateField(label=_("Registered from"), required=False, widget=_date_input())
    date_to = forms.DateField(label=_("Registered until"), required=False, widget=_date_input())
    status = forms.ChoiceField(label=_("Annulled"), choices=STATUS_CHOICES, required=False)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end of the range must not precede its start."))
        return cleaned

    def criteria(self) -> RegistrationFilter:
        if not self.is_valid():
            return RegistrationFilter()
        data = self.cleaned_data
        return RegistrationFilter(
            number=data.get("number"),
            year=data.get("year"),
            subject=(data.get("subject") or "").strip(),
            party=(data.get("party") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            status=data.get("status") or "",
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class _RegisterChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, register: Register) -> str:
        return f"{register.code} · {register.name}"


class RegistrationRegisterForm(forms.Form):
    """Give a signed agreement its number."""

    register = _RegisterChoiceField(
        label=pgettext_lazy("noun", "Register"),
        queryset=Register.objects.none(),
        empty_label=None,
        help_text=_("Signed conventions usually go to the repertorio of agreements."),
    )
    attachments = MultipleFileField(
        label=_("Attachments (allegati)"),
        required=False,
    )
    classification = forms.CharField(
        label=_("Classification"),
        required=False,
        max_length=255,
        help_text=_("The class of the filing plan (titolario), e.g. «I.6». It can change later."),
    )
    assigned_to = forms.CharField(
        label=_("Internal assignment"),
        required=False,
        max_length=255,
        help_text=_("The office the agreement is assigned to. It can change later."),
    )
    public_document = forms.BooleanField(
        label=_("Publish the signed PDF on the public page"),
        required=False,
        help_text=_(
            "Number, date, subject, parties and impronta are public in any case; the signed PDF "
            "only when this is ticked."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["register"].queryset = active_registers()
        # Formatted here, not at import: the text is translated in the language of the request.
        self.fields["attachments"].help_text = _(
            "Optional: files registered together with the signed PDF, each with its own "
            "impronta. At most %(count)d files of %(size)s MB each."
        ) % {"count": MAX_ATTACHMENTS, "size": _megabytes(MAX_ATTACHMENT_BYTES)}

    def clean_attachments(self) -> list[Attachment]:
        uploads = self.cleaned_data.get("attachments") or []
        if len(uploads) > MAX_ATTACHMENTS:
            raise forms.ValidationError(
                _("At most %(count)d attachments can be registered with a document.")
                % {"count": MAX_ATTACHMENTS},
                code="too_many",
            )
        attachments = []
        for upload in uploads:
            if upload.size > MAX_ATTACHMENT_BYTES:
                raise forms.ValidationError(
                    _("The attachment «%(name)s» is larger than %(size)s MB.")
                    % {"name": upload.name, "size": _megabytes(MAX_ATTACHMENT_BYTES)},
                    code="too_big",
                )
            attachments.append(
                Attachment(
                    name=upload.name,
                    data=upload.read(),
                    mime_type=upload.content_type or "application/octet-stream",
                )
            )
        return attachments


class RegistrationChangeForm(forms.Form):
    """What may change of a registration (RULES.md P5); each change is kept in its history."""

    classification = forms.CharField(label=_("Classification"), required=False, max_length=255)
    assigned_to = forms.CharField(label=_("Internal assignment"), required=False, max_length=255)
    public_document = forms.BooleanField(
        label=_("Signed PDF published on the public page"), required=False
    )

    @classmethod
    def for_registration(cls, registration: Registration) -> "RegistrationChangeForm":
        return cls(initial={field: getattr(registration, field) for field in cls.base_fields})


class RegistrationAnnulForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text=_("It is kept in the register and shown on the public page."),
    )
    authorised_by = forms.CharField(
        label=_("Authorised by"),
        max_length=255,
        help_text=_("The person responsible who authorised the annulment."),
    )
    authorising_act = forms.CharField(
        label=_("Authorising act"),
        max_length=255,
        help_text=_("The reference of the act that authorises it, e.g. «Determina n. 15/2026»."),
    )
    confirm = forms.BooleanField(
        label=_("I confirm the annulment: it cannot be undone"),
        help_text=_(
            "The registration keeps its number and all its values, marked annulled; the "
            "agreement moves to «annulled»."
        ),
    )


class DailyRegisterProduceForm(forms.Form):
    day = forms.DateField(
        label=_("Day"),
        widget=_date_input(),
        help_text=_(
            "Producing the register of a day closes that day: nothing more can be registered, "
            "annulled or changed with its date. Producing today's register closes today."
        ),
    )
    close_today = forms.BooleanField(
        label=_("If the day is today: close today now"),
        required=False,
        help_text=_("Needed only for today: no registration will be possible until tomorrow."),
    )

    def clean(self):
        cleaned = super().clean()
        day = cleaned.get("day")
        if day is not None and day == rome_now().date() and not cleaned.get("close_today"):
            self.add_error(
                "close_today",
                _(
                    "This is today's register: producing it closes today for registrations, "
                    "annulments and changes. Tick the box to confirm."
                ),
            )
        return cleaned


# Public pages --------------------------------------------------------------------------------


class PublicSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        help_text=_("Words of the subject or of a party, or a number such as 12 or 12/2026."),
    )
    year = forms.IntegerField(label=_("Year"), required=False, min_value=1900, max_value=9999)


class VerifyForm(forms.Form):
    """A PDF (or any file) to look for among the registered documents, or its SHA-256."""

    document = forms.FileField(
        label=_("Document"),
        required=False,
        help_text=_("The PDF you received: it is not kept, only its SHA-256 is computed."),
    )
    sha256 = forms.CharField(
        label=_("Or its SHA-256 impronta"),
        required=False,
        max_length=100,
        help_text=_("64 hexadecimal digits, or the 44 characters of its base64 form."),
    )

    @staticmethod
    def too_big_error() -> forms.ValidationError:
        return forms.ValidationError(
            _(
                "The file is larger than %(size)s MB, more than any document this page checks: "
                "type its SHA-256 instead."
            )
            % {"size": _megabytes(max_verify_bytes())},
            code="too_big",
        )

    @classmethod
    def refusing_upload(cls) -> "VerifyForm":
        """A bound form that says the upload was too big, for a request whose body is not read."""
        form = cls(data={})
        form.full_clean()
        form._errors.clear()
        form.add_error("document", cls.too_big_error())
        return form

    def clean_document(self):
        upload = self.cleaned_data.get("document")
        if not upload:
            return None
        if upload.size > max_verify_bytes():
            raise self.too_big_error()
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def clean_sha256(self):
        text = (self.cleaned_data.get("sha256") or "").strip()
        if not text:
            return None
        parsed = parse_sha256(text)
        if parsed is None:
            raise forms.ValidationError(
                _(
                    "This is not a SHA-256: type its 64 hexadecimal digits or its 44 base64 "
                    "characters."
                ),
                code="not_sha256",
            )
        return parsed

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        from_file, typed = cleaned.get("document"), cleaned.get("sha256")
        if not from_file and not typed:
            raise forms.ValidationError(
                _("Choose a file or type its SHA-256."), code="nothing_to_verify"
            )
        if from_file and typed and from_file != typed:
            raise forms.ValidationError(
                _("The file you chose does not have the SHA-256 you typed: give one or the other."),
                code="mismatch",
            )
        cleaned["digest"] = from_file or typed
        return cleaned
