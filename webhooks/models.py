"""Webhook subscriptions of the parties' systems, and the log of every delivery.

Events come from the audit trail, used as a durable outbox (webhooks.dispatch): a state change
and its audit event commit together, and the dispatcher turns audit events it has not read yet
into deliveries, so nothing is lost if a process stops after the commit.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from agreements.models import AgreementState, Organisation


class EventType(models.TextChoices):
    """What a subscription can ask for. Stored values never change once released."""

    STATE_CHANGED = "agreement.state_changed", _("Agreement state changed")
    # Every event type, including those added later.
    ALL = "*", _("All events")


# Not subscribable: sent only when asked for (POST …/ping/).
PING = "ping"


class SubscriptionQuerySet(models.QuerySet):
    def live(self):
        """Not deleted (deleted subscriptions stay, with their delivery log)."""
        return self.filter(deleted_at__isnull=True)


class Subscription(models.Model):
    """A party's system that wants to hear about the agreements its organisation is party to."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="webhook_subscriptions",
        verbose_name=_("organisation"),
    )
    url = models.CharField(_("target URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # AES-GCM under a key derived from SECRET_KEY (webhooks.crypto); shown once, at creation.
    secret_encrypted = models.TextField(_("secret (encrypted)"))
    secret_hint = models.CharField(_("first characters of the secret"), max_length=12)
    event_types = models.JSONField(_("event types"), default=list)
    # Only changes into these states (empty: every state).
    states = models.JSONField(_("states"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The last audit event when it was created: it hears only of later ones.
    since_seq = models.BigIntegerField(_("from audit event"))
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("deleted by"),
    )

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["organisation__name", "pk"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self):
        return f"{self.organisation} → {self.url}"

    @property
    def secret(self) -> str:
        from webhooks.crypto import decrypt

        return decrypt(self.secret_encrypted)

    def wants(self, event_type: str, state: str | None = None) -> bool:
        if EventType.ALL not in self.event_types and event_type not in self.event_types:
            return False
        return not self.states or state in self.states


class DispatchCursor(models.Model):
    """One row: the last audit event the dispatcher has read. Locked by the dispatcher and by
    subscription_create, so a new subscription never misses an event being dispatched."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("webhook dispatch cursor")

    def __str__(self):
        return f"#{self.seq}"


class Delivery(models.Model):
    """One event for one subscription: the exact body sent, its state, and its attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed (no more attempts)")
        CANCELLED = "cancelled", _("Cancelled (subscription deleted or inactive)")

    uuid = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.PROTECT,
        related_name="deliveries",
        verbose_name=_("subscription"),
    )
    event_type = models.CharField(_("event"), max_length=64)
    audit_event = models.ForeignKey(
        "audit.AuditEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("audit event"),
    )
    agreement_id = models.BigIntegerField(_("agreement"), null=True, blank=True, db_index=True)
    state = models.CharField(_("state reached"), max_length=20, choices=AgreementState, blank=True)
    # The JSON body exactly as signed and sent, the same on every attempt.
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status, default=Status.PENDING, db_index=True
    )
    # Attempts since it was (re)queued; bounded by STIPULA_WEBHOOK_MAX_ATTEMPTS.
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # When the next attempt is due; while one is being made, until when it is claimed.
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "audit_event"], name="webhooks_one_delivery_per_event"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event_type} {self.uuid} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery and what came back."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    number = models.PositiveIntegerField(_("number"))
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    url = models.CharField(_("target URL"), max_length=500)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    success = models.BooleanField(_("succeeded"), default=False)
    error = models.TextField(_("error"), blank=True)
    response_excerpt = models.TextField(_("start of the response"), blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        verbose_name = _("webhook delivery attempt")
        verbose_name_plural = _("webhook delivery attempts")
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhooks_attempt_number_unique"
            )
        ]

    def __str__(self):
        return f"#{self.number} {self.status_code or self.error[:40]}"
