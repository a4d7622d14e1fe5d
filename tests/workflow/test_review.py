"""The process from drafting to approval: parallel legal review with the checklist, request for
changes, four-eyes, and the tasks, states, audit trail and e-mails they leave."""

import pytest
from django.core import mail
from viewflow.workflow.status import STATUS

from agreements import services as agreement_services
from agreements.models import AgreementState
from audit.models import AuditAction
from stipula.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from tests.factories import events_for, make_user
from tests.workflow.conftest import all_compliant, build_agreement
from workflow import hooks
from workflow import services as workflow_services
from workflow.models import AgreementTask, ReviewReport
from workflow.selectors import process_position

pytestmark = pytest.mark.django_db


def tasks_of(agreement, node=None, *statuses):
    tasks = AgreementTask.objects.filter(deadline__agreement=agreement).order_by("pk")
    if node:
        tasks = [t for t in tasks if t.flow_task.name == node]
    if statuses:
        tasks = [t for t in tasks if t.status in statuses]
    return list(tasks)


def open_nodes(agreement):
    return sorted(
        (t.flow_task.name, t.owner.username if t.owner else None)
        for t in tasks_of(agreement)
        if t.status in (STATUS.NEW, STATUS.ASSIGNED)
    )


def test_review_round_with_changes_then_approval(
    officer, reviewers, django_capture_on_commit_callbacks
):
    first, second = reviewers
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)

    agreement_services.agreement_open_negotiation(actor=officer, agreement=agreement)
    assert open_nodes(agreement) == [("negotiation", "officer")]

    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    assert open_nodes(agreement) == [("review", "rev.neri"), ("review", "rev.verdi")]
    # Each named reviewer is told of their task; nobody else is e-mailed about the submission.
    assert sorted(m.to[0] for m in mail.outbox) == ["rev.neri@example.org", "rev.verdi@example.org"]
    # Users who chose no language read Italian (settings.LANGUAGE_CODE).
    assert all("Revisione legale" in m.subject for m in mail.outbox)
    assert all(m.extra_headers["Content-Language"] == "it" for m in mail.outbox)

    outcomes = all_compliant(agreement)
    workflow_services.review_submit(
        actor=first, agreement=agreement, outcomes=outcomes, decision="approve"
    )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.LEGAL_REVIEW
    assert open_nodes(agreement) == [("review", "rev.neri")]

    outcomes["data_protection"] = {"outcome": "not_compliant", "note": "Manca il titolare."}
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        report = workflow_services.review_submit(
            actor=second,
            agreement=agreement,
            outcomes=outcomes,
            decision="request_changes",
            reason="Integrare la clausola sul trattamento dei dati.",
        )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.NEGOTIATION
    assert open_nodes(agreement) == [("negotiation", "officer")]
    assert report.round == 1 and report.decision == "request_changes"
    item = next(i for i in report.items if i["code"] == "data_protection")
    assert item == {
        "code": "data_protection",
        "label": "Data protection clause",
        "outcome": "not_compliant",
        "note": "Manca il titolare.",
    }
    [changes] = events_for(agreement, AuditAction.CHANGES_REQUESTED)
    assert changes.reason == "Integrare la clausola sul trattamento dei dati."
    assert changes.payload_data["findings"] == [
        {"item": "Data protection clause", "note": "Manca il titolare."}
    ]
    # The officer hears of it, with the reasons and the findings, and gets the negotiation task.
    to_officer = [m for m in mail.outbox if m.to == ["officer@example.org"]]
    bodies = "\n".join(m.body for m in to_officer)
    assert "Integrare la clausola" in bodies and "Manca il titolare." in bodies
    assert any("Modifiche richieste" in m.subject for m in to_officer)

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    round_two = tasks_of(agreement, "review", STATUS.ASSIGNED)
    assert sorted(t.owner.username for t in round_two) == ["rev.neri", "rev.verdi"]
    assert {t.data["round"] for t in round_two} == {2}
    for reviewer in reviewers:
        workflow_services.review_submit(
            actor=reviewer,
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
        )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE
    assert agreement.approved_version == agreement.current_version
    assert [n for n, _owner in open_nodes(agreement)] == ["sign", "sign"]
    [approved] = events_for(agreement, AuditAction.APPROVED)
    assert approved.actor_username in {"rev.verdi", "rev.neri"}
    assert approved.payload_data["reviewers"] == ["rev.neri", "rev.verdi"]
    assert ReviewReport.objects.filter(agreement=agreement).count() == 4

    # Every step left its trace, in the order it happened.
    skipped = {AuditAction.PARTY_ADDED, AuditAction.SIGNATORY_ADDED}
    actions = [e.action for e in events_for(agreement) if e.action not in skipped]
    assert actions[:11] == [
        AuditAction.AGREEMENT_CREATED,
        AuditAction.PROCESS_STARTED,
        AuditAction.TASK_CREATED,  # drafting, for the legal officer
        AuditAction.VERSION_CREATED,
        AuditAction.REVIEWER_NAMED,
        AuditAction.REVIEWER_NAMED,
        AuditAction.NEGOTIATION_OPENED,
        AuditAction.TASK_COMPLETED,  # drafting
        AuditAction.TASK_CREATED,  # negotiation
        AuditAction.SUBMITTED_FOR_REVIEW,
        AuditAction.TASK_COMPLETED,  # negotiation
    ]
    position = process_position(agreement)
    assert position.current == ["sign"]
    assert [line.node for line in position.history][:4] == [
        "draft",
        "negotiation",
        "review",
        "review",
    ]


