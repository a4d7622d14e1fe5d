from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TemplatesDocxConfig(AppConfig):
    """DOCX templates (docxtpl) the legal officers draft from."""

    name = "templates_docx"
    verbose_name = _("DOCX templates")
