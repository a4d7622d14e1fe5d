"""The web application shell: a viewflow Material site with its applications.

URL names: ``home`` (/), ``agreements:*`` (/agreements/...), ``template_library:*``
(/templates/...), ``auditlog:index`` (/audit/), ``workflow:*`` (/tasks/...).
Login and logout live outside the site, in stipula/urls.py.
"""

from django.urls import path
from django.utils.translation import gettext_lazy as _
from viewflow.urls import Application, Site, route

from agreements import policies, views, views_drafting
from audit import views as audit_views
from registry.urls import RegistryApp
from signing import views as signing_views
from templates_docx import views as template_views
from workflow import views as workflow_views


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
    version_detail_path = path(
        "<int:pk>/versions/<int:number>/", views_drafting.version_detail, name="version_detail"
    )
    version_pdf_path = path(
        "<int:pk>/versions/<int:number>/pdf/", views_drafting.version_pdf, name="version_pdf"
    )
    version_page_path = path(
        "<int:pk>/versions/<int:number>/pages/<int:page>.png",
        views_drafting.version_page,
        name="version_page",
    )
    compare_path = path("<int:pk>/compare/", views_drafting.version_compare, name="compare")
    compare_docx_path = path(
        "<int:pk>/compare/redline.docx",
        views_drafting.version_compare,
        {"fmt": "docx"},
        name="compare_docx",
    )
    compare_pdf_path = path(
        "<int:pk>/compare/redline.pdf",
        views_drafting.version_compare,
        {"fmt": "pdf"},
        name="compare_pdf",
    )
    draft_path = path("<int:pk>/draft/", views_drafting.draft_from_template, name="draft")

    # Negotiation
    round_open_path = path("<int:pk>/rounds/", views_drafting.round_open, name="round_open")
    round_path = path("<int:pk>/rounds/<int:number>/", views_drafting.round_detail, name="round")
    round_close_path = path(
        "<int:pk>/rounds/<int:number>/close/", views_drafting.round_close, name="round_close"
    )
    comment_add_path = path(
        "<int:pk>/rounds/<int:number>/comments/", views_drafting.comment_add, name="comment_add"
    )
    proposal_submit_path = path(
        "<int:pk>/rounds/<int:number>/proposals/",
        views_drafting.proposal_submit,
        name="proposal_submit",
    )
    proposal_accept_path = path(
        "<int:pk>/proposals/<int:proposal_pk>/accept/",
        views_drafting.proposal_accept,
        name="proposal_accept",
    )
    proposal_reject_path = path(
        "<int:pk>/proposals/<int:proposal_pk>/reject/",
        views_drafting.proposal_reject,
        name="proposal_reject",
    )
    proposal_docx_path = path(
        "<int:pk>/proposals/<int:proposal_pk>/docx/",
        views_drafting.proposal_file,
        {"fmt": "docx"},
        name="proposal_docx",
    )
    proposal_pdf_path = path(
        "<int:pk>/proposals/<int:proposal_pk>/pdf/",
        views_drafting.proposal_file,
        {"fmt": "pdf"},
        name="proposal_pdf",
    )
    proposal_redline_path = path(
        "<int:pk>/proposals/<int:proposal_pk>/redline/",
        views_drafting.proposal_redline,
        name="proposal_redline",
    )
    proposal_redline_docx_path = path(
        "<int:pk>/proposals/<int:proposal_pk>/redline.docx",
        views_drafting.proposal_redline,
        {"fmt": "docx"},
        name="proposal_redline_docx",
    )
    proposal_redline_pdf_path = path(
        "<int:pk>/proposals/<int:proposal_pk>/redline.pdf",
        views_drafting.proposal_redline,
        {"fmt": "pdf"},
        name="proposal_redline_pdf",
    )

    # Signing (signing/views.py)
    signing_path = path("<int:pk>/signing/", signing_views.signing_overview, name="signing")
    signing_prepare_path = path(
        "<int:pk>/signing/prepare/", signing_views.signing_prepare, name="signing_prepare"
    )
    signing_prepared_pdf_path = path(
        "<int:pk>/signing/approved.pdf",
        signing_views.signing_pdf,
        {"which": "prepared"},
        name="signing_prepared_pdf",
    )
    signing_current_pdf_path = path(
        "<int:pk>/signing/current.pdf",
        signing_views.signing_pdf,
        {"which": "current"},
        name="signing_current_pdf",
    )
    signing_page_path = path(
        "<int:pk>/signing/pages/<slug:sha256>/<int:page>.png",
        signing_views.signing_page,
        name="signing_page",
    )
    signing_report_pdf_path = path(
        "<int:pk>/signing/signatures.pdf",
        signing_views.signing_report_pdf,
        name="signing_report_pdf",
    )
    sign_path = path(
        "<int:pk>/signing/sign/<int:signatory_pk>/", signing_views.signature_sign, name="sign"
    )
    signature_report_path = path(
        "<int:pk>/signing/signatures/<int:signature_pk>/",
        signing_views.signature_report,
        name="signature_report",
    )
    signature_report_pdf_path = path(
        "<int:pk>/signing/signatures/<int:signature_pk>/report.pdf",
        signing_views.signature_report_pdf,
        name="signature_report_pdf",
    )
    signature_report_json_path = path(
        "<int:pk>/signing/signatures/<int:signature_pk>/report.json",
        signing_views.signature_report_json,
        name="signature_report_json",
    )
    signature_revalidate_path = path(
        "<int:pk>/signing/signatures/<int:signature_pk>/revalidate/",
        signing_views.signature_revalidate,
        name="signature_revalidate",
    )


