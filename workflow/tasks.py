"""Celery tasks (stipula/celery.py): e-mail delivery and the periodic deadline job.

Each task calls the same function the web process or the management command would, so the
result does not depend on where it runs.
"""

from celery import shared_task


@shared_task(name="workflow.deliver_mail")
def deliver_mail(mails: list[dict]) -> int:
    from workflow.notifications import deliver

    return deliver(mails)


@shared_task(name="workflow.deliver_transition_mail")
def deliver_transition_mail(snapshot: dict, recipient_ids: list[int]) -> int:
    from agreements.notifications import deliver_transition_mail_now

    return deliver_transition_mail_now(snapshot, recipient_ids)


@shared_task(name="workflow.run_deadlines")
def run_deadlines() -> dict:
    from workflow.deadlines import run_deadlines as run

    result = run()
    return {"reminded": result.reminded, "escalated": result.escalated}
