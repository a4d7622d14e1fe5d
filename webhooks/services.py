"""Business actions on webhook subscriptions and deliveries. The API and the admin call these."""

import secrets

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agreements.models import AgreementState, Organisation, OrganisationMember
from agreements.roles import Role, has_role
from audit.models import AuditAction, AuditEvent
from audit.services import audited_refusals, record_event
from stipula.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from webhooks import crypto, payloads
from webhooks.models import PING, Delivery, DispatchCursor, EventType, Subscription
from webhooks.targets import validate_target_url

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix that makes leaked secrets recognisable)
# Live subscriptions per organisation: enough for a few systems, not a way to multiply requests.
MAX_SUBSCRIPTIONS_PER_ORGANISATION = 20
MAX_DESCRIPTION_LENGTH = 200


# Who may ----------------------------------------------------------------------------------------


def can_manage(user, organisation_id: int) -> bool:
    """A member of the organisation, or an administrator."""
    if user is None or not user.is_authenticated:
        return False
    if has_role(user, Role.ADMINISTRATOR):
        return True
    return OrganisationMember.objects.filter(
        organisation_id=organisation_id, user_id=user.pk
    ).exists()


def _require_manage(actor, organisation_id: int) -> None:
    if not can_manage(actor, organisation_id):
        raise PermissionDenied(
            _(
                "Only a member of the organisation, or an administrator, can manage its webhook "
                "subscriptions."
            )
        )


def _require_live(subscription: Subscription) -> None:
    if subscription.deleted_at is not None or not subscription.active:
        raise TransitionNotAllowed(
            _("The subscription was deleted or is not active: nothing can be sent to it.")
        )


# The dispatcher's cursor -------------------------------------------------------------------------


def last_audit_seq() -> int:
    """The last committed audit event: events commit in seq order (the chain head is locked
    until commit), so every event up to it is visible."""
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def lock_cursor() -> DispatchCursor:
    """The dispatcher's cursor, locked for the transaction; made at the current end of the log
    the first time (no subscription exists before it)."""
    DispatchCursor.objects.bulk_create(
        [DispatchCursor(pk=1, seq=last_audit_seq())], ignore_conflicts=True
    )
    rows = DispatchCursor.objects.filter(pk=1)
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    return rows.get()


# Subscriptions -----------------------------------------------------------------------------------


def _clean_choices(values, allowed, field: str, default: list[str]) -> list[str]:
    if values is None:
        return default
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ValidationFailed(_("Give a list."), field=field)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValidationFailed(
            _("Unknown values: %(values)s. Possible: %(allowed)s.")
            % {"values": ", ".join(unknown), "allowed": ", ".join(allowed)},
            field=field,
        )
    return sorted(set(values))


def _about_subscription(kwargs) -> dict:
    subscription = kwargs.get("subscription")
    return (
        {"obj": subscription}
        if subscription is not None
        else {"object_type": "webhooks.subscription"}
    )


def _about_delivery(kwargs) -> dict:
    delivery = kwargs.get("delivery")
    return {"obj": delivery} if delivery is not None else {"object_type": "webhooks.delivery"}


def _subscription_payload(subscription: Subscription) -> dict:
    return {
        "organisation_id": subscription.organisation_id,
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "states": list(subscription.states),
    }


