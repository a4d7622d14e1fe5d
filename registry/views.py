"""The registrar's pages: registers and their registrations, registering a signed agreement, a
registration's page with its documents, changes and annulment, and the daily registers.

Registrars, administrators and auditors open these pages; only registrars see the forms that
act, and the services decide in any case (and record a refused attempt). Like the other pages of
Stipula, they read through ``registry.selectors`` and act only through ``registry.services``; a
DomainError becomes a message on the page, with the form as the user filled it in, never an
error page.
"""

import datetime
import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import exceptions
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements.models import Agreement, AgreementState
from registry import selectors, services
from registry.forms import (
    DailyRegisterProduceForm,
    RegistrationAnnulForm,
    RegistrationChangeForm,
    RegistrationRegisterForm,
    RegistrationSearchForm,
)
from registry.models import DailyRegister, Registration, hex_to_base64
from registry.selectors import file_label, registered_bytes
from stipula.errors import (
    DomainError,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from stipula.http import download

PAGE_SIZE = 25
PDF = "application/pdf"

FIELD_LABELS = {
    "classification": gettext_lazy("Classification"),
    "assigned_to": gettext_lazy("Internal assignment"),
    "public_document": gettext_lazy("Signed PDF published"),
}


# Plumbing ------------------------------------------------------------------------------------


def registry_reader(view):
    """Logged in, and a registrar, an administrator or an auditor."""

    @functools.wraps(view)
    def checked(request, *args, **kwargs):
        if not selectors.can_read_registry(request.user):
            raise exceptions.PermissionDenied(
                _("Only registrars, administrators and auditors open the registry.")
            )
        return view(request, *args, **kwargs)

    return login_required(checked)


def may_open_registry(user) -> bool:
    """For the site's menu and viewflow's check before the view: anonymous users go on to the
    view's redirect to the login page instead of a 403."""
    return not user.is_authenticated or selectors.can_read_registry(user)


def _status_for(error: DomainError) -> int:
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, TransitionNotAllowed | ValidationFailed):
        return 409
    return 400


def _registration_or_404(pk: int) -> Registration:
    registration = selectors.registration_for_page(pk)
    if registration is None:
        raise Http404(_("There is no such registration."))
    return registration


def _registration_url(registration: Registration, anchor: str = "") -> str:
    url = reverse("registry:registration", args=[registration.pk])
    return f"{url}#{anchor}" if anchor else url


# Registers and registrations -----------------------------------------------------------------


@registry_reader
@require_GET
def index(request):
    return render(
        request,
        "registry/index.html",
        {
            "registers": selectors.register_list(),
            "waiting": selectors.agreements_to_register().count(),
            "overdue": _overdue_days(),
            "can_keep": selectors.can_keep_registry(request.user),
        },
    )


@registry_reader
@require_GET
def register_detail(request, code: str):
    register = selectors.register_by_code(code)
    if register is None:
        raise Http404(_("There is no register with this code."))
    search = RegistrationSearchForm(request.GET or None)
    paginator = Paginator(selectors.registration_search(register, search.criteria()), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "registry/register.html",
        {"register": register, "search": search, "page_obj": page_obj},
    )


@registry_reader
@require_GET
def pending(request):
    paginator = Paginator(selectors.agreements_to_register(), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "registry/pending.html",
        {"page_obj": page_obj, "can_keep": selectors.can_keep_registry(request.user)},
    )


def _render_register_form(request, agreement: Agreement, form, *, status: int = 200):
    return render(
        request,
        "registry/register_agreement.html",
        {
            "agreement": agreement,
            "parties": agreement.parties.select_related("organisation").order_by("position"),
            "document": getattr(agreement, "signing_document", None),
            "form": form,
            "can_keep": selectors.can_keep_registry(request.user),
            "has_registers": selectors.active_registers().exists(),
        },
        status=status,
    )


