"""What a user may see of webhook subscriptions and deliveries."""

from django.db.models import QuerySet

from agreements.roles import Role, has_role
from webhooks.models import Delivery, Subscription


def visible_subscriptions(user) -> QuerySet[Subscription]:
    """Live subscriptions of the user's organisations; an administrator's: all of them."""
    subscriptions = Subscription.objects.live().select_related("organisation", "created_by")
    if user is None or not user.is_authenticated:
        return subscriptions.none()
    if has_role(user, Role.ADMINISTRATOR):
        return subscriptions
    return subscriptions.filter(organisation__memberships__user_id=user.pk)


def visible_deliveries(user) -> QuerySet[Delivery]:
    """Deliveries of the subscriptions the user sees, newest first, with their attempts."""
    return (
        Delivery.objects.filter(subscription__in=visible_subscriptions(user).values("pk"))
        .select_related("subscription")
        .prefetch_related("attempt_log")
    )
