"""Celery tasks of the audit log (stipula/celery.py): checkpoints, daily and after registrations.

Each task calls the same service the management command or the web process would.
"""

from celery import shared_task


@shared_task(name="audit.make_checkpoint")
def make_checkpoint(reason: str = "daily", covering: int | None = None) -> int:
    """Make a checkpoint (audit.checkpoints.checkpoint_make); returns its number."""
    from audit.checkpoints import checkpoint_make

    return checkpoint_make(actor=None, reason=reason, covering=covering).number


@shared_task(name="audit.run_export")
def run_export(job_id: int) -> str:
    """Make an export of the auditor's workspace (audit.jobs.run_export); returns its status."""
    from audit.jobs import run_export as run

    return run(job_id)