@registry_reader
@require_http_methods(["GET", "POST"])
def register_agreement(request, pk: int):
    agreement = (
        Agreement.objects.select_related("signing_document", "registration").filter(pk=pk).first()
    )
    if agreement is None:
        raise Http404(_("There is no such agreement."))
    registration = getattr(agreement, "registration", None)
    if request.method == "GET":
        if registration is not None:
            messages.info(
                request,
                _("This agreement is registered already, as %(label)s.")
                % {"label": registration.label},
            )
            return redirect(_registration_url(registration))
        return _render_register_form(request, agreement, RegistrationRegisterForm())
    form = RegistrationRegisterForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_register_form(request, agreement, form, status=400)
    data = form.cleaned_data
    try:
        registration = services.registration_register(
            actor=request.user,
            agreement=agreement,
            register=data["register"],
            attachments=data["attachments"],
            classification=data["classification"],
            assigned_to=data["assigned_to"],
            public_document=data["public_document"],
            expected_state=AgreementState.SIGNED,
        )
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_register_form(request, agreement, form, status=_status_for(error))
    messages.success(
        request,
        _("Registered as %(label)s on %(date)s.")
        % {
            "label": registration.label,
            "date": registration.registration_date.strftime("%d/%m/%Y"),
        },
    )
    return redirect(_registration_url(registration))


def _attachment_rows(registration: Registration) -> list[dict]:
    return [
        {**attachment, "index": index, "sha256_base64": hex_to_base64(attachment["sha256"])}
        for index, attachment in enumerate(registration.attachments)
    ]


def _change_rows(registration: Registration) -> list[dict]:
    rows = []
    for change in registration.changes.all():
        old, new = change.old_value, change.new_value
        if change.field == "public_document":
            old, new = (_("yes") if v == "True" else _("no") for v in (old, new))
        rows.append(
            {
                "change": change,
                "label": FIELD_LABELS.get(change.field, change.field),
                "old": old,
                "new": new,
            }
        )
    return rows


def _segnatura_check(registration: Registration):
    """The verification of the recorded segnatura (schema, seal, and that it names this
    registration and its impronte): a ``registry.segnatura.SegnaturaVerification``."""
    if not registration.segnatura:
        return None
    from registry.segnatura import verify_segnatura

    return verify_segnatura(registration.segnatura, registration=registration)


def _render_registration(request, registration: Registration, *, status: int = 200, **forms):
    can_keep = selectors.can_keep_registry(request.user)
    context = {
        "registration": registration,
        "annulment": getattr(registration, "annulment", None),
        "agreement": registration.agreement,
        "attachments": _attachment_rows(registration),
        "changes": _change_rows(registration),
        "segnatura_check": _segnatura_check(registration),
        "can_keep": can_keep,
    }
    if can_keep and not registration.is_annulled:
        context["change_form"] = forms.get(
            "change_form"
        ) or RegistrationChangeForm.for_registration(registration)
        context["annul_form"] = forms.get("annul_form") or RegistrationAnnulForm()
    for name, form in forms.items():
        # A refused form the page does not show (an auditor's attempt): its reason as a message.
        if name not in context:
            for error in form.non_field_errors():
                messages.error(request, error)
    return render(request, "registry/registration.html", context, status=status)


@registry_reader
@require_GET
def registration_detail(request, pk: int):
    return _render_registration(request, _registration_or_404(pk))


@registry_reader
@require_POST
def registration_change(request, pk: int):
    registration = _registration_or_404(pk)
    form = RegistrationChangeForm(request.POST)
    if not form.is_valid():
        return _render_registration(request, registration, status=400, change_form=form)
    try:
        changes = services.registration_change(
            actor=request.user, registration=registration, **form.cleaned_data
        )
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_registration(
            request, registration, status=_status_for(error), change_form=form
        )
    messages.success(
        request,
        _("Changed: %(fields)s. The change is kept in the history.")
        % {"fields": ", ".join(str(FIELD_LABELS[c.field]) for c in changes)},
    )
    return redirect(_registration_url(registration, "history"))


@registry_reader
@require_POST
def registration_annul(request, pk: int):
    registration = _registration_or_404(pk)
    form = RegistrationAnnulForm(request.POST)
    if not form.is_valid():
        return _render_registration(request, registration, status=400, annul_form=form)
    data = form.cleaned_data
    try:
        services.registration_annul(
            actor=request.user,
            registration=registration,
            reason=data["reason"],
            authorised_by=data["authorised_by"],
            authorising_act=data["authorising_act"],
        )
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_registration(
            request, registration, status=_status_for(error), annul_form=form
        )
    messages.success(
        request,
        _("%(label)s is annulled. It stays in the register with all its values, marked annulled.")
        % {"label": registration.label},
    )
    return redirect(_registration_url(registration))


# Documents of a registration -----------------------------------------------------------------


