"""The registry's card on an agreement's page: its registration, or the way to register it."""

from django import template

from agreements.models import AgreementState
from registry import selectors
from registry.models import Registration

register = template.Library()

SHOWN_IN = {AgreementState.SIGNED, AgreementState.REGISTERED, AgreementState.ANNULLED}


@register.inclusion_tag("registry/_agreement_registration.html", takes_context=True)
def agreement_registration(context, agreement):
    request = context.get("request")
    user = getattr(request, "user", None)
    if agreement.state not in SHOWN_IN or not selectors.can_read_registry(user):
        return {"show": False}
    registration = None
    if agreement.state != AgreementState.SIGNED:
        registration = (
            Registration.objects.select_related("register", "annulment")
            .filter(agreement_id=agreement.pk)
            .first()
        )
    return {
        "show": True,
        "agreement": agreement,
        "registration": registration,
        "may_register": (
            agreement.state == AgreementState.SIGNED and selectors.can_keep_registry(user)
        ),
    }
