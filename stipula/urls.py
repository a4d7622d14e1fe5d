from django.contrib import admin
from django.urls import include, path
from viewflow.contrib.auth import AuthViewset

from stipula.site import site


class StipulaAuthViewset(AuthViewset):
    """Log in, log out and change one's password. Accounts are managed by administrators, so
    there is no self-service password reset by e-mail and no avatar profile page."""

    pass_reset_path = None
    pass_reset_done_path = None
    pass_reset_confirm_path = None
    pass_reset_complete_path = None
    profile_path = None


urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", StipulaAuthViewset().urls),
    path("pubblico/", include("registry.urls_public")),
    path("api/", include("api.urls")),
    path("", site.urls),
]

# Under /api/ a URL that no view matches answers in the API's error shape.
handler404 = "api.errors.handler404"
