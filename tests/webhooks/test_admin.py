"""The admin pages: the delivery log, read-only, and its actions through the services."""

import pytest
from django.test import Client

from agreements import services as agreement_services
from tests.factories import make_ready_agreement
from webhooks.delivery import deliver_due
from webhooks.dispatch import dispatch_events
from webhooks.models import Delivery
from webhooks.services import subscription_create

pytestmark = pytest.mark.django_db


def test_the_log_is_readable_and_a_delivery_can_be_sent_again(officer, receiver, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    agreement = make_ready_agreement(officer)
    party = agreement.parties.get(position=1)
    subscription, _secret = subscription_create(
        actor=admin, organisation=party.organisation, url=receiver.url()
    )
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    dispatch_events()
    deliver_due()
    delivery = Delivery.objects.get()
    client = Client()
    client.force_login(admin)

    listing = client.get("/admin/webhooks/delivery/", {"q": "Comune"})
    assert listing.status_code == 200 and str(delivery.uuid) in listing.content.decode()
    page = client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/")
    assert page.status_code == 200 and "answer 200" in page.content.decode()
    subscriptions = client.get("/admin/webhooks/subscription/")
    assert subscriptions.status_code == 200 and receiver.url() in subscriptions.content.decode()
    assert (
        _secret
        not in client.get(
            f"/admin/webhooks/subscription/{subscription.pk}/change/"
        ).content.decode()
    )

    client.post(
        "/admin/webhooks/delivery/",
        {"action": "redeliver", "_selected_action": [delivery.pk]},
    )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    deliver_due()
    assert len(receiver.requests) == 2
