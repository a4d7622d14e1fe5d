"""Token authentication for systems: ``Authorization: Token stp_…`` (or ``Bearer stp_…``)."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api.models import ApiToken, token_digest


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("The Authorization header must be «Token <your token>».")
            )
        row = (
            ApiToken.objects.active()
            .select_related("user")
            .filter(digest=token_digest(header[1]))
            .first()
        )
        if row is None or not row.user.is_active:
            raise exceptions.AuthenticationFailed(
                _("The token is unknown, expired or revoked: ask an administrator for a new one.")
            )
        now = timezone.now()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        return row.user, row

    def authenticate_header(self, request):
        return 'Token realm="stipula"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": _("«Token <token>»; tokens are issued with `manage.py api_token`."),
        }
