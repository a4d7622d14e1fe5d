"""The auditor's workspace: what auditors read, and the record that they read it (issue 7).

Auditors (and administrators) read the whole log and change nothing. Each view of the log, of a
timeline, of the chain's verification, each procedure report, export and audit bundle is itself
recorded as an audit event, by the services below, in a transaction of its own:

- ``audit.viewed`` (AUDIT_VIEWED): a page of the log with its selection, an agreement's timeline,
  a verification of the chain;
- ``audit.procedure_report`` (PROCEDURE_REPORT_VIEWED): a procedure verification report produced,
  with its outcome, in the page or as PDF/JSON;
- ``audit.exported`` (AUDIT_EXPORTED): an export made, with its selection, rows and the file's
  SHA-256 (recorded by audit.exports.export_to when the background job finishes, as its
  requester), and each download of the file;
- ``audit.bundle_exported`` (AUDIT_BUNDLE_EXPORTED): an audit bundle made, with its SHA-256
  (recorded by audit.bundle.bundle_write).

What the workspace polls (an export's progress) is not recorded: it shows nothing of the log.
These events carry no ``agreement_id``, so that an agreement's own trail holds its procedure only;
the agreement an auditor looked at is in the event's object and payload.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from agreements.roles import Role, user_roles
from audit.models import AuditAction, AuditChainHead, AuditEvent, ExportJob
from audit.selectors import ChainStatus, verify_chain
from audit.services import audited_refusals, record_event
from stipula.errors import NotFound, PermissionDenied, TransitionNotAllowed
from stipula.transactions import after_commit

ROME = ZoneInfo("Europe/Rome")
READER_ROLES = frozenset({Role.AUDITOR.value, Role.ADMINISTRATOR.value})
CHAIN_STATUS_KEY = "audit:chain-status"


def can_audit(user) -> bool:
    """Auditors and administrators read the audit log."""
    return bool(user_roles(user) & READER_ROLES)


def _role(actor) -> str:
    roles = user_roles(actor)
    return Role.AUDITOR.value if Role.AUDITOR.value in roles else Role.ADMINISTRATOR.value


def _require_reader(actor) -> None:
    if actor is None or not can_audit(actor):
        raise PermissionDenied(_("Only auditors and administrators read the audit log."))


# The selection -----------------------------------------------------------------------------


def _day_start(value: str) -> datetime.datetime | None:
    day = parse_date(value) if value else None
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=ROME) if day else None


def select_events(criteria: dict, *, until_seq: int | None = None) -> QuerySet[AuditEvent]:
    """The events of the selection ``criteria`` (audit.forms.AuditFilterForm.criteria()), newest
    first; with ``until_seq``, only the events the log held then. The same selection as
    ``event_filter`` gives the exports (the workspace's tests hold the two together)."""
    events = AuditEvent.objects.order_by("-seq")
    if until_seq is not None:
        events = events.filter(seq__lte=until_seq)
    if criteria.get("agreement"):
        events = events.filter(agreement_id=int(criteria["agreement"]))
    if criteria.get("actor"):
        events = events.filter(actor_username=criteria["actor"])
    if criteria.get("action"):
        events = events.filter(action=criteria["action"])
    start = _day_start(criteria.get("date_from", ""))
    if start is not None:
        events = events.filter(created_at__gte=start)
    end = _day_start(criteria.get("date_to", ""))
    if end is not None:
        events = events.filter(created_at__lt=end + datetime.timedelta(days=1))
    return events


def event_filter(criteria: dict, *, until_seq: int | None = None):
    """The selection ``criteria`` as the exports take it (audit.exports.EventFilter)."""
    from audit.exports import EventFilter

    return EventFilter(
        agreement_id=int(criteria["agreement"]) if criteria.get("agreement") else None,
        actor_username=criteria.get("actor", ""),
        actions=(criteria["action"],) if criteria.get("action") else (),
        date_from=parse_date(criteria["date_from"]) if criteria.get("date_from") else None,
        date_to=parse_date(criteria["date_to"]) if criteria.get("date_to") else None,
        max_seq=until_seq,
    )


def head_seq() -> int:
    """The number of the last event written (0 for an empty log)."""
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    if head is None:
        head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return head or 0


# Chain status and checkpoint ---------------------------------------------------------------


@dataclass(frozen=True)
class KnownChainStatus:
    """The latest verification of the chain: when it ran and what it found."""

    status: ChainStatus
    checked_at: datetime.datetime


def known_chain_status() -> KnownChainStatus | None:
    """The result of the latest verification in this deployment's cache (None if there is none):
    verifying the whole chain reads every event, so pages show the latest result and verify on
    request (``chain_verify``)."""
    return cache.get(CHAIN_STATUS_KEY)


def _remember(status: ChainStatus) -> None:
    cache.set(CHAIN_STATUS_KEY, KnownChainStatus(status, timezone.now()), timeout=None)


def verified_chain() -> ChainStatus:
    status = verify_chain()
    _remember(status)
    return status


def latest_checkpoint():
    """The latest checkpoint (audit.checkpoints), or None when none was made yet."""
    from audit.checkpoints import latest_checkpoint as latest

    return latest()


# Events of the workspace (one helper per type) ---------------------------------------------


def _viewed(*, actor, what: str, payload: dict, agreement_id: int | None = None) -> AuditEvent:
    return record_event(
        actor=actor,
        action=AuditAction.AUDIT_VIEWED,
        object_type="agreements.agreement" if agreement_id else "audit.auditevent",
        object_id=str(agreement_id or ""),
        role=_role(actor),
        payload={"what": what, **payload},
    )


def _report_produced(*, actor, report, fmt: str) -> AuditEvent:
    payload = {
        "format": fmt,
        "status": str(report.status),
        "agreements": {
            str(item.agreement_id): {
                "status": str(item.status),
                "failed": [check.code for check in item.failed],
            }
            for item in report.agreements
        },
        "chain": {"ok": report.chain.ok, "events": report.chain.count},
    }
    if report.is_period:
        payload["period"] = {"from": report.date_from.isoformat(), "to": report.date_to.isoformat()}
    single = report.agreements[0].agreement_id if not report.is_period else None
    return record_event(
        actor=actor,
        action=AuditAction.PROCEDURE_REPORT_VIEWED,
        object_type="agreements.agreement" if single else "",
        object_id=str(single or ""),
        role=_role(actor),
        payload=payload,
    )


def _downloaded(*, actor, job: ExportJob) -> AuditEvent:
    return record_event(
        actor=actor,
        action=AuditAction.AUDIT_EXPORTED,
        obj=job,
        role=_role(actor),
        payload={
            "stage": "downloaded",
            "format": job.format,
            "selection": job.filters,
            "until_seq": job.until_seq,
            "rows": job.done,
            "requested_by": job.requested_by.get_username(),
        },
        documents=[{"name": download_name(job), "sha256": job.sha256}],
    )


# Services ----------------------------------------------------------------------------------


@audited_refusals("audit.view")
@transaction.atomic(durable=True)
def log_viewed(*, actor, what: str, payload: dict | None = None, agreement_id=None) -> None:
    """Record that ``actor`` viewed ``what`` (``log``, ``timeline``, ``chain``, ``exports``)."""
    _require_reader(actor)
    _viewed(actor=actor, what=what, payload=payload or {}, agreement_id=agreement_id)


@audited_refusals("audit.verify_chain")
def chain_verify(*, actor) -> ChainStatus:
    """Verify the whole chain now (RULES.md A2) and record that ``actor`` did."""
    _require_reader(actor)
    status = verified_chain()
    with transaction.atomic(durable=True):
        _viewed(
            actor=actor,
            what="chain",
            payload={
                "ok": status.ok,
                "events": status.count,
                "first_bad_seq": status.first_bad_seq,
            },
        )
    return status


@audited_refusals("audit.procedure_report")
def procedure_report_produce(
    *,
    actor,
    agreement_id: int | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    fmt: str = "html",
):
    """The procedure verification report (audit.procedure) for one agreement or a period, and
    the record that ``actor`` produced it. The checks read the whole chain, outside any
    transaction; the record is written once the report is made."""
    from agreements.models import Agreement
    from audit import procedure

    _require_reader(actor)
    if agreement_id is not None:
        if not Agreement.objects.filter(pk=agreement_id).exists():
            raise NotFound(_("There is no agreement no. %(number)d.") % {"number": agreement_id})
        report = procedure.procedure_report(agreement_id)
    else:
        report = procedure.period_report(date_from, date_to)
    _remember(
        ChainStatus(
            report.chain.ok,
            report.chain.count,
            report.chain.head_hash,
            report.chain.first_bad_seq,
            report.chain.problem,
        )
    )
    with transaction.atomic(durable=True):
        _report_produced(actor=actor, report=report, fmt=fmt)
    return report


@audited_refusals("audit.export")
@transaction.atomic(durable=True)
def export_request(*, actor, fmt: str, criteria: dict) -> ExportJob:
    """Ask for an export of the selection ``criteria`` as ``fmt``: the job runs in the background
    once this transaction commits (audit.jobs.dispatch), over the log as it stands now. The export
    is recorded when it is made (audit.exports.export_to), and each download when it happens."""
    _require_reader(actor)
    if fmt not in ExportJob.Format.values:
        raise TransitionNotAllowed(_("Choose CSV, JSON Lines, PDF or an audit bundle."))
    job = ExportJob.objects.create(
        requested_by=actor, format=fmt, filters=criteria, until_seq=head_seq()
    )
    from audit.jobs import dispatch

    after_commit(dispatch, job.pk)
    return job


def may_download(job: ExportJob, user) -> bool:
    """Only the requester and administrators get an export's file."""
    if user is None or not user.is_authenticated:
        return False
    return job.requested_by_id == user.pk or may_see_all_exports(user)


def may_see_all_exports(user) -> bool:
    return Role.ADMINISTRATOR.value in user_roles(user)


def download_name(job: ExportJob) -> str:
    local = timezone.localtime(job.requested_at, ROME) if job.requested_at else timezone.now()
    if job.format == ExportJob.Format.BUNDLE:
        return f"stipula-audit-bundle-{local:%Y%m%d-%H%M%S}-{job.pk}.zip"
    extension = {"csv": "csv", "jsonl": "jsonl", "pdf": "pdf"}[job.format]
    return f"stipula-audit-{local:%Y%m%d-%H%M%S}-{job.pk}.{extension}"


@audited_refusals("audit.export_download")
@transaction.atomic(durable=True)
def export_download(*, actor, job: ExportJob) -> ExportJob:
    """Give ``actor`` the file of a finished export, and record the download with its hash."""
    _require_reader(actor)
    if not may_download(job, actor):
        raise PermissionDenied(_("Only who asked for this export, or an administrator, gets it."))
    job = ExportJob.objects.select_related("requested_by").get(pk=job.pk)
    if job.status != ExportJob.Status.DONE:
        raise TransitionNotAllowed(_("The export is not ready yet: wait for it to finish."))
    _downloaded(actor=actor, job=job)
    return job


def bundle_name(criteria: dict) -> str:
    stamp = timezone.localtime(timezone.now(), ROME).strftime("%Y%m%d-%H%M%S")
    if criteria.get("agreement"):
        return f"stipula-audit-bundle-agreement-{criteria['agreement']}-{stamp}.zip"
    return f"stipula-audit-bundle-{stamp}.zip"


@audited_refusals("audit.bundle")
def bundle_export(*, actor, agreement_id: int, target) -> tuple[str, str]:
    """Write the audit bundle of one agreement (audit.bundle) into the binary file ``target``;
    the bundle records AUDIT_BUNDLE_EXPORTED as ``actor``. Returns (file name, SHA-256). A
    bundle of a wider selection is an export job (``export_request`` with format «bundle»)."""
    from audit.bundle import bundle_write

    _require_reader(actor)
    result = bundle_write(target, actor=actor, agreement_id=agreement_id)
    return bundle_name({"agreement": agreement_id}), result.sha256


def bundle_scope(criteria: dict) -> dict:
    """What of the selection a bundle takes: the agreement and the days (a bundle holds whole
    stretches of the log with their proofs, not a choice of actors or actions)."""
    scope = {}
    if criteria.get("agreement"):
        scope["agreement_id"] = int(criteria["agreement"])
    if criteria.get("date_from"):
        scope["date_from"] = parse_date(criteria["date_from"])
    if criteria.get("date_to"):
        scope["date_to"] = parse_date(criteria["date_to"])
    return scope
