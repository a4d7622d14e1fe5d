"""Sending deliveries: signed POSTs, retried with exponential backoff, every attempt logged.

A due delivery is claimed in a short transaction (its next attempt pushed past the time the
request may take, so another worker leaves it alone), sent outside any transaction, and its
attempt recorded in another. A worker that dies in between leaves the claim to expire: the
delivery is sent again (at least once; receivers tell repeats by ``X-Stipula-Delivery``).

After attempt n fails, the next is due ``STIPULA_WEBHOOK_BACKOFF_SECONDS * 2**(n-1)`` seconds
after it ended; after ``STIPULA_WEBHOOK_MAX_ATTEMPTS`` failed attempts the delivery has failed
(it can be sent again by hand: webhooks.services.delivery_redeliver). Only a 2xx answer counts
as delivered; redirects are not followed.
"""

import datetime
import http.client
import logging
import time
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from webhooks import signature
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.targets import check_resolved

logger = logging.getLogger(__name__)

USER_AGENT = "Stipula-Webhooks/1"
EXCERPT_BYTES = 1024
# Deliveries sent per run.
LIMIT = 100


def max_attempts() -> int:
    return max(1, int(settings.STIPULA_WEBHOOK_MAX_ATTEMPTS))


def backoff(attempt: int) -> datetime.timedelta:
    """How long after failed attempt number ``attempt`` (from 1) the next one is due."""
    return datetime.timedelta(seconds=settings.STIPULA_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1))


def _timeout() -> float:
    return float(settings.STIPULA_WEBHOOK_TIMEOUT_SECONDS)


@dataclass
class Outcome:
    started_at: datetime.datetime
    finished_at: datetime.datetime
    duration_ms: int
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _KeepErrors(urllib.request.HTTPErrorProcessor):
    """Hand back every answer as it is: no exception for 4xx/5xx, no redirects followed."""

    def http_response(self, request, response):
        return response

    https_response = http_response


_opener = urllib.request.build_opener(_KeepErrors)


def post(url: str, body: bytes, headers: dict) -> Outcome:
    """POST ``body`` to ``url``; never raises for network or HTTP errors."""
    started_at = timezone.now()
    clock = time.monotonic()
    status_code, error, excerpt = None, "", ""
    try:
        check_resolved(url)
        request = urllib.request.Request(  # noqa: S310 (http/https only: webhooks.targets)
            url, data=body, headers=headers, method="POST"
        )
        with _opener.open(request, timeout=_timeout()) as response:
            status_code = response.status
            excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException, ValueError) as problem:
        error = f"{type(problem).__name__}: {problem}"[:1000]
    duration = time.monotonic() - clock
    return Outcome(
        started_at=started_at,
        finished_at=started_at + datetime.timedelta(seconds=duration),
        duration_ms=int(duration * 1000),
        status_code=status_code,
        error=error,
        excerpt=excerpt,
    )


def headers_for(delivery: Delivery, secret: str, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Stipula-Event": delivery.event_type,
        "X-Stipula-Delivery": str(delivery.uuid),
        "X-Stipula-Timestamp": str(timestamp),
        "X-Stipula-Signature": signature.sign(secret, timestamp, delivery.body.encode()),
    }


@dataclass
class DeliveryRun:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0


@transaction.atomic(durable=True)
def _claim(limit: int, now: datetime.datetime) -> list[Delivery]:
    due = Delivery.objects.filter(
        status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    claimed = list(due.select_related("subscription")[:limit])
    if claimed:
        # Long enough for the request (and the others of this run) to be made.
        until = timezone.now() + datetime.timedelta(seconds=_timeout() * (len(claimed) + 1) + 60)
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(next_attempt_at=until)
    return claimed


def deliver_due(*, limit: int = LIMIT, now: datetime.datetime | None = None) -> DeliveryRun:
    """Send every delivery whose next attempt is due at ``now`` (default: now), ``limit`` at
    most."""
    run = DeliveryRun()
    for delivery in _claim(limit, now or timezone.now()):
        status = attempt(delivery)
        if status == Delivery.Status.DELIVERED:
            run.delivered += 1
        elif status == Delivery.Status.FAILED:
            run.failed += 1
        elif status == Delivery.Status.CANCELLED:
            run.cancelled += 1
        else:
            run.retrying += 1
    return run


def attempt(delivery: Delivery) -> str:
    """Make one attempt of ``delivery`` (claimed) and record it; returns its new status."""
    subscription = delivery.subscription
    if subscription.deleted_at is not None or not subscription.active:
        Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.CANCELLED, next_attempt_at=None
        )
        return Delivery.Status.CANCELLED
    try:
        secret = subscription.secret
    except ValueError as problem:
        now = timezone.now()
        outcome = Outcome(now, now, 0, error=f"The secret cannot be read: {problem}")
    else:
        timestamp = int(time.time())
        body = delivery.body.encode()
        outcome = post(subscription.url, body, headers_for(delivery, secret, timestamp))
    return _record(delivery, subscription.url, outcome)


@transaction.atomic(durable=True)
def _record(delivery: Delivery, url: str, outcome: Outcome) -> str:
    locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
    number = (locked.attempt_log.aggregate(n=Max("number"))["n"] or 0) + 1
    DeliveryAttempt.objects.create(
        delivery=locked,
        number=number,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        duration_ms=outcome.duration_ms,
        url=url,
        status_code=outcome.status_code,
        success=outcome.success,
        error=outcome.error,
        response_excerpt=outcome.excerpt,
    )
    if locked.status != Delivery.Status.PENDING:
        # Cancelled meanwhile (subscription deleted): the attempt is logged, the status stays.
        return locked.status
    locked.attempts += 1
    if outcome.success:
        locked.status = Delivery.Status.DELIVERED
        locked.delivered_at = outcome.finished_at
        locked.next_attempt_at = None
    elif locked.attempts >= max_attempts():
        locked.status = Delivery.Status.FAILED
        locked.next_attempt_at = None
        logger.warning(
            "Webhook delivery %s to %s failed after %d attempts", locked.uuid, url, locked.attempts
        )
    else:
        locked.next_attempt_at = outcome.finished_at + backoff(locked.attempts)
    locked.save(update_fields=["attempts", "status", "delivered_at", "next_attempt_at"])
    return locked.status
