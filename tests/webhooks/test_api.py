"""The webhooks API: who may subscribe, list and delete; the log of deliveries; ping; redeliver."""

import json

import pytest

from agreements import services as agreement_services
from audit.models import AuditAction, AuditEvent
from tests.factories import make_organisation, make_ready_agreement, make_user
from webhooks import signature
from webhooks.delivery import deliver_due
from webhooks.dispatch import dispatch_events
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions/"
DELIVERIES = "/api/v1/webhooks/deliveries/"


@pytest.fixture
def member(db):
    return make_user("membro.comune")


@pytest.fixture
def organisation(member):
    return make_organisation("Comune di Viareggio", members=[member])


@pytest.fixture
def administrator(db):
    return make_user("amministratore", "administrator")


def create(client, organisation, url, **extra):
    return client.post(
        SUBSCRIPTIONS, {"organisation": organisation.pk, "url": url, **extra}, format="json"
    )


def test_a_member_subscribes_and_gets_the_secret_once(api_for, member, organisation, receiver):
    client = api_for(member)

    response = create(client, organisation, receiver.url(), description="Protocollo")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["secret"].startswith("whsec_") and len(data["secret"]) > 40
    assert data["organisation"] == organisation.pk
    assert data["organisation_name"] == "Comune di Viareggio"
    assert data["event_types"] == ["agreement.state_changed"] and data["states"] == []
    assert data["created_by"] == "membro.comune" and data["active"] is True
    stored = Subscription.objects.get(pk=data["id"])
    # Kept encrypted, readable by the server alone.
    assert data["secret"] not in stored.secret_encrypted
    assert stored.secret == data["secret"]
    assert data["secret_hint"] == data["secret"][:12]

    listed = client.get(SUBSCRIPTIONS).json()
    assert listed["count"] == 1
    assert "secret" not in listed["results"][0]
    detail = client.get(f"{SUBSCRIPTIONS}{data['id']}/").json()
    assert "secret" not in detail and detail["url"] == receiver.url()
    # Who subscribed which system is in the audit trail; the secret is not.
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_SUBSCRIBED)
    assert event.actor_id == member.pk and event.object_id == str(data["id"])
    assert event.payload_data["url"] == receiver.url()
    assert data["secret"] not in event.payload


def test_a_non_member_can_neither_subscribe_nor_see_nor_delete(
    api_for, member, organisation, receiver
):
    outsider = make_user("estraneo")
    make_organisation("Altro ente", members=[outsider])
    subscription_id = create(api_for(member), organisation, receiver.url()).json()["id"]
    client = api_for(outsider)

    refused = create(client, organisation, receiver.url())
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert "member of the organisation" in refused.json()["error"]["message"]
    assert client.get(SUBSCRIPTIONS).json()["count"] == 0
    assert client.get(f"{SUBSCRIPTIONS}{subscription_id}/").status_code == 404
    assert client.delete(f"{SUBSCRIPTIONS}{subscription_id}/").status_code == 404
    assert client.post(f"{SUBSCRIPTIONS}{subscription_id}/ping/").status_code == 404
    assert Subscription.objects.live().filter(pk=subscription_id).exists()
    assert api_for(None).get(SUBSCRIPTIONS).status_code == 401
    # The refused subscription is recorded as an attempt.
    refusal = AuditEvent.objects.filter(
        actor_id=outsider.pk, action=AuditAction.ACTION_REFUSED
    ).get()
    assert refusal.payload_data["attempted"] == "webhook.subscribe"
    assert Subscription.objects.count() == 1


def test_an_administrator_sees_subscribes_and_deletes_for_any_organisation(
    api_for, administrator, member, organisation, receiver
):
    own = create(api_for(member), organisation, receiver.url("/own")).json()["id"]
    client = api_for(administrator)

    made = create(client, organisation, receiver.url("/admin"))
    assert made.status_code == 201
    assert client.get(SUBSCRIPTIONS).json()["count"] == 2

    assert client.delete(f"{SUBSCRIPTIONS}{own}/").status_code == 204
    deleted = Subscription.objects.get(pk=own)
    assert deleted.deleted_at is not None and deleted.deleted_by == administrator
    unsubscribed = AuditEvent.objects.get(action=AuditAction.WEBHOOK_UNSUBSCRIBED)
    assert unsubscribed.actor_id == administrator.pk and unsubscribed.object_id == str(own)
    assert [s["id"] for s in client.get(SUBSCRIPTIONS).json()["results"]] == [made.json()["id"]]
    assert client.delete(f"{SUBSCRIPTIONS}{own}/").status_code == 404


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.org/hook", "https://"),
        ("https://user:pw@example.org/hook", "credentials"),
        ("not a url", "https://"),
        ("http://127.0.0.1:8000/hook", "local"),
        ("http://[::1]/hook", "local"),
        ("http://169.254.169.254/latest/meta-data", "local"),
        ("http://localhost/hook", "local"),
    ],
)
def test_a_target_url_must_be_a_web_address_not_a_local_one(
    api_for, member, organisation, settings, url, words
):
    settings.STIPULA_WEBHOOK_ALLOW_LOCAL = False

    response = create(api_for(member), organisation, url)

    assert response.status_code == 400
    assert words in " ".join(response.json()["error"]["fields"]["url"])
    assert not Subscription.objects.exists()


