"""From the audit trail to deliveries: the audit log is the outbox.

Every state change of an agreement writes its audit event in the same transaction
(RULES.md A5), and events commit in sequence order, gapless. The dispatcher reads the events
after its cursor (``DispatchCursor.seq``), picks the agreement state changes (the events whose
payload records ``before`` and ``after`` states: every transition goes through
``agreements.events.agreement_transitioned``) and makes one ``Delivery`` per matching
subscription of each party organisation of the agreement, then moves the cursor, all in one
transaction. If a process stops anywhere, either nothing happened or the deliveries and the
cursor's move are both there; running it twice makes no second delivery (the cursor, and the
unique (subscription, audit event) constraint).

A subscription hears of the agreements its organisation is a party to when the dispatcher reads
the event (parties are only ever added, while the agreement is drafted or negotiated), and only
of events after it was made (``since_seq``).
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction

from agreements.models import Agreement, AgreementParty
from agreements.transitions import TRANSITIONS
from audit.models import AuditAction, AuditEvent
from webhooks import payloads
from webhooks.models import Delivery, EventType, Subscription
from webhooks.services import last_audit_seq, lock_cursor

# Events read per transaction.
BATCH = 1000

# The actions that record a transition; the payload says from which state to which.
STATE_CHANGE_ACTIONS = sorted(
    {info.action.value for info in TRANSITIONS.values()} | {AuditAction.DECLINED_TO_SIGN.value}
)


@dataclass
class DispatchResult:
    events: int = 0  # state changes read
    deliveries: int = 0  # deliveries made
    cursor: int = 0  # the last event read


def _state(payload: dict, moment: str) -> str | None:
    value = payload.get(moment)
    return value.get("state") if isinstance(value, dict) else None


def state_change(event: AuditEvent) -> tuple[str, str] | None:
    """(before, after) if ``event`` records a change of an agreement's state."""
    if event.agreement_id is None:
        return None
    payload = event.payload_data
    before, after = _state(payload, "before"), _state(payload, "after")
    if before and after and before != after:
        return before, after
    return None


def dispatch_events(*, batch: int = BATCH) -> DispatchResult:
    """Read every audit event not read yet and make their deliveries, ``batch`` events per
    transaction."""
    result = DispatchResult()
    while True:
        more = _dispatch_batch(result, batch)
        if not more:
            return result


@transaction.atomic(durable=True)
def _dispatch_batch(result: DispatchResult, batch: int) -> bool:
    cursor = lock_cursor()
    last = last_audit_seq()
    subscriptions = list(Subscription.objects.live().filter(active=True))
    if not subscriptions:
        # Nobody listens: what happened so far concerns no future subscription (since_seq).
        cursor.seq = max(cursor.seq, last)
        cursor.save(update_fields=["seq", "updated_at"])
        result.cursor = cursor.seq
        return False
    start = max(cursor.seq, min(s.since_seq for s in subscriptions))
    upto = min(last, start + batch)
    changes = []
    events = AuditEvent.objects.filter(
        seq__gt=start,
        seq__lte=upto,
        agreement_id__isnull=False,
        action__in=STATE_CHANGE_ACTIONS,
    ).order_by("seq")
    for event in events:
        change = state_change(event)
        if change is not None:
            changes.append((event, *change))
    if changes:
        result.events += len(changes)
        result.deliveries += _make_deliveries(changes, subscriptions)
    cursor.seq = max(cursor.seq, upto)
    cursor.save(update_fields=["seq", "updated_at"])
    result.cursor = cursor.seq
    return upto < last


def _make_deliveries(changes, subscriptions) -> int:
    agreement_ids = {event.agreement_id for event, _b, _a in changes}
    parties = defaultdict(set)
    for agreement_id, organisation_id in AgreementParty.objects.filter(
        agreement_id__in=agreement_ids
    ).values_list("agreement_id", "organisation_id"):
        parties[agreement_id].add(organisation_id)
    subjects = dict(Agreement.objects.filter(pk__in=agreement_ids).values_list("pk", "subject"))
    by_organisation = defaultdict(list)
    for subscription in subscriptions:
        by_organisation[subscription.organisation_id].append(subscription)
    deliveries = []
    for event, before, after in changes:
        for organisation_id in sorted(parties[event.agreement_id]):
            for subscription in by_organisation.get(organisation_id, ()):
                if event.seq <= subscription.since_seq:
                    continue
                if not subscription.wants(EventType.STATE_CHANGED, after):
                    continue
                delivery = Delivery(
                    subscription=subscription,
                    event_type=EventType.STATE_CHANGED,
                    audit_event_id=event.seq,
                    agreement_id=event.agreement_id,
                    state=after,
                    next_attempt_at=event.created_at,
                )
                delivery.body = payloads.state_changed_body(
                    delivery=delivery,
                    event=event,
                    agreement_id=event.agreement_id,
                    subject=subjects.get(event.agreement_id, ""),
                    before=before,
                    after=after,
                )
                deliveries.append(delivery)
    # Conflicts only if a delivery was made by other means for the same event: keep that one.
    made = Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return len(made)
