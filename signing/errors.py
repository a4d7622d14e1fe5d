"""Errors of the signing component, each with a stable ``code`` and a message a user can act on."""

from django.utils.translation import gettext_lazy as _

from stipula.errors import DomainError


class SigningError(DomainError):
    code = "signing_error"
    default_message = _("The document could not be signed.")


class WrongPassword(SigningError):
    code = "wrong_password"
    default_message = _(
        "The PKCS#12 file could not be opened: the password is wrong or the file is damaged."
    )


class CertificateRejected(SigningError):
    """The signer's certificate cannot make a valid signature (RULES.md S2)."""

    code = "certificate_rejected"
    default_message = _("This certificate cannot be used to sign.")


class FieldNotFound(SigningError):
    code = "signature_field_not_found"
    default_message = _("The document has no empty signature field with this name.")


class InvalidPdf(DomainError):
    code = "invalid_pdf"
    default_message = _("The file is not a readable PDF (it may be truncated or damaged).")


class SignatureInvalid(DomainError):
    code = "signature_invalid"
    default_message = _("A signature on the document did not pass validation.")
