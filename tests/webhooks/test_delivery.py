"""Deliveries end to end: real services change the state, the dispatcher reads the audit trail,
a real HTTP receiver on 127.0.0.1 gets the signed POSTs."""

import datetime
import json
import socket

import pytest

from agreements import services as agreement_services
from audit.models import AuditAction
from tests.factories import events_for, make_organisation, make_ready_agreement, make_user
from webhooks import signature
from webhooks.delivery import deliver_due
from webhooks.dispatch import dispatch_events
from webhooks.models import Delivery, DispatchCursor
from webhooks.services import delivery_redeliver, subscription_create, subscription_delete

pytestmark = pytest.mark.django_db


def party_member(agreement, position=1):
    party = agreement.parties.get(position=position)
    return party.organisation, party.signatories.first().user


def subscribe(receiver, agreement=None, *, organisation=None, member=None, path="/hook", **kw):
    if organisation is None:
        organisation, member = party_member(agreement)
    return subscription_create(
        actor=member, organisation=organisation, url=receiver.url(path), **kw
    )


def run_dispatcher(now=None):
    made = dispatch_events()
    sent = deliver_due(now=now)
    return made, sent


def test_party_system_receives_signed_state_change(officer, receiver):
    agreement = make_ready_agreement(officer)
    subscription, secret = subscribe(receiver, agreement)

    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    made, sent = run_dispatcher()

    assert (made.deliveries, sent.delivered) == (1, 1)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    event = events_for(agreement, AuditAction.NEGOTIATION_OPENED)[0]
    delivery = Delivery.objects.get(subscription=subscription)
    body = json.loads(request.body)
    assert body == {
        "id": str(delivery.uuid),
        "event": "agreement.state_changed",
        "agreement": {
            "id": agreement.pk,
            "subject": agreement.subject,
            "state": "negotiation",
            "previous_state": "draft",
        },
        "audit_event": {"seq": event.seq, "hash": event.hash, "action": event.action},
        "occurred_at": body["occurred_at"],
    }
    assert body["occurred_at"].startswith(
        event.created_at.astimezone(datetime.UTC).isoformat()[:19]
    )
    assert request.path == "/hook"
    assert request.headers["X-Stipula-Event"] == "agreement.state_changed"
    assert request.headers["X-Stipula-Delivery"] == str(delivery.uuid)
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert signature.verify(
        secret,
        request.headers["X-Stipula-Timestamp"],
        request.body,
        request.headers["X-Stipula-Signature"],
    )
    assert delivery.status == Delivery.Status.DELIVERED and delivery.delivered_at
    (attempt,) = delivery.attempt_log.all()
    assert (attempt.number, attempt.status_code, attempt.success, attempt.error) == (
        1,
        200,
        True,
        "",
    )
    assert attempt.response_excerpt == "answer 200"
    # Nothing more to send.
    assert run_dispatcher()[1].delivered == 0
    assert len(receiver.requests) == 1


def test_only_the_parties_subscriptions_hear_and_only_of_later_changes(officer, receiver):
    agreement = make_ready_agreement(officer)
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    # Made after the agreement entered negotiation: that change is not theirs.
    first, _secret = subscribe(receiver, agreement, path="/first")
    organisation, member = party_member(agreement, position=2)
    second, _secret = subscribe(receiver, organisation=organisation, member=member, path="/second")
    outsider_member = make_user("outsider")
    outsider = make_organisation("Ente estraneo", members=[outsider_member])
    stranger, _secret = subscribe(
        receiver, organisation=outsider, member=outsider_member, path="/outsider"
    )

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    run_dispatcher()

    assert sorted(r.path for r in receiver.requests) == ["/first", "/second"]
    for request in receiver.requests:
        assert json.loads(request.body)["agreement"] == {
            "id": agreement.pk,
            "subject": agreement.subject,
            "state": "legal_review",
            "previous_state": "negotiation",
        }
    assert not Delivery.objects.filter(subscription=stranger).exists()


def test_a_subscription_can_ask_for_some_states_only(officer, receiver):
    agreement = make_ready_agreement(officer)
    subscribe(receiver, agreement, states=["withdrawn"])

    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    agreement_services.agreement_withdraw(
        actor=officer, agreement=agreement, reason="Superato da un nuovo accordo."
    )
    run_dispatcher()

    assert [json.loads(b)["agreement"]["state"] for b in receiver.bodies()] == ["withdrawn"]


def test_dispatching_twice_makes_one_delivery_per_event(officer, receiver):
    agreement = make_ready_agreement(officer)
    subscription, _secret = subscribe(receiver, agreement)
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)

    first = dispatch_events()
    second = dispatch_events()

    assert (first.deliveries, second.deliveries) == (2, 0)
    assert first.cursor == second.cursor == DispatchCursor.objects.get().seq
    deliveries = Delivery.objects.filter(subscription=subscription).order_by("audit_event")
    assert [d.state for d in deliveries] == ["negotiation", "legal_review"]
    deliver_due()
    deliver_due()
    assert len(receiver.requests) == 2
    assert len({r.headers["X-Stipula-Delivery"] for r in receiver.requests}) == 2


