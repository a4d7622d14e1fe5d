"""The web application shell: a viewflow Material site with its applications.

URL names: ``home`` (/), ``agreements:*`` (/agreements/...), ``auditlog:index`` (/audit/).
Login and logout live outside the site, in stipula/urls.py.
"""

from django.urls import path
from django.utils.translation import gettext_lazy as _
from viewflow.urls import Application, Site, route

from agreements import views


class AgreementsApp(Application):
    title = _("Agreements")
    icon = "description"
    app_name = "agreements"
    menu_template_name = "agreements/app_menu.html"
    # Our pages show messages in the page itself (see stipula/base.html), not in a snackbar.
    stipula_inline_messages = True

    index_path = path("", views.agreement_list, name="index")
    create_path = path("new/", views.agreement_create, name="create")
    detail_path = path("<int:pk>/", views.agreement_detail, name="detail")
    transition_path = path(
        "<int:pk>/transitions/<slug:name>/", views.agreement_transition, name="transition"
    )
    party_add_path = path("<int:pk>/parties/", views.party_add, name="party_add")
    signatory_add_path = path("<int:pk>/signatories/", views.signatory_add, name="signatory_add")
    version_upload_path = path("<int:pk>/versions/", views.version_upload, name="version_upload")
    version_download_path = path(
        "<int:pk>/versions/<int:number>/docx/", views.version_download, name="version_download"
    )


def _may_open_audit_log(user) -> bool:
    # viewflow's SiteMiddleware checks this before the view: let anonymous users through to the
    # view's login redirect instead of answering 403.
    return not user.is_authenticated or views.can_read_audit_log(user)


class AuditLogApp(Application):
    title = _("Audit log")
    icon = "history"
    app_name = "auditlog"
    menu_template_name = None
    permission = staticmethod(_may_open_audit_log)
    stipula_inline_messages = True

    index_path = path("", views.audit_log, name="index")


class StipulaSite(Site):
    icon = "handshake"
    stipula_inline_messages = True

    # The home page replaces viewflow's redirect to the first application.
    index_path = None
    home_path = path("", views.home, name="home")
    agreements_path = route("agreements/", AgreementsApp())
    audit_log_path = route("audit/", AuditLogApp())


# A product name: not translated.
site = StipulaSite(title="Stipula")