def test_unknown_event_types_and_states_are_refused(api_for, member, organisation, receiver):
    response = create(
        api_for(member), organisation, receiver.url(), event_types=["x"], states=["nope"]
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"event_types.0", "states.0"}


def test_ping_reaches_the_receiver_signed(api_for, member, organisation, receiver):
    client = api_for(member)
    made = create(client, organisation, receiver.url()).json()

    response = client.post(f"{SUBSCRIPTIONS}{made['id']}/ping/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and response.json()["event"] == "ping"
    deliver_due()

    (request,) = receiver.requests
    assert request.headers["X-Stipula-Event"] == "ping"
    assert json.loads(request.body)["subscription"]["id"] == made["id"]
    assert signature.verify(
        made["secret"],
        request.headers["X-Stipula-Timestamp"],
        request.body,
        request.headers["X-Stipula-Signature"],
    )
    delivery = client.get(f"{DELIVERIES}{response.json()['id']}/").json()
    assert delivery["status"] == "delivered"
    assert [(a["number"], a["status_code"]) for a in delivery["attempt_log"]] == [(1, 200)]


def test_deliveries_with_attempts_and_redelivery(api_for, officer, receiver):
    agreement = make_ready_agreement(officer)
    party = agreement.parties.get(position=1)
    member = party.signatories.first().user
    client = api_for(member)
    made = create(client, party.organisation, receiver.url()).json()
    receiver.answers = [500]
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    dispatch_events()
    deliver_due()

    listed = client.get(DELIVERIES, {"subscription": made["id"]}).json()
    assert listed["count"] == 1
    delivery = listed["results"][0]
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["agreement_id"] == agreement.pk and delivery["state"] == "negotiation"
    assert delivery["payload"]["agreement"]["previous_state"] == "draft"
    assert delivery["attempt_log"][0]["status_code"] == 500
    assert delivery["attempt_log"][0]["response_excerpt"] == "answer 500"
    redeliver = f"{DELIVERIES}{delivery['id']}/redeliver/"

    pending = client.post(redeliver)
    assert pending.status_code == 409
    assert "already waiting" in pending.json()["error"]["message"]

    due = Delivery.objects.get(uuid=delivery["id"]).next_attempt_at
    deliver_due(now=due)
    # Sent again by hand: the same delivery and body, one more attempt in its log.
    again = client.post(redeliver)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    deliver_due()
    final = client.get(f"{DELIVERIES}{delivery['id']}/").json()
    assert final["status"] == "delivered" and final["attempts"] == 1
    assert [a["status_code"] for a in final["attempt_log"]] == [500, 200, 200]
    assert len(set(receiver.bodies())) == 1

    assert client.get(DELIVERIES, {"status": "delivered"}).json()["count"] == 1
    assert client.get(DELIVERIES, {"status": "nonsense"}).status_code == 400
    assert client.get(DELIVERIES, {"subscription": "x"}).status_code == 400
    outsider = api_for(make_user("estraneo"))
    assert outsider.get(DELIVERIES).json()["count"] == 0
    assert outsider.get(f"{DELIVERIES}{delivery['id']}/").status_code == 404
    assert outsider.post(redeliver).status_code == 404


def test_huge_ids_are_not_found(api_for, administrator):
    client = api_for(administrator)
    huge = 2**70
    assert client.get(f"{SUBSCRIPTIONS}{huge}/").status_code == 404
    assert client.get(DELIVERIES, {"subscription": huge}).json()["count"] == 0
    response = client.post(SUBSCRIPTIONS, {"organisation": huge, "url": "https://e.org"})
    assert response.status_code == 400
