from django.db import models
from django.utils.translation import gettext_lazy as _

from agreements.models import content_addressed

# Labels new to this file are plain strings until the Italian catalogue (locale/) has them, as in
# signing/errors.py; an untranslated msgid fails tests/test_i18n.py.


class SigningDocument(models.Model):
    """The PDF the signatories sign: the approved version with one empty field per signatory.

    ``prepared_sha256`` is the content every signature must cover (RULES.md S3); ``current_pdf``
    is the latest incremental revision, which each signature extends (S4). Only the signing
    services write these rows.
    """

    agreement = models.OneToOneField(
        "agreements.Agreement", on_delete=models.PROTECT, related_name="signing_document"
    )
    approved_version = models.ForeignKey(
        "agreements.AgreementVersion",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approved version"),
    )
    prepared_pdf = models.FileField("prepared PDF", upload_to=content_addressed)
    prepared_sha256 = models.CharField("SHA-256 of the prepared PDF", max_length=64)
    current_pdf = models.FileField("current PDF", upload_to=content_addressed)
    current_sha256 = models.CharField("SHA-256 of the current PDF", max_length=64)
    # Signatory pk (as text) -> name of that signatory's signature field.
    fields = models.JSONField("signature fields", default=dict)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = "document for signing"
        verbose_name_plural = "documents for signing"

    def __str__(self):
        return f"{self.agreement_id}: {self.current_sha256[:12]}"

    def field_for(self, signatory) -> str:
        return self.fields.get(str(signatory.pk), "")


class Signature(models.Model):
    """The outcome of one signatory's signature on the approved PDF (RULES.md S6).

    Only the signing services create these, from a real pyHanko validation; the lifecycle reads
    them to decide whether every required signatory has signed.
    """

    class Indication(models.TextChoices):
        PASSED = "PASSED", _("Passed")
        INDETERMINATE = "INDETERMINATE", _("Indeterminate")
        FAILED = "FAILED", _("Failed")

    class Method(models.TextChoices):
        PKCS12 = "pkcs12", "PKCS#12 file"
        PKCS11 = "pkcs11", "PKCS#11 token"
        EXTERNAL = "external", "External signature"

    signatory = models.ForeignKey(
        "agreements.Signatory", on_delete=models.PROTECT, related_name="signatures"
    )
    indication = models.CharField(_("indication"), max_length=16, choices=Indication)
    sub_indication = models.CharField(_("sub-indication"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    method = models.CharField("method", max_length=16, choices=Method, blank=True)
    field_name = models.CharField("signature field", max_length=255, blank=True)
    # SHA-256 of the PDF revision this signature produced.
    pdf_sha256 = models.CharField("SHA-256 of the signed PDF", max_length=64, blank=True)
    # signing.pades.SignatureReport.to_dict() (RULES.md S7).
    report = models.JSONField("validation report", default=dict, blank=True)

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")

    def __str__(self):
        return f"{self.signatory}: {self.indication}"
