"""Forms of the signing pages. They check the shape of the input only; the services decide.

Secrets (the token PIN, the PKCS#12 password) are never rendered back into a page: their widgets
do not render the value, and the browser is asked not to remember them.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

# A PKCS#12 file holds a key and a few certificates: a few kilobytes.
MAX_PKCS12_BYTES = 1024 * 1024
MAX_SIGNED_PDF_BYTES = 50 * 1024 * 1024

_SECRET_ATTRS = {"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}


def _read_upload(upload, *, limit: int, too_big: str) -> bytes:
    if upload.size > limit:
        raise forms.ValidationError(too_big, code="too_big")
    data = upload.read()
    if not data:
        raise forms.ValidationError(_("The file is empty."), code="empty")
    return data


class SignForm(forms.Form):
    """One way of signing; ``method`` names it in the POST (the page has one form per way)."""

    method = ""

    def signing_arguments(self) -> dict:
        """The keyword arguments of the signing service, from the cleaned data."""
        raise NotImplementedError


class Pkcs11SignForm(SignForm):
    method = "pkcs11"

    pin = forms.CharField(
        label=_("PIN of your signing key"),
        strip=False,
        max_length=64,
        widget=forms.PasswordInput(attrs=_SECRET_ATTRS),
        help_text=_(
            "Your key is kept on the server in a security token; the PIN unlocks it for this "
            "signature only and is not stored."
        ),
    )

    def signing_arguments(self) -> dict:
        return {"pin": self.cleaned_data["pin"]}


class Pkcs12SignForm(SignForm):
    method = "pkcs12"

    pkcs12 = forms.FileField(
        label=_("Your signature certificate (PKCS#12 file, .p12 or .pfx)"),
        widget=forms.FileInput(attrs={"accept": ".p12,.pfx,application/x-pkcs12"}),
    )
    password = forms.CharField(
        label=_("Password of the file"),
        strip=False,
        required=False,
        max_length=256,
        widget=forms.PasswordInput(attrs=_SECRET_ATTRS),
        help_text=_("The file and its password are used for this signature only, never stored."),
    )

    def clean_pkcs12(self) -> bytes:
        return _read_upload(
            self.cleaned_data["pkcs12"],
            limit=MAX_PKCS12_BYTES,
            too_big=_("This is too big to be a PKCS#12 file."),
        )

    def signing_arguments(self) -> dict:
        return {"pkcs12": self.cleaned_data["pkcs12"], "password": self.cleaned_data["password"]}


class ExternalSignForm(SignForm):
    method = "external"

    signed_pdf = forms.FileField(
        label=_("The PDF you signed"),
        widget=forms.FileInput(attrs={"accept": ".pdf,application/pdf"}),
        help_text=_(
            "Download the PDF to sign, sign it with your own signature tool (PAdES, in your "
            "signature field) without changing anything else, then upload it here."
        ),
    )

    def clean_signed_pdf(self) -> bytes:
        data = _read_upload(
            self.cleaned_data["signed_pdf"],
            limit=MAX_SIGNED_PDF_BYTES,
            too_big=_("The file is too big."),
        )
        if not data.lstrip()[:5] == b"%PDF-":
            raise forms.ValidationError(
                _("This is not a PDF: upload the signed PDF (a .p7m envelope is not accepted)."),
                code="not_pdf",
            )
        return data

    def signing_arguments(self) -> dict:
        return {"uploaded": self.cleaned_data["signed_pdf"]}


SIGN_FORMS = {form.method: form for form in (Pkcs11SignForm, Pkcs12SignForm, ExternalSignForm)}
