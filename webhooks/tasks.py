"""Celery tasks of the webhooks (stipula/celery.py), run by beat; ``manage.py webhooks_dispatch``
does the same from any scheduler."""

from celery import shared_task


@shared_task(name="webhooks.dispatch")
def dispatch() -> dict:
    """Turn new audit events into deliveries, then send the deliveries that are due."""
    from webhooks.delivery import deliver_due
    from webhooks.dispatch import dispatch_events

    made = dispatch_events()
    sent = deliver_due()
    return {
        "deliveries_made": made.deliveries,
        "cursor": made.cursor,
        "delivered": sent.delivered,
        "retrying": sent.retrying,
        "failed": sent.failed,
    }
