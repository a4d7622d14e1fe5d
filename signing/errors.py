"""Errors of the signing component, each with a stable ``code`` and a message a user can act on.

The messages are not marked for translation yet: the Italian catalogue (locale/) is maintained
elsewhere, and an untranslated msgid fails tests/test_i18n.py. Wrap them in gettext_lazy when
their translations are added.
"""

from stipula.errors import DomainError


class SigningError(DomainError):
    code = "signing_error"
    default_message = "The document could not be signed."


class WrongPassword(SigningError):
    code = "wrong_password"
    default_message = (
        "The PKCS#12 file could not be opened: the password is wrong or the file is damaged."
    )


class CertificateRejected(SigningError):
    """The signer's certificate cannot make a valid signature (RULES.md S2)."""

    code = "certificate_rejected"
    default_message = "This certificate cannot be used to sign."


class FieldNotFound(SigningError):
    code = "signature_field_not_found"
    default_message = "The document has no empty signature field with this name."


class InvalidPdf(DomainError):
    code = "invalid_pdf"
    default_message = "The file is not a readable PDF (it may be truncated or damaged)."


class SignatureInvalid(DomainError):
    code = "signature_invalid"
    default_message = "A signature on the document did not pass validation."