def _may_open_audit_log(user) -> bool:
    # viewflow's SiteMiddleware checks this before the view: let anonymous users through to the
    # view's login redirect instead of answering 403.
    return not user.is_authenticated or policies.can_read_audit_log(user)


def _may_open_template_library(user) -> bool:
    return not user.is_authenticated or policies.can_use_template_library(user)


class TemplateLibraryApp(Application):
    title = _("Templates")
    icon = "library_books"
    app_name = "template_library"
    menu_template_name = None
    permission = staticmethod(_may_open_template_library)
    stipula_inline_messages = True

    index_path = path("", template_views.template_library, name="index")
    detail_path = path("<int:pk>/", template_views.template_detail, name="detail")
    version_download_path = path(
        "versions/<int:pk>/docx/", template_views.template_version_download, name="download"
    )


class AuditLogApp(Application):
    title = _("Audit log")
    icon = "history"
    app_name = "auditlog"
    menu_template_name = None
    permission = staticmethod(_may_open_audit_log)
    stipula_inline_messages = True

    # The auditor's workspace (audit/views.py).
    index_path = path("", audit_views.workspace, name="index")
    chain_path = path("chain/", audit_views.chain, name="chain")
    timeline_path = path("agreements/<int:pk>/", audit_views.agreement_timeline, name="timeline")
    agreement_bundle_path = path(
        "agreements/<int:pk>/bundle/", audit_views.agreement_bundle, name="agreement_bundle"
    )
    procedure_period_path = path(
        "procedure/", audit_views.procedure_period, name="procedure_period"
    )
    procedure_period_pdf_path = path(
        "procedure/report.pdf",
        audit_views.procedure_period,
        {"fmt": "pdf"},
        name="procedure_period_pdf",
    )
    procedure_period_json_path = path(
        "procedure/report.json",
        audit_views.procedure_period,
        {"fmt": "json"},
        name="procedure_period_json",
    )
    procedure_path = path("procedure/<int:pk>/", audit_views.procedure_agreement, name="procedure")
    procedure_pdf_path = path(
        "procedure/<int:pk>/report.pdf",
        audit_views.procedure_agreement,
        {"fmt": "pdf"},
        name="procedure_pdf",
    )
    procedure_json_path = path(
        "procedure/<int:pk>/report.json",
        audit_views.procedure_agreement,
        {"fmt": "json"},
        name="procedure_json",
    )
    exports_path = path("exports/", audit_views.exports, name="exports")
    export_path = path("exports/<int:pk>/", audit_views.export_detail, name="export")
    export_status_path = path(
        "exports/<int:pk>/status.json", audit_views.export_status, name="export_status"
    )
    export_download_path = path(
        "exports/<int:pk>/download/", audit_views.export_download, name="export_download"
    )


class WorkflowApp(Application):
    """Each user's tasks, and the process of each agreement (workflow/views.py)."""

    title = _("My tasks")
    icon = "inbox"
    app_name = "workflow"
    menu_template_name = None
    stipula_inline_messages = True

    index_path = path("", workflow_views.inbox, name="index")
    take_path = path("<int:task_pk>/take/", workflow_views.task_take, name="take")
    language_path = path("preferences/language/", workflow_views.language, name="language")
    process_path = path(
        "agreements/<int:pk>/process/", workflow_views.process_detail, name="process"
    )
    process_start_path = path(
        "agreements/<int:pk>/process/start/", workflow_views.process_start, name="process_start"
    )
    review_path = path("agreements/<int:pk>/review/", workflow_views.review, name="review")
    reviewers_path = path(
        "agreements/<int:pk>/reviewers/", workflow_views.reviewers, name="reviewers"
    )
    reviewer_remove_path = path(
        "agreements/<int:pk>/reviewers/<int:user_pk>/remove/",
        workflow_views.reviewer_remove,
        name="reviewer_remove",
    )
    signing_order_path = path(
        "agreements/<int:pk>/signing-order/", workflow_views.signing_order, name="signing_order"
    )
    delegate_path = path(
        "agreements/<int:pk>/signatories/<int:signatory_pk>/delegate/",
        workflow_views.signing_delegate,
        name="delegate",
    )
    decline_path = path(
        "agreements/<int:pk>/signatories/<int:signatory_pk>/decline/",
        workflow_views.signing_decline,
        name="decline",
    )
    resume_path = path("agreements/<int:pk>/resume/", workflow_views.signing_resume, name="resume")


class StipulaSite(Site):
    icon = "handshake"
    stipula_inline_messages = True

    # The home page replaces viewflow's redirect to the first application.
    index_path = None
    home_path = path("", views.home, name="home")
    agreements_path = route("agreements/", AgreementsApp())
    templates_path = route("templates/", TemplateLibraryApp())
    audit_log_path = route("audit/", AuditLogApp())
    workflow_path = route("tasks/", WorkflowApp())
    registry_path = route("registry/", RegistryApp())


# A product name: not translated.
site = StipulaSite(title="Stipula")
