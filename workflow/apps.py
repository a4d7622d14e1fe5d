from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowConfig(AppConfig):
    """The viewflow process around the agreement lifecycle (task inboxes, deadlines)."""

    name = "workflow"
    verbose_name = _("Workflow")