@audited_refusals("webhook.subscribe", locate=_about_subscription)
@transaction.atomic(durable=True)
def subscription_create(
    *,
    actor,
    organisation: Organisation,
    url: str,
    event_types: list[str] | None = None,
    states: list[str] | None = None,
    description: str = "",
) -> tuple[Subscription, str]:
    """Subscribe ``organisation``'s system at ``url``; returns the subscription and its secret,
    which is shown this once."""
    _require_manage(actor, organisation.pk)
    url = validate_target_url(url)
    event_types = _clean_choices(
        event_types, EventType.values, "event_types", [EventType.STATE_CHANGED.value]
    )
    if not event_types:
        raise ValidationFailed(_("Choose at least one event type."), field="event_types")
    states = _clean_choices(states, AgreementState.values, "states", [])
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationFailed(
            _("The description is too long (at most %(n)d characters).")
            % {"n": MAX_DESCRIPTION_LENGTH},
            field="description",
        )
    # Waits for a dispatch in progress, so that since_seq is at or after its cursor.
    lock_cursor()
    live = Subscription.objects.live().filter(organisation=organisation).count()
    if live >= MAX_SUBSCRIPTIONS_PER_ORGANISATION:
        raise ValidationFailed(
            _("An organisation can have at most %(n)d webhook subscriptions; delete one first.")
            % {"n": MAX_SUBSCRIPTIONS_PER_ORGANISATION}
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    subscription = Subscription.objects.create(
        organisation=organisation,
        url=url,
        description=description,
        secret_encrypted=crypto.encrypt(secret),
        secret_hint=secret[:12],
        event_types=event_types,
        states=states,
        created_by=actor,
        since_seq=last_audit_seq(),
    )
    record_event(
        actor=actor,
        action=AuditAction.WEBHOOK_SUBSCRIBED,
        obj=subscription,
        payload=_subscription_payload(subscription),
    )
    return subscription, secret


@audited_refusals("webhook.unsubscribe", locate=_about_subscription)
@transaction.atomic(durable=True)
def subscription_delete(*, actor, subscription: Subscription) -> Subscription:
    """Stop deliveries to the subscription. It stays, with its delivery log, marked deleted;
    deliveries still waiting are cancelled."""
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    _require_manage(actor, locked.organisation_id)
    if locked.deleted_at is not None:
        raise TransitionNotAllowed(_("The subscription was already deleted."))
    locked.deleted_at = timezone.now()
    locked.deleted_by = actor
    locked.active = False
    locked.save(update_fields=["deleted_at", "deleted_by", "active"])
    locked.deliveries.filter(status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED, next_attempt_at=None
    )
    record_event(
        actor=actor,
        action=AuditAction.WEBHOOK_UNSUBSCRIBED,
        obj=locked,
        payload=_subscription_payload(locked),
    )
    return locked


@audited_refusals("webhook.ping", locate=_about_subscription)
@transaction.atomic(durable=True)
def subscription_ping(*, actor, subscription: Subscription) -> Delivery:
    """Queue a ``ping`` delivery, to check that the receiver gets and verifies deliveries."""
    _require_manage(actor, subscription.organisation_id)
    _require_live(subscription)
    delivery = Delivery(subscription=subscription, event_type=PING, next_attempt_at=timezone.now())
    delivery.body = payloads.ping_body(delivery=delivery, subscription=subscription)
    delivery.save()
    record_event(
        actor=actor,
        action=AuditAction.WEBHOOK_PINGED,
        obj=subscription,
        payload={"delivery": str(delivery.pk)},
    )
    return delivery


# Deliveries --------------------------------------------------------------------------------------


@audited_refusals("webhook.redeliver", locate=_about_delivery)
@transaction.atomic(durable=True)
def delivery_redeliver(*, actor, delivery: Delivery) -> Delivery:
    """Send a delivered, failed or cancelled delivery again, with the same id and body and a
    fresh budget of attempts."""
    locked = Delivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
    _require_manage(actor, locked.subscription.organisation_id)
    _require_live(locked.subscription)
    if locked.status == Delivery.Status.PENDING:
        raise TransitionNotAllowed(
            _("This delivery is already waiting to be sent (next attempt: %(when)s).")
            % {"when": locked.next_attempt_at.isoformat() if locked.next_attempt_at else "-"},
            status=locked.status,
        )
    locked.status = Delivery.Status.PENDING
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    locked.save(update_fields=["status", "attempts", "next_attempt_at"])
    record_event(
        actor=actor,
        action=AuditAction.WEBHOOK_REDELIVERED,
        obj=locked,
        payload={"subscription": locked.subscription_id, "event_type": locked.event_type},
    )
    return locked
