"""The signing phase driven by the process, with real PAdES signatures made through the signing
service: the order (sequential, parallel, staged: the Patto's 15 parties), a decline, a
delegation, a withdrawal, and the tasks, states, audit trail and e-mails they leave."""

import pytest
from django.core import mail
from viewflow.workflow.status import PROCESS, STATUS

from agreements import services as agreement_services
from agreements.models import AgreementState, Organisation
from audit.models import AuditAction
from audit.selectors import verify_chain
from signing.models import Signature
from stipula.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from tests.factories import events_for, make_user
from tests.workflow.conftest import PATTO_PARTIES, all_compliant, approve, build_agreement, sign
from workflow import services as workflow_services
from workflow.engine import process_for
from workflow.models import AgreementTask, SigningDecline, SigningDelegation

pytestmark = pytest.mark.django_db


def sign_tasks(agreement, *statuses):
    tasks = AgreementTask.objects.filter(deadline__agreement=agreement).order_by("pk")
    return [
        t for t in tasks if t.flow_task.name == "sign" and (not statuses or t.status in statuses)
    ]


def open_signers(agreement) -> list[int]:
    return [t.data["signatory"] for t in sign_tasks(agreement, STATUS.ASSIGNED)]


def state_of(agreement):
    agreement.refresh_from_db()
    return agreement.state


def test_sequential_signing_in_party_order(
    pki, officer, reviewers, django_capture_on_commit_callbacks
):
    agreement, signatories = build_agreement(officer, parties=4, reviewers=reviewers[:1])
    workflow_services.signing_order_set(actor=officer, agreement=agreement, order="sequential")
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        approve(agreement, officer, reviewers[0])
    first, second, third, fourth = signatories
    assert open_signers(agreement) == [first.pk]
    assert [m.to for m in mail.outbox if "Firma" in m.subject or "Sign" in m.subject] == [
        [first.user.email]
    ]

    with pytest.raises(TransitionNotAllowed) as refused:
        sign(pki, agreement, third)
    assert str(refused.value) == (
        "It is not your turn to sign yet: first Anna Firmatario 1 "
        f"({PATTO_PARTIES[0][0]} ({agreement.pk})) must sign."
    )
    assert not Signature.objects.exists()

    for expected_next, signatory in [(second, first), (third, second), (fourth, third)]:
        mail.outbox = []
        with django_capture_on_commit_callbacks(execute=True):
            sign(pki, agreement, signatory)
        assert open_signers(agreement) == [expected_next.pk]
        assert [m.to for m in mail.outbox] == [[expected_next.user.email]]
        assert state_of(agreement) == AgreementState.SIGNATURE

    sign(pki, agreement, fourth)
    assert state_of(agreement) == AgreementState.SIGNED
    done = sign_tasks(agreement, STATUS.DONE)
    assert [t.data["signatory"] for t in done] == [s.pk for s in signatories]
    assert [t.data["stage"] for t in done] == [1, 2, 3, 4]
    assert all(t.data["outcome"] == "signed" for t in done)
    # The last signature completed the signing phase and opened the registration task.
    [registration] = [
        t
        for t in AgreementTask.objects.filter(deadline__agreement=agreement)
        if t.flow_task.name == "registration"
    ]
    assert registration.status == STATUS.NEW and registration.data["role"] == "registrar"
    actions = [e.action for e in events_for(agreement)]
    last_signature = len(actions) - 1 - actions[::-1].index(AuditAction.SIGNATURE_APPLIED)
    assert actions[last_signature:] == [
        AuditAction.SIGNATURE_APPLIED,
        AuditAction.TASK_COMPLETED,
        AuditAction.TASK_CREATED,  # registration
        AuditAction.SIGNING_COMPLETED,
    ]