def _or_message(request, registration: Registration, produce):
    """A download, or back to the registration's page with the reason it failed."""
    try:
        return produce()
    except DomainError as error:
        messages.error(request, str(error))
        return redirect(_registration_url(registration))


@registry_reader
@require_GET
def registration_document(request, pk: int):
    registration = _registration_or_404(pk)

    def produce():
        data = registered_bytes(registration.document_file, registration.document_sha256)
        return download(
            data,
            f"{file_label(registration)}.pdf",
            PDF,
            sha256=registration.document_sha256,
        )

    return _or_message(request, registration, produce)


@registry_reader
@require_GET
def registration_attachment(request, pk: int, index: int):
    registration = _registration_or_404(pk)
    if not 0 <= index < len(registration.attachments):
        raise Http404(_("There is no such attachment."))
    attachment = registration.attachments[index]

    def produce():
        data = registered_bytes(attachment["file"], attachment["sha256"])
        return download(
            data,
            attachment["name"].replace('"', "'"),
            attachment.get("mime_type") or "application/octet-stream",
            sha256=attachment["sha256"],
        )

    return _or_message(request, registration, produce)


@registry_reader
@require_GET
def registration_segnatura(request, pk: int):
    registration = _registration_or_404(pk)
    if not registration.segnatura:
        raise Http404(_("This registration has no segnatura."))
    return download(
        registration.segnatura.encode("utf-8"),
        f"{file_label(registration)}-segnatura.xml",
        "application/xml; charset=utf-8",
    )


@registry_reader
@require_GET
def registration_receipt(request, pk: int):
    registration = _registration_or_404(pk)

    def produce():
        from registry.receipt import render_receipt

        return download(
            render_receipt(registration), f"{file_label(registration)}-ricevuta.pdf", PDF
        )

    return _or_message(request, registration, produce)


# Daily registers -----------------------------------------------------------------------------


def _overdue_days() -> list:
    """The days whose daily register is late for preservation (registry.daily.overdue)."""
    from registry import daily

    overdue = getattr(daily, "overdue", None)
    return list(overdue()) if overdue is not None else []


def _day_of(item) -> datetime.date:
    return item if isinstance(item, datetime.date) else item.day


def _render_daily(request, form=None, *, status: int = 200):
    today = services.rome_now().date()
    paginator = Paginator(selectors.daily_register_list(), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    can_keep = selectors.can_keep_registry(request.user)
    context = {
        "page_obj": page_obj,
        "today": today,
        "overdue": [_day_of(item) for item in _overdue_days()],
        "can_keep": can_keep,
    }
    if can_keep:
        context["form"] = form or DailyRegisterProduceForm(
            initial={"day": today - datetime.timedelta(days=1)}
        )
    return render(request, "registry/daily.html", context, status=status)


@registry_reader
@require_GET
def daily_list(request):
    return _render_daily(request)


@registry_reader
@require_POST
def daily_produce(request):
    form = DailyRegisterProduceForm(request.POST)
    if not form.is_valid():
        return _render_daily(request, form, status=400)
    day = form.cleaned_data["day"]
    try:
        produced = services.daily_register_produce(actor=request.user, day=day)
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_daily(request, form, status=_status_for(error))
    messages.success(
        request,
        _(
            "The daily register of %(day)s is produced (%(registrations)d registrations, "
            "%(annulments)d annulments, %(changes)d changes) and the day is closed."
        )
        % {
            "day": day.strftime("%d/%m/%Y"),
            "registrations": produced.registrations,
            "annulments": produced.annulments,
            "changes": produced.changes,
        },
    )
    return redirect(reverse("registry:daily"))


@registry_reader
@require_GET
def daily_file(request, day: str, fmt: str):
    try:
        parsed = datetime.date.fromisoformat(day)
    except ValueError:
        raise Http404(_("There is no daily register of this day.")) from None
    produced = DailyRegister.objects.filter(day=parsed).first()
    if produced is None:
        raise Http404(_("There is no daily register of this day."))
    if fmt == "pdf":
        name, sha256, content_type = produced.pdf_file, produced.pdf_sha256, PDF
    else:
        name, sha256 = produced.json_file, produced.json_sha256
        content_type = "application/json; charset=utf-8"
    try:
        data = registered_bytes(name, sha256)
    except DomainError as error:
        messages.error(request, str(error))
        return redirect(reverse("registry:daily"))
    return download(data, f"registro-giornaliero-{parsed.isoformat()}.{fmt}", content_type)
