import hashlib

import pytest
from django.core.files.storage import default_storage
from pypdf import PdfReader

from agreements import negotiation, services
from agreements.models import AgreementState, AgreementVersion, Comment, ProposalStatus
from audit.models import AuditAction
from stipula.errors import (
    DocumentRejected,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from tests.factories import events_for, make_ready_agreement, make_user, sample_docx

pytestmark = pytest.mark.django_db


def pdf_text(name):
    with default_storage.open(name, "rb") as handle:
        return "".join(page.extract_text() for page in PdfReader(handle).pages)


@pytest.fixture
def negotiating(officer):
    agreement = make_ready_agreement(officer)
    services.agreement_open_negotiation(actor=officer, agreement=agreement)
    agreement.refresh_from_db()
    return agreement


def representatives(agreement):
    return [user for user, _party in negotiation.party_representatives(agreement)]


def test_versions_carry_docx_and_pdf_with_their_hashes(officer):
    agreement = make_ready_agreement(officer)
    version = agreement.current_version

    docx = default_storage.open(version.docx.name, "rb").read()
    pdf = default_storage.open(version.pdf.name, "rb").read()
    assert hashlib.sha256(docx).hexdigest() == version.docx_sha256
    assert hashlib.sha256(pdf).hexdigest() == version.pdf_sha256
    assert pdf.startswith(b"%PDF-")
    assert "Testo della convenzione." in pdf_text(version.pdf.name)
    created = events_for(agreement, AuditAction.VERSION_CREATED)[-1]
    assert created.document_list == [
        {"name": "v1.docx", "sha256": version.docx_sha256},
        {"name": "v1.pdf", "sha256": version.pdf_sha256},
    ]


def test_a_whole_round(officer, negotiating):
    first_rep, second_rep = representatives(negotiating)
    base = negotiating.current_version

    round_ = negotiation.round_open(actor=officer, agreement=negotiating, note="Prima lettura")
    assert {i.user for i in round_.invitations.all()} == {first_rep, second_rep}

    question = negotiation.comment_add(
        actor=first_rep, negotiation_round=round_, text="Chi convoca il Forum?", anchor="Art. 3"
    )
    answer = negotiation.comment_add(
        actor=officer, negotiation_round=round_, text="Il Presidente.", parent=question
    )
    assert list(question.replies.all()) == [answer]

    kept = negotiation.proposal_submit(
        actor=first_rep,
        negotiation_round=round_,
        docx=sample_docx("Testo con il Forum convocato dal Presidente."),
        note="Aggiunto il Forum",
    )
    dropped = negotiation.proposal_submit(
        actor=second_rep,
        negotiation_round=round_,
        docx=sample_docx("Testo senza impegni."),
        note="Via gli impegni",
    )
    version = negotiation.proposal_accept(actor=officer, proposal=kept, note="Condivisa")
    negotiation.proposal_reject(actor=officer, proposal=dropped, note="Snatura il patto")
    negotiation.round_close(actor=officer, negotiation_round=round_)

    negotiating.refresh_from_db()
    kept.refresh_from_db()
    dropped.refresh_from_db()
    assert negotiating.current_version == version
    assert version.source == AgreementVersion.Source.PROPOSAL
    assert version.parent == base and version.number == 2
    assert version.docx_sha256 == kept.docx_sha256
    assert "convocato dal Presidente" in pdf_text(version.pdf.name)
    assert kept.status == ProposalStatus.ACCEPTED and kept.resulting_version == version
    assert dropped.status == ProposalStatus.REJECTED
    assert dropped.decision_note == "Snatura il patto"
    actions = [e.action for e in events_for(negotiating)][-8:]
    assert actions == [
        AuditAction.ROUND_OPENED,
        AuditAction.COMMENT_ADDED,
        AuditAction.COMMENT_ADDED,
        AuditAction.PROPOSAL_SUBMITTED,
        AuditAction.PROPOSAL_SUBMITTED,
        AuditAction.PROPOSAL_ACCEPTED,
        AuditAction.PROPOSAL_REJECTED,
        AuditAction.ROUND_CLOSED,
    ]
    submitted = events_for(negotiating, AuditAction.PROPOSAL_SUBMITTED)[0]
    assert {"name": f"proposal-{kept.pk}.docx", "sha256": kept.docx_sha256} in (
        submitted.document_list
    )
    comment_event = events_for(negotiating, AuditAction.COMMENT_ADDED)[0]
    assert comment_event.payload_data["anchor"] == "Art. 3"
    assert comment_event.document_list[0]["sha256"] == base.docx_sha256


def test_only_invited_people_take_part(officer, negotiating):
    first_rep, second_rep = representatives(negotiating)
    outsider = make_user("outsider", "signatory")
    with pytest.raises(ValidationFailed, match="act for a party"):
        negotiation.round_open(actor=officer, agreement=negotiating, invitees=[outsider])
    round_ = negotiation.round_open(actor=officer, agreement=negotiating, invitees=[first_rep])

    with pytest.raises(PermissionDenied, match="invited"):
        negotiation.comment_add(actor=second_rep, negotiation_round=round_, text="Io?")
    with pytest.raises(PermissionDenied, match="invited"):
        negotiation.proposal_submit(actor=outsider, negotiation_round=round_, docx=sample_docx("x"))
    assert Comment.objects.count() == 0
    refusals = events_for(negotiating, AuditAction.ACTION_REFUSED)
    assert [r.payload_data["attempted"] for r in refusals] == [
        "negotiation.open_round",
        "negotiation.comment",
        "negotiation.propose",
    ]


def test_decisions_belong_to_the_legal_officer(officer, negotiating):
    rep = representatives(negotiating)[0]
    round_ = negotiation.round_open(actor=officer, agreement=negotiating)
    proposal = negotiation.proposal_submit(
        actor=rep, negotiation_round=round_, docx=sample_docx("Nuovo testo")
    )

    with pytest.raises(PermissionDenied, match="legal officer"):
        negotiation.proposal_accept(actor=rep, proposal=proposal)
    with pytest.raises(ValidationFailed, match="Say why"):
        negotiation.proposal_reject(actor=officer, proposal=proposal, note=" ")
    with pytest.raises(ValidationFailed, match="pending proposals"):
        negotiation.round_close(actor=officer, negotiation_round=round_)

    negotiation.proposal_accept(actor=officer, proposal=proposal)
    with pytest.raises(TransitionNotAllowed, match="already decided"):
        negotiation.proposal_reject(actor=officer, proposal=proposal, note="ripensamento")


def test_no_rounds_outside_negotiation(officer):
    agreement = make_ready_agreement(officer)
    with pytest.raises(TransitionNotAllowed, match="only while it is in negotiation"):
        negotiation.round_open(actor=officer, agreement=agreement)
    assert agreement.rounds.count() == 0


def test_a_bad_proposal_is_refused_and_nothing_is_stored(officer, negotiating):
    rep = representatives(negotiating)[0]
    round_ = negotiation.round_open(actor=officer, agreement=negotiating)

    with pytest.raises(DocumentRejected, match="PDF, not a Word document"):
        negotiation.proposal_submit(actor=rep, negotiation_round=round_, docx=b"%PDF-1.4 no")

    assert round_.proposals.count() == 0
    assert negotiating.versions.count() == 1
    refusal = events_for(negotiating, AuditAction.ACTION_REFUSED)[-1]
    assert refusal.payload_data["attempted"] == "negotiation.propose"
    assert refusal.actor_username == rep.username


def test_versions_cannot_be_changed_in_the_database(officer):
    from django.db import DatabaseError, connection, transaction

    agreement = make_ready_agreement(officer)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE agreements_agreementversion SET note = 'ritoccata'")
    assert agreement.versions.get().note == "v1"
    assert agreement.state == AgreementState.DRAFT


def test_review_waits_for_the_open_round_to_close(officer, negotiating):
    round_ = negotiation.round_open(actor=officer, agreement=negotiating)

    with pytest.raises(TransitionNotAllowed, match="Close the open negotiation round first"):
        services.agreement_submit_for_review(actor=officer, agreement=negotiating)

    negotiation.round_close(actor=officer, negotiation_round=round_)
    services.agreement_submit_for_review(actor=officer, agreement=negotiating)
    negotiating.refresh_from_db()
    assert negotiating.state == AgreementState.LEGAL_REVIEW