def test_a_failed_attempt_is_retried_with_backoff(officer, receiver, settings):
    agreement = make_ready_agreement(officer)
    subscription, secret = subscribe(receiver, agreement)
    receiver.answers = [500]
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)

    run_dispatcher()

    delivery = Delivery.objects.get(subscription=subscription)
    first = delivery.attempt_log.get()
    assert (first.status_code, first.success, first.response_excerpt) == (500, False, "answer 500")
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at == first.finished_at + datetime.timedelta(seconds=30)

    # Not due yet: nothing is sent.
    assert deliver_due(now=delivery.next_attempt_at - datetime.timedelta(seconds=1)).retrying == 0
    assert len(receiver.requests) == 1

    assert deliver_due(now=delivery.next_attempt_at).delivered == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 2
    assert [(a.number, a.status_code) for a in delivery.attempt_log.all()] == [(1, 500), (2, 200)]
    # The same delivery, body and id, signed again at the time of each attempt.
    assert receiver.requests[0].body == receiver.requests[1].body
    assert {r.headers["X-Stipula-Delivery"] for r in receiver.requests} == {str(delivery.uuid)}
    for request in receiver.requests:
        assert signature.verify(
            secret,
            request.headers["X-Stipula-Timestamp"],
            request.body,
            request.headers["X-Stipula-Signature"],
        )


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_attempts_are_bounded_then_the_delivery_fails(officer, receiver):
    agreement = make_ready_agreement(officer)
    organisation, member = party_member(agreement)
    subscription, _secret = subscription_create(
        actor=member, organisation=organisation, url=_closed_port_url()
    )
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    dispatch_events()
    delivery = Delivery.objects.get(subscription=subscription)

    now = None
    for _attempt in range(3):
        deliver_due(now=now)
        delivery.refresh_from_db()
        now = delivery.next_attempt_at

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3 and delivery.next_attempt_at is None
    attempts = list(delivery.attempt_log.all())
    assert [a.number for a in attempts] == [1, 2, 3]
    assert all(a.status_code is None and "refused" in a.error.lower() for a in attempts)
    # Nothing is tried any more, whatever the time.
    later = attempts[-1].finished_at + datetime.timedelta(days=30)
    assert deliver_due(now=later).failed == 0
    assert delivery.attempt_log.count() == 3


def test_backoff_doubles_and_a_failed_delivery_can_be_sent_again(officer, receiver):
    agreement = make_ready_agreement(officer)
    subscription, _secret = subscribe(receiver, agreement)
    organisation, member = party_member(agreement)
    receiver.answers = [503, 502, 500]
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    dispatch_events()
    delivery = Delivery.objects.get(subscription=subscription)

    waits = []
    now = None
    for _attempt in range(3):
        deliver_due(now=now)
        delivery.refresh_from_db()
        last = delivery.attempt_log.order_by("-number").first()
        if delivery.next_attempt_at:
            waits.append((delivery.next_attempt_at - last.finished_at).total_seconds())
        now = delivery.next_attempt_at
    assert waits == [30, 60]
    assert delivery.status == Delivery.Status.FAILED
    assert [a.status_code for a in delivery.attempt_log.all()] == [503, 502, 500]

    delivery_redeliver(actor=member, delivery=delivery)
    assert deliver_due().delivered == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 1
    assert [a.status_code for a in delivery.attempt_log.all()] == [503, 502, 500, 200]
    assert len(set(receiver.bodies())) == 1


def test_a_deleted_subscription_gets_nothing_more(officer, receiver):
    agreement = make_ready_agreement(officer)
    subscription, _secret = subscribe(receiver, agreement)
    organisation, member = party_member(agreement)
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    dispatch_events()

    subscription_delete(actor=member, subscription=subscription)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    run_dispatcher()

    assert receiver.requests == []
    (delivery,) = Delivery.objects.filter(subscription=subscription)
    assert delivery.status == Delivery.Status.CANCELLED and delivery.state == "negotiation"


def test_the_command_and_the_beat_task_dispatch_and_send(officer, receiver):
    from io import StringIO

    from django.core.management import call_command

    from webhooks.tasks import dispatch

    agreement = make_ready_agreement(officer)
    subscribe(receiver, agreement)
    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    out = StringIO()
    call_command("webhooks_dispatch", stdout=out)
    assert "1 deliveries made" in out.getvalue() and "1 delivered" in out.getvalue()

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    result = dispatch.apply().get()
    assert result["deliveries_made"] == 1 and result["delivered"] == 1
    assert [json.loads(b)["agreement"]["state"] for b in receiver.bodies()] == [
        "negotiation",
        "legal_review",
    ]


def test_with_a_worker_the_change_is_delivered_as_soon_as_it_commits(
    officer, receiver, settings, request, django_capture_on_commit_callbacks
):
    """STIPULA_NOTIFY_ASYNC: the state change asks the Celery worker for a dispatch after its
    commit (CELERY_TASK_ALWAYS_EAGER runs it in this process, as the worker would)."""
    from stipula.celery import app as celery_app

    agreement = make_ready_agreement(officer)
    subscribe(receiver, agreement)
    # Without a worker nothing is sent from the request: beat or the command sends it.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    assert receiver.requests == []
    assert not [c for c in callbacks if c.__qualname__ == "_enqueue"]
    run_dispatcher()
    assert len(receiver.requests) == 1

    settings.STIPULA_NOTIFY_ASYNC = True
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(celery_app.conf, "task_always_eager", eager))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)

    assert len([c for c in callbacks if c.__qualname__ == "_enqueue"]) == 1
    assert len(receiver.requests) == 2
    body = json.loads(receiver.requests[1].body)
    assert body["agreement"]["state"] == "legal_review"
    assert body["agreement"]["previous_state"] == "negotiation"
