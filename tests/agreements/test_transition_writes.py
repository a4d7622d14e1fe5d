"""How a transition reaches the database: its row, its audit event and the process's move are
written together at the end (audit.services.batched), in one statement on PostgreSQL, and commit
together or not at all. Its e-mail (the tasks' and the transition's) goes out after the commit,
in one delivery."""

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.status import STATUS

from agreements import services
from agreements.models import Agreement, AgreementState
from audit import services as audit_services
from audit.models import AuditAction, AuditEvent
from audit.selectors import verify_chain
from tests.factories import add_party_with_signatory, events_for, make_ready_agreement
from workflow import engine
from workflow.models import AgreementTask

pytestmark = pytest.mark.django_db


def open_tasks(agreement):
    return sorted(
        (t.flow_task.name, t.owner.username if t.owner_id else None, t.status)
        for t in AgreementTask.objects.filter(deadline__agreement=agreement)
        if t.status in (STATUS.NEW, STATUS.ASSIGNED)
    )


def test_a_transition_and_its_process_move_are_one_run_of_the_chain(officer, reviewer):
    agreement = make_ready_agreement(officer)
    services.agreement_open_negotiation(actor=officer, agreement=agreement)
    before = AuditEvent.objects.order_by("-seq").first().seq

    services.agreement_submit_for_review(actor=officer, agreement=agreement)

    written = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert [e.action for e in written] == [
        AuditAction.SUBMITTED_FOR_REVIEW,
        AuditAction.TASK_COMPLETED,
        AuditAction.TASK_CREATED,
    ]
    assert [e.seq for e in written] == list(range(before + 1, before + 4))
    assert all(e.created_at >= p.created_at for p, e in zip(written, written[1:], strict=False))
    assert verify_chain().ok
    assert Agreement.objects.get(pk=agreement.pk).state == AgreementState.LEGAL_REVIEW
    assert open_tasks(agreement) == [("review", None, STATUS.NEW)]


def test_a_move_that_fails_leaves_the_transition_undone(officer, monkeypatch):
    """Fault injected inside the system while the process moves (the new task's audit event
    cannot be recorded): the agreement's row, the transition's event, the closed task and the
    new one all stay as they were."""
    agreement = make_ready_agreement(officer)
    events_before = AuditEvent.objects.count()
    tasks_before = open_tasks(agreement)

    def broken(**kwargs):
        raise RuntimeError("injected failure while opening the negotiation task")

    monkeypatch.setattr(engine.events, "task_created", broken)
    with pytest.raises(RuntimeError, match="injected"):
        services.agreement_open_negotiation(actor=officer, agreement=agreement)

    assert Agreement.objects.get(pk=agreement.pk).state == AgreementState.DRAFT
    assert AuditEvent.objects.count() == events_before
    assert open_tasks(agreement) == tasks_before == [("draft", "officer", STATUS.ASSIGNED)]
    monkeypatch.undo()
    services.agreement_open_negotiation(actor=officer, agreement=agreement)
    assert open_tasks(agreement) == [("negotiation", "officer", STATUS.ASSIGNED)]
    assert verify_chain().ok


def test_events_and_writes_are_held_until_the_batch_ends(officer):
    agreement = make_ready_agreement(officer)
    head = AuditEvent.objects.order_by("-seq").first().seq
    with transaction.atomic():
        with audit_services.batched():
            event = audit_services.record_event(
                actor=officer, action=AuditAction.AGREEMENT_UPDATED, obj=agreement
            )
            agreement.closing_reason = "nota"
            audit_services.write_update(agreement, ["closing_reason"])
            # Chained when the batch ends, under the chain head's lock.
            assert event.seq is None
        assert event.seq == head + 1 and len(event.hash) == 64
    assert AuditEvent.objects.get(seq=head + 1).hash == event.hash
    assert Agreement.objects.get(pk=agreement.pk).closing_reason == "nota"
    assert verify_chain().ok


def test_an_event_in_a_savepoint_of_its_own_is_refused_while_others_are_held(officer):
    """A savepoint opened inside the batch may roll back on its own: an event recorded in it
    cannot be written after the held ones, so it must be recorded within unbatched()."""
    agreement = make_ready_agreement(officer)
    head = AuditEvent.objects.order_by("-seq").first().seq
    with transaction.atomic():
        with audit_services.batched():
            audit_services.record_event(
                actor=officer, action=AuditAction.AGREEMENT_UPDATED, obj=agreement
            )
            with pytest.raises(RuntimeError, match="unbatched"), transaction.atomic():
                audit_services.record_event(
                    actor=officer, action=AuditAction.AGREEMENT_UPDATED, obj=agreement
                )
            with audit_services.unbatched():
                try:
                    with transaction.atomic():
                        audit_services.record_event(
                            actor=officer, action=AuditAction.PARTY_ADDED, obj=agreement
                        )
                        raise ValueError("rolled back with its savepoint")
                except ValueError:
                    pass
            audit_services.record_event(
                actor=officer, action=AuditAction.SIGNATORY_ADDED, obj=agreement
            )
    actions = list(
        AuditEvent.objects.filter(seq__gt=head).order_by("seq").values_list("action", flat=True)
    )
    assert actions == [AuditAction.AGREEMENT_UPDATED, AuditAction.SIGNATORY_ADDED]
    assert verify_chain().ok


def test_approval_statements_do_not_grow_with_the_signatories(
    officer, reviewer, django_capture_on_commit_callbacks
):
    """Moving the process to the signing phase creates one task per signatory in the same
    statements: approving for 6 parties costs what approving for 2 does."""

    def approve_statements(parties):
        agreement = make_ready_agreement(officer, parties=parties)
        services.agreement_submit_for_review(actor=officer, agreement=agreement)
        with CaptureQueriesContext(connection) as captured:
            services.agreement_approve(actor=reviewer, agreement=agreement)
        signing = [t for t in open_tasks(agreement) if t[0] == "sign"]
        assert len(signing) == parties
        return len(captured.captured_queries)

    approve_statements(2)  # the first also reads what stays cached (roles, content types)
    assert approve_statements(6) == approve_statements(2)


def test_a_transition_sends_its_mail_and_its_tasks_mail_after_the_commit(
    officer, reviewer, django_capture_on_commit_callbacks
):
    agreement = make_ready_agreement(officer)
    add_party_with_signatory(agreement, officer)
    services.agreement_submit_for_review(actor=officer, agreement=agreement)
    mail.outbox = []
    with django_capture_on_commit_callbacks() as callbacks:
        services.agreement_approve(actor=reviewer, agreement=agreement)
    assert mail.outbox == []
    # One delivery for the transaction: the signatories' tasks, then the approval to the officer.
    assert len(callbacks) == 1
    callbacks[0]()
    signatories = sorted(
        s.user.email for party in agreement.parties.all() for s in party.signatories.all()
    )
    recipients = [m.to for m in mail.outbox]
    assert sorted(to[0] for to in recipients[:-1]) == signatories
    assert len(signatories) == 3
    assert recipients[-1] == ["officer@example.org"]
    approved = events_for(agreement, AuditAction.APPROVED)[0]
    assert f"{approved.seq}" in mail.outbox[-1].body and approved.hash in mail.outbox[-1].body