def test_the_drafter_can_neither_be_named_nor_review(officer, reviewers):
    officer.groups.add(reviewers[0].groups.get())
    officer._stipula_roles = None
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])

    with pytest.raises(ValidationFailed, match="four-eyes"):
        workflow_services.reviewer_name(actor=officer, agreement=agreement, user=officer)

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    with pytest.raises(PermissionDenied, match="four-eyes"):
        workflow_services.review_submit(
            actor=officer,
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
        )
    refusals = [
        e.payload_data["attempted"] for e in events_for(agreement, AuditAction.ACTION_REFUSED)
    ]
    assert refusals == ["workflow.reviewer_name", "workflow.review_submit"]
    assert open_nodes(agreement) == [("review", "rev.verdi")]


def test_someone_not_named_cannot_review(officer, reviewers):
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    with pytest.raises(PermissionDenied, match="not among the reviewers named"):
        workflow_services.review_submit(
            actor=reviewers[1],
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
        )


def test_the_checklist_must_be_complete_and_consistent(officer, reviewers):
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    reviewer = reviewers[0]
    outcomes = all_compliant(agreement)
    # One competence item per party, then the other items of the default checklist.
    assert list(outcomes) == [
        "competence:1",
        "competence:2",
        "legal_basis",
        "financial_coverage",
        "data_protection",
        "duration_withdrawal",
    ]

    incomplete = dict(outcomes)
    del incomplete["legal_basis"]
    with pytest.raises(ValidationFailed, match="missing: Legal basis"):
        workflow_services.review_submit(
            actor=reviewer, agreement=agreement, outcomes=incomplete, decision="approve"
        )
    unexplained = dict(outcomes, legal_basis={"outcome": "not_compliant"})
    with pytest.raises(ValidationFailed, match="Explain in a note why «Legal basis»"):
        workflow_services.review_submit(
            actor=reviewer, agreement=agreement, outcomes=unexplained, decision="approve"
        )
    failing = dict(outcomes, legal_basis={"outcome": "not_compliant", "note": "Manca"})
    with pytest.raises(ValidationFailed, match="Request changes, or correct the checklist"):
        workflow_services.review_submit(
            actor=reviewer, agreement=agreement, outcomes=failing, decision="approve"
        )
    with pytest.raises(ValidationFailed, match="Give the reasons"):
        workflow_services.review_submit(
            actor=reviewer, agreement=agreement, outcomes=failing, decision="request_changes"
        )
    assert not ReviewReport.objects.exists()
    assert open_nodes(agreement) == [("review", "rev.verdi")]


def test_without_named_reviewers_any_independent_reviewer_takes_the_review(officer, reviewers):
    agreement, _signatories = build_agreement(officer, parties=2)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    [task] = tasks_of(agreement, "review")
    assert task.owner is None and task.status == STATUS.NEW
    assert task.data["role"] == "reviewer"

    workflow_services.task_claim(actor=reviewers[0], task=task)
    with pytest.raises(ConcurrentChange, match="taken by Rita Verdi"):
        workflow_services.task_claim(actor=reviewers[1], task=task)

    workflow_services.review_submit(
        actor=reviewers[0],
        agreement=agreement,
        outcomes=all_compliant(agreement),
        decision="approve",
        task=task.pk,
    )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE
    task.refresh_from_db()
    assert (task.status, task.owner, task.data["outcome"]) == (STATUS.DONE, reviewers[0], "approve")
    assert [e.payload_data["owner"] for e in events_for(agreement, AuditAction.TASK_ASSIGNED)] == [
        "rev.verdi"
    ]
    with pytest.raises(ConcurrentChange, match="already completed by Rita Verdi"):
        workflow_services.review_submit(
            actor=reviewers[1],
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
            task=task.pk,
        )


