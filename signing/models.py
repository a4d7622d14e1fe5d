from django.db import models
from django.utils.translation import gettext_lazy as _


class Signature(models.Model):
    """The outcome of one signatory's signature on the approved PDF (RULES.md S6).

    Only the signing services create these, from a real pyHanko validation; the lifecycle reads
    them to decide whether every required signatory has signed.
    """

    class Indication(models.TextChoices):
        PASSED = "PASSED", _("Passed")
        INDETERMINATE = "INDETERMINATE", _("Indeterminate")
        FAILED = "FAILED", _("Failed")

    signatory = models.ForeignKey(
        "agreements.Signatory", on_delete=models.PROTECT, related_name="signatures"
    )
    indication = models.CharField(_("indication"), max_length=16, choices=Indication)
    sub_indication = models.CharField(_("sub-indication"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")

    def __str__(self):
        return f"{self.signatory}: {self.indication}"
