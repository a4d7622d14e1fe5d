"""The registrar's application on Stipula's site (stipula/site.py mounts it at /registry/).

URL names: ``registry:index``, ``registry:register`` (one register's registrations),
``registry:pending`` and ``registry:register_agreement`` (signed agreements waiting for a number),
``registry:registration`` and its documents and forms, ``registry:daily`` (daily registers).
"""

from django.urls import path
from django.utils.translation import gettext_lazy as _
from viewflow.urls import Application

from registry import views


class RegistryApp(Application):
    title = _("Registry")
    icon = "menu_book"
    app_name = "registry"
    menu_template_name = None
    permission = staticmethod(views.may_open_registry)
    stipula_inline_messages = True

    index_path = path("", views.index, name="index")
    register_path = path("registers/<str:code>/", views.register_detail, name="register")
    pending_path = path("to-register/", views.pending, name="pending")
    register_agreement_path = path(
        "to-register/<int:pk>/", views.register_agreement, name="register_agreement"
    )
    registration_path = path(
        "registrations/<int:pk>/", views.registration_detail, name="registration"
    )
    registration_change_path = path(
        "registrations/<int:pk>/change/", views.registration_change, name="change"
    )
    registration_annul_path = path(
        "registrations/<int:pk>/annul/", views.registration_annul, name="annul"
    )
    registration_document_path = path(
        "registrations/<int:pk>/document.pdf", views.registration_document, name="document"
    )
    registration_attachment_path = path(
        "registrations/<int:pk>/attachments/<int:index>/",
        views.registration_attachment,
        name="attachment",
    )
    registration_segnatura_path = path(
        "registrations/<int:pk>/segnatura.xml", views.registration_segnatura, name="segnatura"
    )
    registration_receipt_path = path(
        "registrations/<int:pk>/receipt.pdf", views.registration_receipt, name="receipt"
    )
    daily_path = path("daily/", views.daily_list, name="daily")
    daily_produce_path = path("daily/produce/", views.daily_produce, name="daily_produce")
    daily_pdf_path = path(
        "daily/<str:day>/register.pdf", views.daily_file, {"fmt": "pdf"}, name="daily_pdf"
    )
    daily_json_path = path(
        "daily/<str:day>/register.json", views.daily_file, {"fmt": "json"}, name="daily_json"
    )
