from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self):
        from agreements.events import state_changed
        from webhooks.tasks import dispatch_soon

        state_changed.connect(dispatch_soon, dispatch_uid="webhooks.dispatch_soon")
