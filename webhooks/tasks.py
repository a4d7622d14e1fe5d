"""Celery tasks of the webhooks (stipula/celery.py), run by beat; ``manage.py webhooks_dispatch``
does the same from any scheduler. With a Celery worker (``STIPULA_NOTIFY_ASYNC``), a change of
an agreement's state also asks for a dispatch as soon as its transaction commits, so that the
parties' systems hear of it at once rather than at the next beat."""

import logging

from celery import shared_task
from django.conf import settings

from stipula.transactions import after_commit

logger = logging.getLogger(__name__)


def dispatch_soon(sender, **kwargs) -> None:
    """Receiver of agreements.events.state_changed: a dispatch after the commit of the
    transaction (none if it rolls back; a dispatch finding nothing new does nothing). Without a
    worker, beat or ``manage.py webhooks_dispatch --loop`` sends the deliveries."""
    if settings.STIPULA_NOTIFY_ASYNC:
        after_commit(_enqueue)


def _enqueue() -> None:
    try:
        dispatch.delay()
    except Exception:  # noqa: BLE001 - the broker down delays the delivery, it loses nothing
        logger.warning("Could not queue a webhook dispatch; beat will send it", exc_info=True)


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
