"""Exports of the audit log made in the background, with their progress (issue 7).

An export asked for in the workspace (audit.auditor.export_request) becomes an ``ExportJob`` row;
once that commits, :func:`dispatch` runs it: in a Celery worker when ``STIPULA_NOTIFY_ASYNC`` is on
(task ``audit.run_export``), otherwise in a background thread of the web process. The job writes the
file with audit.exports.export_to (constant memory, CSV, JSON Lines or PDF), stores its progress on
the row every so often (the page polls it), and leaves the file under ``STIPULA_DATA_DIR/exports``
with its SHA-256. An audit bundle (audit.bundle.bundle_write) is made the same way. The writers
record the export as the requester's AUDIT_EXPORTED (or AUDIT_BUNDLE_EXPORTED) event.
"""

import logging
import os
import secrets
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from audit.models import ExportJob

log = logging.getLogger(__name__)

# How often, at most, a running job writes its progress to the database.
PROGRESS_EVERY_SECONDS = 0.5
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "pdf": "pdf", "bundle": "zip"}


def export_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def export_path(job: ExportJob) -> Path:
    """Where a finished job's file is; never outside export_dir()."""
    base = export_dir().resolve()
    path = (base / job.file).resolve()
    if not job.file or base not in path.parents:
        raise FileNotFoundError(job.file)
    return path


def dispatch(job_id: int):
    """Run the job after its row committed: a Celery task, or a thread of this process."""
    if settings.STIPULA_NOTIFY_ASYNC:
        from audit.tasks import run_export

        run_export.delay(job_id)
        return None
    worker = threading.Thread(
        target=_run_in_thread, args=(job_id,), name=f"audit-export-{job_id}", daemon=True
    )
    worker.start()
    return worker


def _run_in_thread(job_id: int) -> None:
    try:
        run_export(job_id)
    finally:
        # The thread's own database connection, which nothing else will close.
        connections.close_all()


def _progress(job_id: int):
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done and done < total and now - last < PROGRESS_EVERY_SECONDS:
            return
        last = now
        ExportJob.objects.filter(pk=job_id).update(done=done, total=total)

    return progress


def run_export(job_id: int) -> str:
    """Make the export of job ``job_id`` once (a second call finds it taken); returns its status."""

    started = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.PENDING).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now()
    )
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    if not started:
        return job.status
    folder = export_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{job.pk}-{secrets.token_hex(8)}.{EXTENSIONS[job.format]}"
    partial = folder / f".{name}.part"
    try:
        with partial.open("wb") as handle:
            rows, sha256, size = _write(job, handle)
        os.replace(partial, folder / name)
    except Exception as error:
        log.exception("audit export %s failed", job_id)
        partial.unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJob.Status.FAILED, error=str(error), finished_at=timezone.now()
        )
        return ExportJob.Status.FAILED
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportJob.Status.DONE,
        done=rows,
        total=rows,
        file=name,
        sha256=sha256,
        size=size,
        finished_at=timezone.now(),
    )
    return ExportJob.Status.DONE


def _write(job: ExportJob, handle) -> tuple[int, str, int]:
    """Write the job's file with the core's writers, which record the export as the requester's
    AUDIT_EXPORTED or AUDIT_BUNDLE_EXPORTED event; returns (events, SHA-256, size)."""
    from audit.auditor import bundle_scope, event_filter

    if job.format == ExportJob.Format.BUNDLE:
        from audit.bundle import bundle_write

        bundle = bundle_write(
            handle, actor=job.requested_by, progress=_progress(job.pk), **bundle_scope(job.filters)
        )
        return bundle.events, bundle.sha256, bundle.size
    from audit.exports import export_to

    result = export_to(
        handle,
        job.format,
        event_filter(job.filters, until_seq=job.until_seq),
        actor=job.requested_by,
        progress=_progress(job.pk),
    )
    return result.rows, result.sha256, result.size
