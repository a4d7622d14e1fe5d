"""Webhook subscriptions and the delivery log, for administrators: read-only, with the actions
that the services offer (delete a subscription, send a delivery again)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from stipula.errors import DomainError
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Subscription


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _run(modeladmin, request, queryset, call, done):
    count = 0
    for obj in queryset:
        try:
            call(obj)
            count += 1
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
    if count:
        modeladmin.message_user(request, done % {"n": count}, messages.SUCCESS)


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnly):
    list_display = ["organisation", "url", "active", "created_by", "created_at", "deleted_at"]
    list_filter = ["active", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["organisation__name", "url", "description"]
    list_select_related = ["organisation", "created_by"]
    exclude = ["secret_encrypted"]
    actions = ["delete_subscriptions"]

    @admin.action(description=_("Delete the selected subscriptions (their log is kept)"))
    def delete_subscriptions(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda s: services.subscription_delete(actor=request.user, subscription=s),
            _("%(n)d subscriptions deleted."),
        )


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "status_code", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = [
        "uuid",
        "event_type",
        "subscription",
        "agreement_id",
        "state",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["uuid", "subscription__organisation__name", "subscription__url"]
    list_select_related = ["subscription__organisation"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.action(description=_("Send the selected deliveries again"))
    def redeliver(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda d: services.delivery_redeliver(actor=request.user, delivery=d),
            _("%(n)d deliveries queued again."),
        )
