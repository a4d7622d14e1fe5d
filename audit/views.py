"""The auditor's workspace (issue 7): the log searched and filtered, a timeline per agreement, the
chain's status and the latest checkpoint, procedure verification reports, exports and bundles.

Auditors and administrators read; nothing here changes the procedure. Every view of the log, of a
report, and every export is recorded by the services of audit.auditor, which the views call. Other
users are refused (403) by the site's permission of the application (stipula/site.py) before any
view runs; the views and the services check again, and the services record a refused attempt.
The one POST that writes (an export asked for) creates a background job and its record.
URL names: ``auditlog:*`` (stipula/site.py, AuditLogApp).
"""

import json
import tempfile

from django.contrib.auth.decorators import login_required
from django.core import exceptions
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements.models import Agreement, AgreementState
from agreements.selectors import timeline
from agreements.views import lifecycle
from audit import auditor, jobs
from audit.forms import AuditFilterForm, ExportForm, PeriodForm
from audit.models import AuditAction, AuditEvent, ExportJob
from stipula.errors import DomainError, NotFound
from stipula.errors import PermissionDenied as DomainPermissionDenied

PAGE_SIZE = 50
RECENT_EXPORTS = 5


def _refuse(error: DomainError):
    raise exceptions.PermissionDenied(str(error)) from error


def _reader(view):
    """Signed-in auditors and administrators only; others get 403 (their attempt is recorded by
    the service the view calls, or here for the pages that call none)."""

    @login_required
    def wrapped(request, *args, **kwargs):
        if not auditor.can_audit(request.user):
            try:
                auditor.log_viewed(actor=request.user, what=view.__name__)
            except DomainError as error:
                _refuse(error)
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _common(request, status=None) -> dict:
    """What every page of the workspace shows: the chain's status (``status`` when the page just
    verified it, else the latest verification known) and the latest checkpoint."""
    known = auditor.known_chain_status()
    return {
        "known_chain": known,
        "chain_result": status or (known.status if known else None),
        "just_verified": status is not None,
        "checkpoint": auditor.latest_checkpoint(),
        "head_seq": auditor.head_seq(),
    }


# The log -------------------------------------------------------------------------------------


