import hashlib

import pytest
from django.core import mail

from agreements import services
from agreements.models import Agreement, AgreementState
from audit.models import AuditAction, AuditEvent
from stipula.errors import (
    ConcurrentChange,
    DocumentRejected,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from tests.factories import (
    add_party_with_signatory,
    events_for,
    make_agreement,
    make_ready_agreement,
    make_user,
    sample_docx,
)

pytestmark = pytest.mark.django_db


def state_of(agreement):
    return Agreement.objects.get(pk=agreement.pk).state


def test_walk_to_signature_records_each_step(officer, reviewer):
    agreement = make_ready_agreement(officer, parties=3)

    services.agreement_open_negotiation(actor=officer, agreement=agreement)
    services.agreement_submit_for_review(actor=officer, agreement=agreement)
    services.agreement_request_changes(
        actor=reviewer, agreement=agreement, reason="Manca la clausola sulla privacy."
    )
    assert state_of(agreement) == AgreementState.NEGOTIATION
    version2 = services.version_create(
        actor=officer, agreement=agreement, docx=sample_docx("Con clausola privacy."), note="v2"
    )
    services.agreement_submit_for_review(actor=officer, agreement=agreement)
    services.agreement_approve(actor=reviewer, agreement=agreement)

    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE
    assert agreement.approved_version == version2
    assert version2.parent.number == 1
    # The lifecycle's own events; the process's (workflow.*) are checked in tests/workflow.
    actions = [e.action for e in events_for(agreement) if not e.action.startswith("workflow.")]
    assert actions[-7:] == [
        AuditAction.NEGOTIATION_OPENED,
        AuditAction.SUBMITTED_FOR_REVIEW,
        AuditAction.CHANGES_REQUESTED,
        AuditAction.VERSION_CREATED,
        AuditAction.SUBMITTED_FOR_REVIEW,
        AuditAction.APPROVED,
        AuditAction.SIGNING_PREPARED,
    ]
    changes = events_for(agreement, AuditAction.CHANGES_REQUESTED)[0]
    assert changes.reason == "Manca la clausola sulla privacy."
    assert changes.payload_data["before"] == {"state": "legal_review"}
    assert changes.payload_data["after"] == {"state": "negotiation"}
    assert changes.actor_username == "reviewer" and changes.actor_role == "reviewer"
    approved = events_for(agreement, AuditAction.APPROVED)[0]
    docx_hash = hashlib.sha256(version2.docx.open("rb").read()).hexdigest()
    pdf_hash = hashlib.sha256(version2.pdf.open("rb").read()).hexdigest()
    assert approved.document_list == [
        {"name": "v2.docx", "sha256": docx_hash},
        {"name": "v2.pdf", "sha256": pdf_hash},
    ]


def test_state_cannot_be_assigned_directly(officer):
    agreement = make_agreement(officer)
    with pytest.raises(AttributeError):
        agreement.state = AgreementState.REGISTERED


def test_review_needs_two_parties_with_signatories_and_a_version(officer):
    agreement = make_agreement(officer)
    add_party_with_signatory(agreement, officer, name="Comune di Viareggio")

    with pytest.raises(TransitionNotAllowed) as refused:
        services.agreement_submit_for_review(actor=officer, agreement=agreement)

    message = str(refused.value)
    assert "at least two parties" in message
    assert "Create a draft version" in message
    assert state_of(agreement) == AgreementState.DRAFT
    refusal = events_for(agreement, AuditAction.ACTION_REFUSED)[-1]
    assert refusal.payload_data["attempted"] == "agreement.submit_for_review"
    assert refusal.payload_data["code"] == "transition_not_allowed"
    assert not events_for(agreement, AuditAction.SUBMITTED_FOR_REVIEW)


def test_party_without_signatory_is_named(officer):
    from tests.factories import make_organisation

    agreement = make_ready_agreement(officer)
    lonely = make_organisation("Confcommercio Versilia")
    services.agreement_add_party(actor=officer, agreement=agreement, organisation=lonely)

    with pytest.raises(TransitionNotAllowed, match="Confcommercio Versilia"):
        services.agreement_submit_for_review(actor=officer, agreement=agreement)


def test_illegal_transition_names_state_and_allowed_ones(officer, reviewer):
    agreement = make_ready_agreement(officer)

    with pytest.raises(TransitionNotAllowed) as refused:
        services.agreement_approve(actor=reviewer, agreement=agreement)

    assert "Draft" in str(refused.value)
    assert "Open negotiation" in str(refused.value)
    assert "Submit for legal review" in str(refused.value)
    assert state_of(agreement) == AgreementState.DRAFT
    assert events_for(agreement, AuditAction.ACTION_REFUSED)[-1].payload_data["state"] == "draft"


def test_four_eyes_drafter_cannot_review(officer):
    # The officer is also a reviewer: still may not review their own draft.
    from django.contrib.auth.models import Group

    officer.groups.add(Group.objects.get(name="reviewer"))
    agreement = make_ready_agreement(officer)
    services.agreement_submit_for_review(actor=officer, agreement=agreement)

    with pytest.raises(PermissionDenied, match="four-eyes"):
        services.agreement_approve(actor=officer, agreement=agreement)

    assert state_of(agreement) == AgreementState.LEGAL_REVIEW
    refusal = events_for(agreement, AuditAction.ACTION_REFUSED)[-1]
    assert refusal.actor_username == "officer"
    assert refusal.payload_data["code"] == "permission_denied"


def test_only_the_responsible_officer_moves_their_agreement(officer):
    other_officer = make_user("other", "legal_officer")
    signatory = make_user("sig", "signatory")
    agreement = make_ready_agreement(officer)

    for intruder in (other_officer, signatory):
        with pytest.raises(PermissionDenied, match="responsible legal officer"):
            services.agreement_open_negotiation(actor=intruder, agreement=agreement)
    assert state_of(agreement) == AgreementState.DRAFT
    assert len(events_for(agreement, AuditAction.ACTION_REFUSED)) == 2


def test_reasons_are_required(officer, reviewer):
    agreement = make_ready_agreement(officer)
    services.agreement_submit_for_review(actor=officer, agreement=agreement)

    with pytest.raises(ValidationFailed, match="Give a reason"):
        services.agreement_reject(actor=reviewer, agreement=agreement, reason="   ")
    services.agreement_reject(actor=reviewer, agreement=agreement, reason="Ente non competente")

    agreement.refresh_from_db()
    assert agreement.state == AgreementState.REJECTED
    assert agreement.closing_reason == "Ente non competente"


def test_withdraw_from_any_state_before_signed(officer, reviewer):
    admin = make_user("admin", "administrator")
    for stop in ["draft", "negotiation", "legal_review", "signature"]:
        agreement = make_ready_agreement(officer)
        if stop != "draft":
            services.agreement_open_negotiation(actor=officer, agreement=agreement)
        if stop in ("legal_review", "signature"):
            services.agreement_submit_for_review(actor=officer, agreement=agreement)
        if stop == "signature":
            services.agreement_approve(actor=reviewer, agreement=agreement)
        assert state_of(agreement) == stop
        services.agreement_withdraw(actor=admin, agreement=agreement, reason="Revoca")
        assert state_of(agreement) == AgreementState.WITHDRAWN
        event = events_for(agreement, AuditAction.WITHDRAWN)[0]
        assert event.actor_role == "administrator"
        assert event.payload_data["before"] == {"state": stop}

    with pytest.raises(TransitionNotAllowed, match="final state"):
        services.agreement_withdraw(actor=officer, agreement=agreement, reason="di nuovo")


def test_signing_completes_only_with_every_signature_valid(officer, reviewer):
    from signing.models import Signature, SignatureValidation

    def outcome(signatory, indication):
        signature = Signature.objects.create(signatory=signatory, indication=indication)
        SignatureValidation.objects.create(signature=signature, indication=indication)

    agreement = make_ready_agreement(officer)
    services.agreement_submit_for_review(actor=officer, agreement=agreement)
    services.agreement_approve(actor=reviewer, agreement=agreement)
    first, second = [s for p in agreement.parties.all() for s in p.signatories.all()]
    # Stand-ins for validation outcomes: this test is about the guard that reads them (real
    # signatures are in tests/signing/test_services*.py).
    outcome(first, Signature.Indication.PASSED)
    outcome(second, Signature.Indication.INDETERMINATE)

    with pytest.raises(TransitionNotAllowed) as refused:
        services.agreement_complete_signing(actor=None, agreement=agreement)
    assert second.full_name in str(refused.value)
    assert first.full_name not in str(refused.value)
    assert state_of(agreement) == AgreementState.SIGNATURE

    outcome(second, Signature.Indication.PASSED)
    services.agreement_complete_signing(actor=None, agreement=agreement)
    assert state_of(agreement) == AgreementState.SIGNED
    assert events_for(agreement, AuditAction.SIGNING_COMPLETED)[0].actor_role == "system"


def test_the_state_machine_allows_exactly_these_moves():
    # (transition, source states, target): the lifecycle of the issue, side exits included.
    expected = {
        "open_negotiation": ({"draft"}, "negotiation"),
        "submit_for_review": ({"draft", "negotiation"}, "legal_review"),
        "request_changes": ({"legal_review"}, "negotiation"),
        "approve": ({"legal_review"}, "signature"),
        "reject": ({"legal_review"}, "rejected"),
        "withdraw": ({"draft", "negotiation", "legal_review", "signature"}, "withdrawn"),
        "complete_signing": ({"signature"}, "signed"),
        "register": ({"signed"}, "registered"),
        "annul": ({"registered"}, "annulled"),
    }
    actual = {}
    for transition in Agreement._meta.get_field("state").get_all_transitions(Agreement):
        sources, targets = actual.setdefault(transition.name, (set(), set()))
        sources.add(transition.source)
        targets.add(transition.target)
    assert {name: (s, t.pop()) for name, (s, t) in actual.items()} == expected


def test_stale_page_gets_a_conflict_message(officer):
    agreement = make_ready_agreement(officer)
    services.agreement_open_negotiation(actor=officer, agreement=agreement)

    with pytest.raises(ConcurrentChange, match="Someone else changed this agreement"):
        services.agreement_submit_for_review(
            actor=officer, agreement=agreement, expected_state="draft"
        )
    assert state_of(agreement) == AgreementState.NEGOTIATION


def test_no_edits_after_review_starts(officer):
    agreement = make_ready_agreement(officer)
    services.agreement_submit_for_review(actor=officer, agreement=agreement)

    with pytest.raises(TransitionNotAllowed, match="only in draft or negotiation"):
        services.version_create(actor=officer, agreement=agreement, docx=sample_docx("x"))
    assert agreement.versions.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.7 not a docx", "The file is a PDF, not a Word document"),
        (b"just some text", "The file is not a Word document"),
    ],
)
def test_bad_documents_are_refused(officer, data, message):
    agreement = make_agreement(officer)
    with pytest.raises(DocumentRejected, match=message):
        services.version_create(actor=officer, agreement=agreement, docx=data)
    agreement.refresh_from_db()
    assert agreement.current_version is None
    assert events_for(agreement, AuditAction.ACTION_REFUSED)[-1].payload_data["message"]


def test_signatory_must_act_for_the_party(officer):
    agreement = make_agreement(officer)
    party = add_party_with_signatory(agreement, officer)
    stranger = make_user("stranger", "signatory")

    with pytest.raises(ValidationFailed, match="does not act for"):
        services.agreement_add_signatory(
            actor=officer,
            agreement=agreement,
            party=party,
            user=stranger,
            title="Sindaco",
            authorising_act="Decreto",
        )


def test_notification_is_sent_after_commit(officer, reviewer, django_capture_on_commit_callbacks):
    agreement = make_ready_agreement(officer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.agreement_submit_for_review(actor=officer, agreement=agreement)
    assert len(callbacks) == 1
    assert mail.outbox == []

    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [reviewer.email]
    assert agreement.subject in mail.outbox[0].subject


def test_every_event_is_chained(officer, reviewer):
    from audit.selectors import verify_chain

    agreement = make_ready_agreement(officer)
    services.agreement_submit_for_review(actor=officer, agreement=agreement)
    with pytest.raises(PermissionDenied):
        services.agreement_approve(actor=officer, agreement=agreement)
    status = verify_chain()
    assert status.ok, status.problem
    assert status.count == AuditEvent.objects.count()