def test_parallel_signing_opens_every_task_at_once(pki, officer, reviewers):
    agreement, signatories = build_agreement(officer, parties=3, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    assert open_signers(agreement) == [s.pk for s in signatories]

    for signatory in reversed(signatories):
        sign(pki, agreement, signatory)
    assert state_of(agreement) == AgreementState.SIGNED
    completed = events_for(agreement, AuditAction.TASK_COMPLETED)
    assert [e.actor_username for e in completed[-3:]] == [
        s.user.username for s in reversed(signatories)
    ]


def test_the_pattos_fifteen_parties_sign_in_stages(pki, officer, reviewers):
    """Public bodies first, then the private partners, the Conference of Mayors' chair last."""
    agreement, signatories = build_agreement(officer, parties=15, reviewers=reviewers)
    parties = list(agreement.parties.select_related("organisation").order_by("position"))
    chair = parties[-1]
    public = [p for p in parties[:-1] if p.organisation.kind == Organisation.Kind.PUBLIC_BODY]
    private = [p for p in parties if p.organisation.kind == Organisation.Kind.PRIVATE_ENTITY]
    assert (len(public), len(private)) == (9, 5)
    workflow_services.signing_order_set(
        actor=officer, agreement=agreement, order="staged", stages=[public, private, [chair]]
    )
    [order_event] = events_for(agreement, AuditAction.SIGNING_ORDER_SET)
    assert order_event.payload_data["stages"][2] == [chair.organisation.name]

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    for reviewer in reviewers:
        workflow_services.review_submit(
            actor=reviewer,
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
        )
    assert state_of(agreement) == AgreementState.SIGNATURE
    by_party = {s.party_id: s for s in signatories}

    stages = [[by_party[p.pk] for p in stage] for stage in (public, private, [chair])]
    for number, stage in enumerate(stages, start=1):
        assert sorted(open_signers(agreement)) == sorted(s.pk for s in stage)
        if number < 3:
            with pytest.raises(TransitionNotAllowed, match="not your turn"):
                sign(pki, agreement, stages[number][0])
        for signatory in stage:
            sign(pki, agreement, signatory)

    assert state_of(agreement) == AgreementState.SIGNED
    done = sign_tasks(agreement, STATUS.DONE)
    assert len(done) == 15
    assert [t.data["stage"] for t in done] == [1] * 9 + [2] * 5 + [3]
    assert Signature.objects.filter(signatory__party__agreement=agreement).count() == 15
    # Drafting and one review, 15 signatures, then registration.
    assert len(events_for(agreement, AuditAction.TASK_CREATED)) == 1 + 2 + 15 + 1
    assert len(events_for(agreement, AuditAction.TASK_COMPLETED)) == 1 + 2 + 15
    status = verify_chain()
    assert status.ok, status.problem


def test_a_party_declines_and_the_officer_resumes(
    pki, officer, reviewers, django_capture_on_commit_callbacks
):
    agreement, signatories = build_agreement(officer, parties=3, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    first, second, third = signatories
    sign(pki, agreement, first)

    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        workflow_services.signing_decline(
            actor=second.user,
            agreement=agreement,
            signatory=second,
            reason="Il Consiglio non ha ancora deliberato l'adesione.",
        )
    assert state_of(agreement) == AgreementState.SIGNATURE
    assert open_signers(agreement) == []
    statuses = {
        t.data["signatory"]: (t.status, t.data.get("outcome")) for t in sign_tasks(agreement)
    }
    assert statuses == {
        first.pk: (STATUS.DONE, "signed"),
        second.pk: (STATUS.DONE, "declined"),
        third.pk: (STATUS.CANCELED, None),
    }
    # The officer decides, told why (in Italian, their language by default).
    [decision_mail] = [m for m in mail.outbox if m.to == [officer.email]]
    assert "Il Consiglio non ha ancora deliberato" in decision_mail.body
    [decline] = SigningDecline.objects.all()
    [event] = events_for(agreement, AuditAction.SIGNING_DECLINED)
    assert event.reason == decline.reason and event.payload_data["signatory"] == second.pk
    [cancelled] = events_for(agreement, AuditAction.TASK_CANCELLED)
    assert cancelled.payload_data["cause"] == "decline"
    with pytest.raises(TransitionNotAllowed, match="Signing is suspended: Anna Firmatario 2"):
        sign(pki, agreement, third)

    with pytest.raises(PermissionDenied):
        workflow_services.signing_resume(actor=third.user, agreement=agreement)
    workflow_services.signing_resume(actor=officer, agreement=agreement, note="Delibera adottata")
    assert open_signers(agreement) == [second.pk, third.pk]
    sign(pki, agreement, second)
    sign(pki, agreement, third)
    assert state_of(agreement) == AgreementState.SIGNED
    assert events_for(agreement, AuditAction.SIGNING_RESUMED)[0].reason == "Delibera adottata"


def test_a_decline_is_refused_after_signing_and_needs_a_reason(pki, officer, reviewers):
    agreement, (first, second) = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    sign(pki, agreement, first)
    with pytest.raises(ValidationFailed, match="already signed"):
        workflow_services.signing_decline(
            actor=first.user, agreement=agreement, signatory=first, reason="Ripensamento"
        )
    with pytest.raises(ValidationFailed, match="Give a reason"):
        workflow_services.signing_decline(
            actor=second.user, agreement=agreement, signatory=second, reason=" "
        )
    with pytest.raises(PermissionDenied, match="Only the signatory"):
        workflow_services.signing_decline(
            actor=first.user, agreement=agreement, signatory=second, reason="Non firmo"
        )
    assert open_signers(agreement) == [second.pk]


def test_a_signatory_delegates_to_someone_authorised_for_the_same_party(
    pki, officer, reviewers, django_capture_on_commit_callbacks
):
    agreement, (first, second) = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    deputy = make_user("vicesindaco", "signatory", first_name="Carla", last_name="Vice")
    stranger = make_user("estraneo", "signatory")
    agreement_services.organisation_add_member(
        actor=None, organisation=first.party.organisation, user=deputy, title="Vicesindaco"
    )

    with pytest.raises(ValidationFailed, match="not authorised to act for"):
        workflow_services.signing_delegate(
            actor=first.user, agreement=agreement, signatory=first, to_user=stranger, act="Decreto"
        )
    with pytest.raises(ValidationFailed, match="act that authorises"):
        workflow_services.signing_delegate(
            actor=first.user, agreement=agreement, signatory=first, to_user=deputy, act=""
        )
    with pytest.raises(PermissionDenied):
        workflow_services.signing_delegate(
            actor=second.user, agreement=agreement, signatory=first, to_user=deputy, act="D"
        )

    original = first.user
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        delegation = workflow_services.signing_delegate(
            actor=original,
            agreement=agreement,
            signatory=first,
            to_user=deputy,
            act="Decreto sindacale n. 12/2026 di delega alla firma",
            title="Vicesindaco",
        )
    first.refresh_from_db()
    # The delegate is now the signatory of record, authorised by the act of delegation.
    assert (first.user, first.full_name, first.title) == (deputy, "Carla Vice", "Vicesindaco")
    assert first.authorising_act == "Decreto sindacale n. 12/2026 di delega alla firma"
    assert delegation.replaced["user"] == original.username
    [task] = sign_tasks(agreement, STATUS.ASSIGNED)[:1]
    assert task.data["signatory"] == first.pk and task.owner == deputy
    [event] = events_for(agreement, AuditAction.TASK_DELEGATED)
    assert event.payload_data["from"] == original.username
    assert event.payload_data["to"] == "vicesindaco"
    assert event.payload_data["before"]["authorising_act"] == "Delibera n. 1/2026"
    assert event.payload_data["task"] == task.pk
    [to_deputy] = mail.outbox
    assert to_deputy.to == [deputy.email] and "Decreto sindacale n. 12/2026" in to_deputy.body

    with pytest.raises(PermissionDenied, match="only for themselves"):
        sign(pki, agreement, first, actor=original)
    sign(pki, agreement, first)  # by the delegate, the signatory of record
    sign(pki, agreement, second)
    assert state_of(agreement) == AgreementState.SIGNED
    assert Signature.objects.get(signatory=first).report["signer_fingerprint_sha256"]
    assert SigningDelegation.objects.count() == 1


def test_withdrawal_cancels_the_open_tasks(
    pki, officer, reviewers, django_capture_on_commit_callbacks
):
    agreement, signatories = build_agreement(officer, parties=3, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    sign(pki, agreement, signatories[0])
    # The signing phase is after approval: withdrawal is still possible before it ends.
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        agreement_services.agreement_withdraw(
            actor=officer, agreement=agreement, reason="Il finanziamento è venuto meno."
        )
    assert state_of(agreement) == AgreementState.WITHDRAWN
    assert sign_tasks(agreement, STATUS.ASSIGNED, STATUS.NEW) == []
    cancelled = events_for(agreement, AuditAction.TASK_CANCELLED)
    assert sorted(e.payload_data["signatory"] for e in cancelled) == [
        signatories[1].pk,
        signatories[2].pk,
    ]
    assert all(e.reason == "Il finanziamento è venuto meno." for e in cancelled)
    process = process_for(agreement)
    process.refresh_from_db()
    assert process.status == PROCESS.CANCELED
    [event] = events_for(agreement, AuditAction.PROCESS_CANCELLED)
    assert event.actor_username == "officer"
    told = sorted(m.to[0] for m in mail.outbox if m.to != [officer.email])
    assert told == sorted([signatories[1].user.email, signatories[2].user.email])


def test_an_agreement_without_a_process_signs_in_any_order(pki, officer, reviewer, settings):
    settings.STIPULA_WORKFLOW_AUTOSTART = False
    agreement, (first, second) = build_agreement(officer, parties=2)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement_services.agreement_approve(actor=reviewer, agreement=agreement)
    agreement.refresh_from_db()
    assert process_for(agreement) is None
    sign(pki, agreement, second)
    sign(pki, agreement, first)
    assert state_of(agreement) == AgreementState.SIGNED
    assert not AgreementTask.objects.exists()


def test_a_process_started_late_catches_up_with_the_signatures(pki, officer, reviewer, settings):
    """An agreement approved before the workflow existed: the first signature's transition-less
    hooks do nothing, the process started afterwards gives tasks only to those still to sign."""
    settings.STIPULA_WORKFLOW_AUTOSTART = False
    agreement, (first, second, third) = build_agreement(officer, parties=3)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement_services.agreement_approve(actor=reviewer, agreement=agreement)
    agreement.refresh_from_db()
    sign(pki, agreement, second)

    settings.STIPULA_WORKFLOW_AUTOSTART = True
    workflow_services.process_start(actor=officer, agreement=agreement)
    assert open_signers(agreement) == [first.pk, third.pk]
    sign(pki, agreement, first)
    sign(pki, agreement, third)
    assert state_of(agreement) == AgreementState.SIGNED
    [started] = events_for(agreement, AuditAction.PROCESS_STARTED)
    assert started.payload_data["state"] == "signature"


def test_a_pending_signature_keeps_the_turn_until_it_passes(pki, officer, reviewers):
    """Only PASSED advances the process: an INDETERMINATE signature (revocation data out of
    reach) leaves the signatory's task open; validated again once it is back, it completes it
    and the next signatory's turn comes."""
    from signing.services import signature_revalidate

    agreement, (first, second) = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    workflow_services.signing_order_set(actor=officer, agreement=agreement, order="sequential")
    approve(agreement, officer, reviewers[0])
    with pki.offline("ocsp", "crls"):
        pending = sign(pki, agreement, first)
    assert pending.indication == "INDETERMINATE"
    [task] = sign_tasks(agreement, STATUS.ASSIGNED)
    assert (task.data["signatory"], task.data["indication"]) == (first.pk, "INDETERMINATE")
    with pytest.raises(TransitionNotAllowed, match="not your turn"):
        sign(pki, agreement, second)

    signature_revalidate(actor=first.user, signature=pending, trust_roots=[pki.root_der])
    task.refresh_from_db()
    assert (task.status, task.data["outcome"]) == (STATUS.DONE, "signed")
    assert open_signers(agreement) == [second.pk]
    sign(pki, agreement, second)
    assert state_of(agreement) == AgreementState.SIGNED