@require_GET
@_reader
def workspace(request):
    """The log, newest first, searched and filtered; the chain status; the exports."""
    filters = AuditFilterForm(request.GET or None)
    criteria = filters.criteria()
    # A selection with errors lists nothing rather than the whole log.
    events = AuditEvent.objects.none() if filters.errors else auditor.select_events(criteria)
    paginator = Paginator(events, PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    auditor.log_viewed(
        actor=request.user,
        what="log",
        payload={"selection": criteria, "page": page_obj.number},
    )
    recent = ExportJob.objects.filter(requested_by=request.user)[:RECENT_EXPORTS]
    return render(
        request,
        "audit/workspace.html",
        {
            **_common(request),
            "filters": filters,
            "criteria": criteria,
            "page_obj": page_obj,
            "timeline": timeline(page_obj.object_list),
            "export_form": ExportForm(),
            "recent_exports": recent,
        },
    )


@require_GET
@_reader
def chain(request):
    """Verify the whole chain now and show the result with the latest checkpoint."""
    status = auditor.chain_verify(actor=request.user)
    return render(request, "audit/chain.html", _common(request, status))


# Timeline ------------------------------------------------------------------------------------


def _state(payload: dict, moment: str) -> str | None:
    """The state a transition event records ``before`` or ``after`` it, if any."""
    value = payload.get(moment)
    return value.get("state") if isinstance(value, dict) else None


def _kind(event: AuditEvent, after: str | None) -> str:
    """How the timeline draws an event."""
    if event.action == AuditAction.ACTION_REFUSED:
        return "refused"
    if after:
        return "transition"
    family = event.action.split(".", 1)[0]
    return {
        "signing": "signature",
        "registry": "registry",
        "workflow": "workflow",
        "negotiation": "negotiation",
        "audit": "audit",
    }.get(family, "step")


@require_GET
@_reader
def agreement_timeline(request, pk: int):
    """One agreement's whole trail as a timeline, with its lifecycle."""
    agreement = Agreement.objects.filter(pk=pk).select_related("legal_officer").first()
    if agreement is None:
        raise Http404(_("There is no such agreement."))
    auditor.log_viewed(actor=request.user, what="timeline", agreement_id=agreement.pk)
    events = list(AuditEvent.objects.filter(agreement_id=agreement.pk).order_by("seq"))
    steps, exit_step = lifecycle(agreement, events)
    states = dict(AgreementState.choices)
    entries = []
    for entry in timeline(events):
        payload = entry.event.payload_data
        before, after = _state(payload, "before"), _state(payload, "after")
        entries.append(
            {
                "entry": entry,
                "kind": _kind(entry.event, after),
                "before": before,
                "before_label": states.get(before, before),
                "after": after,
                "after_label": states.get(after, after),
                "documents": entry.event.document_list,
            }
        )
    return render(
        request,
        "audit/timeline.html",
        {
            **_common(request),
            "agreement": agreement,
            "steps": steps,
            "exit_step": exit_step,
            "entries": entries,
        },
    )


@require_POST
@_reader
def agreement_bundle(request, pk: int):
    """The audit bundle of one agreement's events, to verify offline (audit.bundle)."""
    if not Agreement.objects.filter(pk=pk).exists():
        raise Http404(_("There is no such agreement."))
    target = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    try:
        name, _sha256 = auditor.bundle_export(actor=request.user, agreement_id=pk, target=target)
    except DomainPermissionDenied as error:
        target.close()
        _refuse(error)
    except DomainError as error:
        target.close()
        return _error_page(request, error)
    target.seek(0)
    return FileResponse(target, as_attachment=True, filename=name, content_type="application/zip")


def _error_page(request, error: DomainError, status: int = 409):
    return render(request, "audit/error.html", {"message": str(error)}, status=status)


# Procedure verification reports ------------------------------------------------------------

FORMATS = {"pdf", "json"}


def _report_response(request, report, fmt: str, name: str):
    from audit.procedure import report_pdf

    if fmt == "json":
        response = HttpResponse(report.to_json(), content_type="application/json; charset=utf-8")
        extension = "json"
    else:
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
        extension = "pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    return response


def _produce(request, **kwargs):
    try:
        return auditor.procedure_report_produce(actor=request.user, **kwargs)
    except NotFound as error:
        raise Http404(str(error)) from error
    except DomainPermissionDenied as error:
        _refuse(error)


@require_GET
@_reader
def procedure_agreement(request, pk: int, fmt: str = "html"):
    """The procedure verification report of one agreement: the page, its PDF or its JSON."""
    report = _produce(request, agreement_id=pk, fmt=fmt)
    if fmt in FORMATS:
        return _report_response(request, report, fmt, f"stipula-procedure-{pk}")
    return render(
        request,
        "audit/procedure.html",
        {
            **_common(request),
            "report": report,
            "pdf_url": reverse("auditlog:procedure_pdf", args=[pk]),
            "json_url": reverse("auditlog:procedure_json", args=[pk]),
            "period_form": PeriodForm(),
        },
    )


@require_GET
@_reader
def procedure_period(request, fmt: str = "html"):
    """The procedure verification report of every agreement concluded in a period."""
    form = PeriodForm(request.GET or None)
    report = None
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        report = _produce(request, date_from=start, date_to=end, fmt=fmt)
        if fmt in FORMATS:
            return _report_response(
                request, report, fmt, f"stipula-procedure-{start:%Y%m%d}-{end:%Y%m%d}"
            )
    elif fmt in FORMATS:
        return redirect(f"{reverse('auditlog:procedure_period')}?{request.GET.urlencode()}")
    query = request.GET.urlencode()
    return render(
        request,
        "audit/procedure.html",
        {
            **_common(request),
            "report": report,
            "period_form": form,
            "pdf_url": f"{reverse('auditlog:procedure_period_pdf')}?{query}",
            "json_url": f"{reverse('auditlog:procedure_period_json')}?{query}",
        },
    )


# Exports -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@_reader
def exports(request):
    """GET: the user's exports (all of them for an administrator). POST: export the selection."""
    if request.method == "POST":
        form = ExportForm(request.POST)
        filters = AuditFilterForm(request.POST)
        if form.is_valid() and filters.is_valid():
            try:
                job = auditor.export_request(
                    actor=request.user,
                    fmt=form.cleaned_data["format"],
                    criteria=filters.criteria(),
                )
            except DomainPermissionDenied as error:
                _refuse(error)
            except DomainError as error:
                return _error_page(request, error)
            return redirect("auditlog:export", pk=job.pk)
        return _error_page(
            request, DomainError(_("The export request was incomplete: choose a format.")), 400
        )
    jobs_list = ExportJob.objects.select_related("requested_by")
    if not auditor.may_see_all_exports(request.user):
        jobs_list = jobs_list.filter(requested_by=request.user)
    paginator = Paginator(jobs_list, PAGE_SIZE)
    return render(
        request,
        "audit/exports.html",
        {**_common(request), "page_obj": paginator.get_page(request.GET.get("page"))},
    )


def _job_or_404(request, pk: int) -> ExportJob:
    job = ExportJob.objects.select_related("requested_by").filter(pk=pk).first()
    # Someone else's export answers as if it did not exist.
    if job is None or not auditor.may_download(job, request.user):
        raise Http404(_("There is no such export, or it is not yours."))
    return job


def _status(job: ExportJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "finished": job.finished,
        "error": job.error,
        "download_url": reverse("auditlog:export_download", args=[job.pk])
        if job.status == ExportJob.Status.DONE
        else "",
        "sha256": job.sha256,
        "size": job.size,
    }


@require_GET
@_reader
def export_detail(request, pk: int):
    """One export with its progress bar (updated by polling ``export_status``)."""
    job = _job_or_404(request, pk)
    return render(
        request,
        "audit/export.html",
        {
            **_common(request),
            "job": job,
            "status_json": json.dumps(_status(job)),
            "selection": sorted(job.filters.items()),
        },
    )


@require_GET
@_reader
def export_status(request, pk: int):
    """The progress of an export, for the page's poll. Not recorded: it shows nothing of the log."""
    return JsonResponse(_status(_job_or_404(request, pk)))


@require_GET
@_reader
def export_download(request, pk: int):
    job = _job_or_404(request, pk)
    try:
        job = auditor.export_download(actor=request.user, job=job)
    except DomainPermissionDenied as error:
        _refuse(error)
    except DomainError as error:
        return _error_page(request, error)
    try:
        handle = jobs.export_path(job).open("rb")
    except FileNotFoundError:
        raise Http404(_("The file of this export is missing from the storage.")) from None
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "jsonl": "application/x-ndjson",
        "pdf": "application/pdf",
        "bundle": "application/zip",
    }[job.format]
    return FileResponse(
        handle,
        as_attachment=True,
        filename=auditor.download_name(job),
        content_type=content_type,
    )
