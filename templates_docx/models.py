from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from agreements.models import Agreement


def content_addressed(instance, filename):
    """Files are stored under their SHA-256 by agreements.storage; this is never called."""
    raise RuntimeError("store template files with agreements.storage.store_bytes")


class DocxTemplate(models.Model):
    """A named DOCX template (docxtpl) from which legal officers draft agreements of one kind.

    Its text lives in its versions; uploading a new file adds a version and changes nothing else.
    """

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind of agreement"), max_length=32, choices=Agreement.Kind)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
        help_text=_("Empty for the templates shipped with Stipula."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("DOCX template")
        verbose_name_plural = _("DOCX templates")

    def __str__(self):
        return self.name


class TemplateVersion(models.Model):
    """One immutable upload of a template's DOCX; agreement versions name the one they used."""

    template = models.ForeignKey(DocxTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("number"))
    docx = models.FileField(_("DOCX"), upload_to=content_addressed, max_length=200)
    sha256 = models.CharField(_("SHA-256 of the DOCX"), max_length=64)
    variables = models.JSONField(
        _("variables"),
        default=list,
        blank=True,
        help_text=_("The names the template expects, read from its tags when it was uploaded."),
    )
    note = models.TextField(_("note"), blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        ordering = ["template", "number"]
        verbose_name = _("template version")
        verbose_name_plural = _("template versions")
        constraints = [
            models.UniqueConstraint(
                fields=["template", "number"], name="unique_template_version_number"
            )
        ]

    def __str__(self):
        return f"{self.template.name} v{self.number}"