def test_a_transition_made_outside_the_review_still_moves_the_process(officer, reviewers):
    """The plain lifecycle service (a reviewer not named, the old page) approves: the named
    reviewers' tasks are cancelled and the signing phase opens."""
    outsider = make_user("rev.esterno", "reviewer")
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)

    agreement_services.agreement_approve(actor=outsider, agreement=agreement)

    assert [t.status for t in tasks_of(agreement, "review")] == [STATUS.CANCELED] * 2
    assert [n for n, _owner in open_nodes(agreement)] == ["sign", "sign"]
    cancelled = events_for(agreement, AuditAction.TASK_CANCELLED)
    assert [e.payload_data["cause"] for e in cancelled] == ["approve", "approve"]


def test_the_process_starts_with_the_agreement_when_the_service_calls_the_hook(officer):
    """What agreement_create does once it calls workflow.hooks.agreement_created."""
    from django.db import transaction

    agreement, _signatories = build_agreement(officer, parties=2)
    mail.outbox = []
    with transaction.atomic():
        locked = agreement_services._lock(agreement)
        hooks.agreement_created(agreement=locked, actor=officer)
    assert open_nodes(agreement) == [("draft", "officer")]
    [draft] = tasks_of(agreement, "draft")
    assert draft.deadline.due_at is None  # no deadline for drafting (settings)

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    draft.refresh_from_db()
    assert (draft.status, draft.data["outcome"]) == (STATUS.DONE, "submit_for_review")
    assert [n for n, _owner in open_nodes(agreement)] == ["review"]


def test_reviewers_and_signing_order_are_set_before_review(officer, reviewers):
    agreement, _signatories = build_agreement(officer, parties=3, reviewers=reviewers)
    workflow_services.reviewer_remove(actor=officer, agreement=agreement, user=reviewers[1])
    with pytest.raises(ValidationFailed, match="already a reviewer"):
        workflow_services.reviewer_name(actor=officer, agreement=agreement, user=reviewers[0])
    with pytest.raises(ValidationFailed, match="not a reviewer"):
        workflow_services.reviewer_name(
            actor=officer, agreement=agreement, user=make_user("nessuno")
        )
    with pytest.raises(PermissionDenied, match="responsible legal officer"):
        workflow_services.reviewer_name(actor=reviewers[0], agreement=agreement, user=reviewers[1])
    parties = list(agreement.parties.order_by("position"))
    with pytest.raises(ValidationFailed, match="one stage only"):
        workflow_services.signing_order_set(
            actor=officer,
            agreement=agreement,
            order="staged",
            stages=[parties[:2], parties[1:]],
        )
    with pytest.raises(ValidationFailed, match="at least one stage"):
        workflow_services.signing_order_set(
            actor=officer, agreement=agreement, order="staged", stages=[]
        )
    workflow_services.signing_order_set(
        actor=officer, agreement=agreement, order="staged", stages=[[parties[2]]]
    )
    from workflow.selectors import named_reviewers, signing_plan

    # Parties left out of the stages sign last, together.
    plan = signing_plan(agreement)
    assert plan["order"] == "staged"
    assert [[party for _name, party in stage] for stage in plan["stages"]] == [
        [parties[2].organisation.name],
        [parties[0].organisation.name, parties[1].organisation.name],
    ]
    assert [r.user for r in named_reviewers(agreement)] == [reviewers[0]]

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    with pytest.raises(TransitionNotAllowed, match="before it is submitted"):
        workflow_services.reviewer_name(actor=officer, agreement=agreement, user=reviewers[1])
    assert [
        e.payload_data["reviewer"] for e in events_for(agreement, AuditAction.REVIEWER_REMOVED)
    ] == ["rev.neri"]


def test_a_rejection_ends_the_process(officer, reviewers):
    from viewflow.workflow.status import PROCESS

    from workflow.engine import process_for

    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement_services.agreement_reject(
        actor=reviewers[1], agreement=agreement, reason="Fuori dalle competenze dell'ente."
    )
    statuses = {
        t.owner.username: (t.status, t.data.get("outcome")) for t in tasks_of(agreement, "review")
    }
    assert statuses == {"rev.neri": (STATUS.DONE, "reject"), "rev.verdi": (STATUS.CANCELED, None)}
    process = process_for(agreement)
    assert (process.status, process.finished is not None) == (PROCESS.DONE, True)
    [finished] = events_for(agreement, AuditAction.PROCESS_FINISHED)
    assert finished.actor_username == "rev.neri"
    assert open_nodes(agreement) == []
