"""Real concurrency on PostgreSQL: threads with their own connections, real row locks."""

import threading

import pytest
from django.db import connection, transaction
from django.utils import translation

from agreements import services
from agreements.models import Agreement, AgreementState
from audit.models import AuditAction, AuditEvent
from audit.selectors import verify_chain
from audit.services import record_event
from stipula.errors import DomainError
from tests.factories import make_ready_agreement, make_user

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def run_together(*calls):
    """Start every call at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            with translation.override("en"):  # a thread starts with no language of its own
                results[index] = ("ok", call())
        except Exception as error:  # noqa: BLE001 - collected for the assertions
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_people_fire_the_same_transition_at_once():
    officer = make_user("officer", "legal_officer")
    admin = make_user("admin", "administrator")
    agreement = make_ready_agreement(officer)
    services.agreement_open_negotiation(actor=officer, agreement=agreement)

    results = run_together(
        lambda: services.agreement_submit_for_review(
            actor=officer, agreement=agreement, expected_state="negotiation"
        ),
        lambda: services.agreement_withdraw(
            actor=admin, agreement=agreement, reason="Ritirato", expected_state="negotiation"
        ),
    )

    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"]
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, DomainError)
    assert "Someone else changed this agreement" in str(error)
    final = Agreement.objects.get(pk=agreement.pk).state
    assert final in (AgreementState.LEGAL_REVIEW, AgreementState.WITHDRAWN)
    moves = AuditEvent.objects.filter(
        agreement_id=agreement.pk,
        action__in=[AuditAction.SUBMITTED_FOR_REVIEW, AuditAction.WITHDRAWN],
    )
    assert moves.count() == 1
    assert moves.get().payload_data["after"] == {"state": final}
    refusals = AuditEvent.objects.filter(
        agreement_id=agreement.pk, action=AuditAction.ACTION_REFUSED
    )
    assert refusals.count() == 1
    assert refusals.get().payload_data["code"] == "concurrent_change"
    assert verify_chain().ok


def test_same_transition_twice_at_once_happens_once():
    officer = make_user("officer", "legal_officer")
    agreement = make_ready_agreement(officer)

    results = run_together(
        *[lambda: services.agreement_open_negotiation(actor=officer, agreement=agreement)] * 4
    )

    assert sorted(kind for kind, _ in results) == ["error", "error", "error", "ok"]
    for kind, value in results:
        if kind == "error":
            assert "not possible while the agreement is in state" in str(value)
    assert (
        AuditEvent.objects.filter(
            agreement_id=agreement.pk, action=AuditAction.NEGOTIATION_OPENED
        ).count()
        == 1
    )


def test_concurrent_writers_never_fork_or_skip_the_chain():
    writers, per_writer = 6, 40

    def write_many(n):
        for i in range(per_writer):
            with transaction.atomic(durable=True):
                record_event(
                    actor=None,
                    action=AuditAction.AGREEMENT_UPDATED,
                    object_type="test",
                    object_id=f"{n}-{i}",
                )

    results = run_together(*[lambda n=n: write_many(n) for n in range(writers)])

    assert [kind for kind, _ in results] == ["ok"] * writers
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
    assert AuditEvent.objects.values("prev_hash").distinct().count() == len(seqs)
    status = verify_chain()
    assert status.ok, status.problem
    assert status.count == writers * per_writer
