"""The procedure verification report (RULES.md V1) on agreements built by the real services.

A correctly concluded agreement (really signed with the local PKI, really registered) passes every
check; then each check is broken once and exactly that check fails. Today's services refuse every
one of these breaks, so each is simulated as a past system that allowed it (or someone with
database access) would have left the evidence: rows written directly, with the append-only
triggers lifted for that moment where the evidence table is protected (``lifted_triggers``).
"""

import datetime
import json
from contextlib import contextmanager

import pytest
from django.db import transaction
from django.utils import timezone

from agreements.models import AgreementVersion, Signatory
from agreements.services import agreement_approve, agreement_submit_for_review
from agreements.storage import store_bytes
from audit.chain import canonical_json
from audit.models import AuditAction, AuditEvent
from audit.procedure import (
    CHECK_CODES,
    Status,
    concluded_between,
    period_report,
    procedure_report,
    report_pdf,
)
from audit.services import record_event
from audit.testing import drop_triggers, ensure_triggers
from registry.models import Registration
from registry.services import registration_register
from signing.models import Signature, SignatureValidation
from tests.factories import events_for, make_ready_agreement, make_user
from tests.registry.conftest import (  # noqa: F401 (fixtures)
    administrator,
    register,
    registrar,
    signed_agreement,
)
from workflow.services import reviewer_name

pytestmark = pytest.mark.django_db

P, F, NA = Status.PASS, Status.FAIL, Status.NOT_APPLICABLE


@contextmanager
def lifted_triggers():
    """The append-only triggers dropped for the block, then put back: what a past system (or a
    database superuser) could do, and what the report must catch."""
    drop_triggers()
    try:
        yield
    finally:
        ensure_triggers()


def outcomes(report) -> dict[str, Status]:
    (agreement,) = report.agreements
    return {check.code: check.status for check in agreement.checks}


@pytest.fixture
def concluded(signed_agreement, registrar, register):  # noqa: F811
    """A signed agreement and its registration, both through the real services."""
    agreement = signed_agreement(subject="Patto per l'inclusione sociale")
    before = procedure_report(agreement)
    registration = registration_register(actor=registrar, agreement=agreement, register=register)
    agreement.refresh_from_db()
    agreement.report_before_registration = before
    agreement.registration_row = registration
    return agreement


def test_a_correctly_concluded_agreement_passes_every_check(concluded):
    before = concluded.report_before_registration
    assert outcomes(before) == {**dict.fromkeys(CHECK_CODES, P), "registration": NA}
    assert "Not registered yet" in before.agreements[0].check("registration").summary

    report = procedure_report(concluded)

    assert outcomes(report) == dict.fromkeys(CHECK_CODES, P)
    assert report.status == P
    item = report.agreements[0]
    assert item.registration == concluded.registration_row.label
    # Evidence names the events, the hashes and the signature records.
    approved = events_for(concluded, AuditAction.APPROVED)[-1]
    registered = events_for(concluded, AuditAction.REGISTERED)[-1]
    assert (approved.seq,) in [e.events for e in item.check("order").evidence]
    assert (approved.seq,) in [e.events for e in item.check("four_eyes").evidence]
    signature_rows = Signature.objects.filter(signatory__party__agreement=concluded)
    refs = {ref for e in item.check("signatures").evidence for ref in e.refs}
    assert {("signature", str(s.pk)) for s in signature_rows} <= refs
    assert {("validation", str(s.latest.pk)) for s in signature_rows} <= refs
    signed = {value for e in item.check("signatures").evidence for _label, value in e.hashes}
    assert {s.pdf_sha256 for s in signature_rows} <= signed
    assert concluded.signing_document.prepared_sha256 in signed
    registration = item.check("registration")
    assert any(registered.seq in e.events for e in registration.evidence)
    impronta = concluded.registration_row.document_sha256
    assert impronta in {value for e in registration.evidence for _label, value in e.hashes}
    seqs = [e.seq for e in events_for(concluded)]
    assert (seqs[0], seqs[-1]) in [e.events for e in item.check("chain").evidence]

    data = json.loads(report.to_json())
    assert data["schema"] == "stipula/procedure-verification-report/1"
    assert data["status"] == "PASS"
    assert [c["status"] for c in data["agreements"][0]["checks"]] == ["PASS"] * 7
    assert data["chain"]["ok"] is True

    pdf = report_pdf(report)
    assert pdf.startswith(b"%PDF")


# Each break, as it would be left in the evidence ---------------------------------------------


def reviewer_who_drafted(agreement):
    """The approving reviewer is the author of the approved text (a system without four-eyes)."""
    approver = events_for(agreement, AuditAction.APPROVED)[-1].actor_id
    with lifted_triggers():
        AgreementVersion.objects.filter(pk=agreement.approved_version_id).update(author_id=approver)


def signature_over_a_different_hash(agreement):
    """A signature whose signed revision is another document, which a validator reported as not
    covering the approved content, and which a past system accepted all the same."""
    signature = Signature.objects.filter(signatory__party__agreement=agreement).first()
    other = b"%PDF-1.7\n% another text, signed in place of the approved one\n%%EOF\n"
    _name, digest = store_bytes(other, folder="signing", extension="pdf")
    report = {**signature.report, "covers_approved": False}
    with lifted_triggers():
        Signature.objects.filter(pk=signature.pk).update(pdf_sha256=digest, report=report)
        SignatureValidation.objects.filter(signature=signature).update(report=report)


def registration_before_the_last_signature(agreement):
    """The registration is dated before the last signature was made."""
    first = Signature.objects.filter(signatory__party__agreement=agreement).earliest("pk")
    with lifted_triggers():
        Registration.objects.filter(agreement=agreement).update(
            registered_at=first.created_at - datetime.timedelta(minutes=5)
        )


