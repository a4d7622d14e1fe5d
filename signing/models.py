from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from agreements.models import content_addressed


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
    prepared_pdf = models.FileField(_("prepared PDF"), upload_to=content_addressed)
    prepared_sha256 = models.CharField(_("SHA-256 of the prepared PDF"), max_length=64)
    current_pdf = models.FileField(_("current PDF"), upload_to=content_addressed)
    current_sha256 = models.CharField(_("SHA-256 of the current PDF"), max_length=64)
    # Signatory pk (as text) -> name of that signatory's signature field.
    fields = models.JSONField(_("signature fields"), default=dict)
    # Whether the system seal certified the prepared PDF first (DocMDP level 2, RULES.md S5).
    certified = models.BooleanField(_("certified by the system seal"), default=False)
    # "B-LTA" once the completed document got its document timestamp over the validation data.
    level = models.CharField(_("archival level"), max_length=8, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("document for signing")
        verbose_name_plural = _("documents for signing")

    def __str__(self):
        return f"{self.agreement_id}: {self.current_sha256[:12]}"

    def field_for(self, signatory) -> str:
        return self.fields.get(str(signatory.pk), "")


class Signature(models.Model):
    """One signatory's signature on the approved PDF, as first validated (RULES.md S6, S7).

    Append-only evidence (a database trigger refuses UPDATE and DELETE): the indication, report
    and hashes are those of the validation made when the signature was applied. Every validation,
    that first one included, is also a ``SignatureValidation`` row; the latest one is the
    signature's current outcome (an INDETERMINATE signature can be validated again).
    """

    class Indication(models.TextChoices):
        PASSED = "PASSED", _("Passed")
        INDETERMINATE = "INDETERMINATE", _("Indeterminate")
        FAILED = "FAILED", _("Failed")

    class Method(models.TextChoices):
        PKCS12 = "pkcs12", _("PKCS#12 file")
        PKCS11 = "pkcs11", _("PKCS#11 token")
        EXTERNAL = "external", _("External signature")

    signatory = models.ForeignKey(
        "agreements.Signatory", on_delete=models.PROTECT, related_name="signatures"
    )
    indication = models.CharField(_("indication"), max_length=16, choices=Indication)
    sub_indication = models.CharField(_("sub-indication"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    method = models.CharField(_("method"), max_length=16, choices=Method, blank=True)
    field_name = models.CharField(_("signature field"), max_length=255, blank=True)
    # SHA-256 of the PDF revision this signature produced.
    pdf_sha256 = models.CharField(_("SHA-256 of the signed PDF"), max_length=64, blank=True)
    # signing.pades.SignatureReport.to_dict() (RULES.md S7).
    report = models.JSONField(_("validation report"), default=dict, blank=True)

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")

    def __str__(self):
        return f"{self.signatory}: {self.indication}"

    @property
    def pdf_name(self) -> str:
        """Storage name of the PDF revision this signature produced (content-addressed)."""
        digest = self.pdf_sha256
        return f"signing/{digest[:2]}/{digest}.pdf"

    @property
    def latest(self) -> "SignatureValidation | None":
        return self.validations.order_by("-pk").first()

    @property
    def current_indication(self) -> str:
        latest = self.latest
        return latest.indication if latest is not None else self.indication


def latest_indication():
    """A subquery for ``Signature`` rows: the indication of their latest validation."""
    return models.Subquery(
        SignatureValidation.objects.filter(signature=models.OuterRef("pk"))
        .order_by("-pk")
        .values("indication")[:1]
    )


class SignatureValidation(models.Model):
    """One validation of one signature, at signing time or later (RULES.md S6, S7). Append-only."""

    signature = models.ForeignKey(Signature, on_delete=models.PROTECT, related_name="validations")
    indication = models.CharField(_("indication"), max_length=16, choices=Signature.Indication)
    sub_indication = models.CharField(_("sub-indication"), max_length=64, blank=True)
    # signing.pades.SignatureReport.to_dict() of this validation.
    report = models.JSONField(_("validation report"), default=dict, blank=True)
    # SHA-256 of the PDF revision that was validated (the latest one at that time).
    pdf_sha256 = models.CharField(_("SHA-256 of the validated PDF"), max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("signature validation")
        verbose_name_plural = _("signature validations")

    def __str__(self):
        return f"{self.signature_id}: {self.indication}"


class RemoteSigningKey(models.Model):
    """Where a person's remote-signing key lives: a PKCS#11 token on the server (RULES.md S1).

    The person confirms each signature with the token PIN, which is never stored.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remote_signing_key"
    )
    token_label = models.CharField(_("token label"), max_length=32)
    key_label = models.CharField(_("key label"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("remote signing key")
        verbose_name_plural = _("remote signing keys")

    def __str__(self):
        return f"{self.user}: {self.token_label}"
