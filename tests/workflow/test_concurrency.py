"""Two people completing the same task at once, on PostgreSQL: threads with their own
connections and real row locks. One wins; the other is told what happened."""

import threading

import pytest
from django.db import connection
from django.utils import translation
from viewflow.workflow.status import STATUS

from agreements import services as agreement_services
from agreements.models import Agreement, AgreementState
from audit.models import AuditAction, AuditEvent
from audit.selectors import verify_chain
from stipula.errors import ConcurrentChange
from tests.factories import make_user
from tests.workflow.conftest import all_compliant, approve, build_agreement, sign
from workflow import services as workflow_services
from workflow.models import AgreementTask, ReviewReport

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def run_together(*calls):
    """Start every call at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            with translation.override("en"):
                results[index] = ("ok", call())
        except Exception as error:  # noqa: BLE001 - collected for the assertions
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def tasks(agreement, node):
    return [
        t
        for t in AgreementTask.objects.filter(
            process__agreement_workflow__agreement=agreement
        ).order_by("pk")
        if t.flow_task.name == node
    ]


def test_two_reviewers_complete_the_same_review_at_once():
    officer = make_user("officer", "legal_officer")
    first = make_user("rev.verdi", "reviewer", first_name="Rita", last_name="Verdi")
    second = make_user("rev.neri", "reviewer", first_name="Nadia", last_name="Neri")
    agreement, _signatories = build_agreement(officer, parties=2)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    [task] = tasks(agreement, "review")
    outcomes = all_compliant(agreement)

    def review(user):
        return lambda: workflow_services.review_submit(
            actor=user,
            agreement=agreement,
            outcomes=outcomes,
            decision="approve",
            task=task.pk,
        )

    results = run_together(review(first), review(second))

    assert sorted(kind for kind, _value in results) == ["error", "ok"]
    winner = next(v for k, v in results if k == "ok").reviewer
    error = next(v for k, v in results if k == "error")
    assert isinstance(error, ConcurrentChange)
    assert str(error).startswith(f"This task was already completed by {winner.get_full_name()} on ")
    assert Agreement.objects.get(pk=agreement.pk).state == AgreementState.SIGNATURE
    task.refresh_from_db()
    assert (task.status, task.owner) == (STATUS.DONE, winner)
    assert ReviewReport.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.APPROVED).count() == 1
    [refusal] = AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED)
    assert refusal.payload_data["code"] == "concurrent_change"
    assert verify_chain().ok


def test_two_reviewers_request_changes_at_once():
    officer = make_user("officer", "legal_officer")
    reviewers = [
        make_user("rev.verdi", "reviewer", first_name="Rita", last_name="Verdi"),
        make_user("rev.neri", "reviewer", first_name="Nadia", last_name="Neri"),
    ]
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    by_owner = {t.owner_id: t.pk for t in tasks(agreement, "review")}
    outcomes = all_compliant(agreement)

    def request_changes(user):
        return lambda: workflow_services.review_submit(
            actor=user,
            agreement=agreement,
            outcomes=outcomes,
            decision="request_changes",
            reason=f"Modifiche chieste da {user.username}",
            task=by_owner[user.pk],
        )

    results = run_together(*(request_changes(user) for user in reviewers))

    assert sorted(kind for kind, _value in results) == ["error", "ok"]
    error = next(v for k, v in results if k == "error")
    assert isinstance(error, ConcurrentChange)
    assert "was cancelled on" in str(error) and "phase it belonged to is closed" in str(error)
    assert Agreement.objects.get(pk=agreement.pk).state == AgreementState.NEGOTIATION
    assert AuditEvent.objects.filter(action=AuditAction.CHANGES_REQUESTED).count() == 1
    assert sorted(t.status for t in tasks(agreement, "review")) == [STATUS.CANCELED, STATUS.DONE]
    [negotiation] = [t for t in tasks(agreement, "negotiation") if t.status == STATUS.ASSIGNED]
    assert negotiation.owner == officer


def test_two_signatories_sign_at_once_and_the_stage_joins_once(pki):
    officer = make_user("officer", "legal_officer")
    reviewer = make_user("rev.verdi", "reviewer")
    agreement, signatories = build_agreement(officer, parties=2, reviewers=[reviewer])
    approve(agreement, officer, reviewer)

    results = run_together(*(lambda s=s: sign(pki, agreement, s) for s in signatories))

    assert [kind for kind, _value in results] == ["ok", "ok"], results
    assert Agreement.objects.get(pk=agreement.pk).state == AgreementState.SIGNED
    assert [t.status for t in tasks(agreement, "sign")] == [STATUS.DONE, STATUS.DONE]
    assert [t.status for t in tasks(agreement, "signing_join")] == [STATUS.DONE]
    assert [t.status for t in tasks(agreement, "registration")] == [STATUS.NEW]
    assert verify_chain().ok