def signatory_not_authorised(agreement):
    """The party's authorised representative is someone else than the certificate's holder."""
    signatory = Signatory.objects.filter(party__agreement=agreement).first()
    Signatory.objects.filter(pk=signatory.pk).update(
        full_name="Giulia Neri", fiscal_code="NREGLI70A41D704X"
    )


def tampered_event(agreement):
    """An event of the agreement edited in place: the organisation of a party changed."""
    event = events_for(agreement, AuditAction.PARTY_ADDED)[0]
    payload = {**event.payload_data, "organisation": "Ente mai aggiunto"}
    with lifted_triggers():
        AuditEvent.objects.filter(seq=event.seq).update(payload=canonical_json(payload))


BREAKS = {
    "four_eyes": reviewer_who_drafted,
    "signatures": signature_over_a_different_hash,
    "registration": registration_before_the_last_signature,
    "signatories": signatory_not_authorised,
    "chain": tampered_event,
}


@pytest.mark.parametrize("broken", list(BREAKS))
def test_each_break_fails_exactly_its_check(concluded, broken):
    BREAKS[broken](concluded)

    report = procedure_report(concluded)

    assert outcomes(report) == {**dict.fromkeys(CHECK_CODES, P), broken: F}
    assert report.status == F
    check = report.agreements[0].check(broken)
    assert check.failures, "a failed check names what failed"
    data = json.loads(report.to_json())
    assert {c["code"]: c["status"] for c in data["agreements"][0]["checks"]}[broken] == "FAIL"


def test_what_each_failure_says(concluded):
    """The failures name the event, the people and the hashes involved."""
    tampered_event(concluded)
    signatory_not_authorised(concluded)
    report = procedure_report(concluded).agreements[0]

    party_added = events_for(concluded, AuditAction.PARTY_ADDED)[0]
    chain = report.check("chain")
    assert chain.failures[0].events == (party_added.seq,)
    assert f"#{party_added.seq}" in chain.failures[0].text
    signatories = report.check("signatories").failures
    assert len(signatories) == 1
    assert "NREGLI70A41D704X" in signatories[0].text


def test_an_agreement_still_in_draft_has_nothing_to_check_past_drafting(officer):
    agreement = make_ready_agreement(officer)

    report = procedure_report(agreement)

    assert outcomes(report) == {
        "order": P,
        "entitled": P,
        "four_eyes": NA,
        "signatures": NA,
        "signatories": NA,
        "registration": NA,
        "chain": P,
    }
    summaries = {check.code: check.summary for check in report.agreements[0].checks}
    assert "No legal review decision" in summaries["four_eyes"]
    assert "Not registered yet" in summaries["registration"]


def test_an_approved_agreement_nobody_signed_yet(officer, reviewer):
    agreement = make_ready_agreement(officer)
    agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement_approve(actor=reviewer, agreement=agreement)

    report = procedure_report(agreement).agreements[0]

    assert {check.code: check.status for check in report.checks} == {
        "order": P,
        "entitled": P,
        "four_eyes": P,
        "signatures": NA,
        "signatories": NA,
        "registration": NA,
        "chain": P,
    }
    signatures = report.check("signatures")
    assert "Nobody has signed yet" in signatures.summary
    # The evidence still shows the approved content and the document prepared from it.
    assert [item.ok for item in signatures.evidence] == [True, True]


def test_an_approval_by_a_reviewer_who_was_not_named_is_not_entitled(officer, reviewer):
    """The lifecycle lets any independent reviewer approve; once reviewers are named for the
    agreement, the report holds the approval to them."""
    agreement = make_ready_agreement(officer)
    named = make_user("named-reviewer", "reviewer")
    reviewer_name(actor=officer, agreement=agreement, user=named)
    agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement_approve(actor=reviewer, agreement=agreement)

    report = procedure_report(agreement).agreements[0]

    assert report.check("entitled").status == F
    assert report.check("four_eyes").status == P
    (failure,) = report.check("entitled").failures
    assert "not among the reviewers named then (named-reviewer)" in failure.text


def test_a_step_out_of_order_and_a_step_by_the_wrong_person_fail_their_checks(officer):
    """Events written as a past system might have: a submission recorded twice (from a state the
    agreement was no longer in), by someone who is not the responsible legal officer."""
    agreement = make_ready_agreement(officer)
    agreement_submit_for_review(actor=officer, agreement=agreement)
    intruder = make_user("intruder", "legal_officer")
    with transaction.atomic():
        record_event(
            actor=intruder,
            action=AuditAction.SUBMITTED_FOR_REVIEW,
            obj=agreement,
            agreement_id=agreement.pk,
            role="legal_officer",
            payload={"before": {"state": "draft"}, "after": {"state": "legal_review"}},
        )

    found = outcomes(procedure_report(agreement))

    assert found["order"] == F
    assert found["entitled"] == F
    assert found["chain"] == P


def test_the_period_report_takes_the_agreements_concluded_in_it(concluded):
    today = timezone.localdate()
    year_ago = today - datetime.timedelta(days=365)

    assert concluded.pk in concluded_between(today, today)
    assert concluded_between(year_ago, year_ago + datetime.timedelta(days=1)) == []
    report = period_report(today, today)
    assert [item.agreement_id for item in report.agreements] == [concluded.pk]
    assert report.status == P
    assert json.loads(report.to_json())["period"] == {
        "from": today.isoformat(),
        "to": today.isoformat(),
    }
    empty = period_report(year_ago, year_ago)
    assert empty.agreements == () and empty.status == NA
    assert report_pdf(empty).startswith(b"%PDF")
