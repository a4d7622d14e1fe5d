"""The JSON bodies of deliveries. A body is made once, stored, and sent as is on every attempt,
so that its signature and its ``id`` stay the same when it is retried or sent again."""

import json

from django.utils import timezone

from audit.chain import format_time
from webhooks.models import PING, EventType


def encode(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def state_changed_body(*, delivery, event, agreement_id, subject, before, after) -> str:
    return encode(
        {
            "id": str(delivery.uuid),
            "event": EventType.STATE_CHANGED.value,
            "agreement": {
                "id": agreement_id,
                "subject": subject,
                "state": after,
                "previous_state": before,
            },
            "audit_event": {"seq": event.seq, "hash": event.hash, "action": event.action},
            "occurred_at": format_time(event.created_at),
        }
    )


def ping_body(*, delivery, subscription) -> str:
    return encode(
        {
            "id": str(delivery.uuid),
            "event": PING,
            "subscription": {
                "id": subscription.pk,
                "organisation": subscription.organisation_id,
                "url": subscription.url,
            },
            "occurred_at": format_time(timezone.now()),
        }
    )
