"""Preparing and signing an approved agreement through the services: real PDF, real pyHanko,
the local PKI's real TSA and OCSP responder, real audit chain."""

import hashlib

import pytest
from django.conf import settings

from agreements import services as agreement_services
from agreements.models import AgreementState
from agreements.storage import read_bytes
from audit.models import AuditAction
from signing import pades
from signing.errors import CertificateRejected, SignatureInvalid, WrongPassword
from signing.models import Signature, SigningDocument
from signing.services import signature_apply_pkcs12, signing_prepare
from stipula.errors import (
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from tests.factories import events_for, make_agreement, make_organisation, make_user, sample_docx
from tests.signing.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _add_party(agreement, officer, user, *, fiscal_code):
    organisation = make_organisation(members=[user])
    party = agreement_services.agreement_add_party(
        actor=officer, agreement=agreement, organisation=organisation
    )
    return agreement_services.agreement_add_signatory(
        actor=officer,
        agreement=agreement,
        party=party,
        user=user,
        title="Legale rappresentante",
        authorising_act="Delibera n. 1/2026",
        fiscal_code=fiscal_code,
    )


@pytest.fixture
def setup(pki, officer):
    return make_signing_setup(pki, officer)


def make_signing_setup(pki, officer):
    """An approved agreement in «signature» whose two signatories hold the PKI's rossi and verdi
    certificates (with their fiscal codes, RULES.md S8)."""
    rossi = make_user("mrossi", "signatory", first_name="Mario", last_name="Rossi")
    verdi = make_user("lverdi", "signatory", first_name="Luigi", last_name="Verdi")
    agreement = make_agreement(officer)
    first = _add_party(
        agreement, officer, rossi, fiscal_code=pades.fiscal_code_of(pki.cert("rossi"))
    )
    second = _add_party(
        agreement, officer, verdi, fiscal_code=pades.fiscal_code_of(pki.cert("verdi"))
    )
    agreement_services.version_create(
        actor=officer, agreement=agreement, docx=sample_docx(), note="v1"
    )
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement_services.agreement_approve(actor=make_user("rev", "reviewer"), agreement=agreement)
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE
    return {"agreement": agreement, "officer": officer, "signatories": [first, second]}


def _sign(pki, agreement, signatory, label, *, password=PASSWORD, tsa=True):
    return signature_apply_pkcs12(
        actor=signatory.user,
        agreement=agreement,
        signatory=signatory,
        pkcs12=pki.pkcs12(label, PASSWORD),
        password=password,
        timestamper_url=pki.tsa_url if tsa else None,
        trust_roots=[pki.root_der],
    )


def _signing_files() -> list:
    folder = settings.MEDIA_ROOT / "signing"
    return sorted(p.name for p in folder.rglob("*.pdf")) if folder.exists() else []


def _refusals(agreement, attempted):
    return [
        e
        for e in events_for(agreement, AuditAction.ACTION_REFUSED)
        if e.payload_data["attempted"] == attempted
    ]


def test_approval_freezes_the_approved_pdf_with_one_field_per_signatory(setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document

    approved = agreement.approved_version
    prepared = read_bytes(document.prepared_pdf.name)
    assert prepared.startswith(read_bytes(approved.pdf.name))
    assert document.prepared_sha256 == hashlib.sha256(prepared).hexdigest()
    assert document.current_sha256 == document.prepared_sha256
    assert document.certified is False
    assert document.fields == {
        str(first.pk): "Firma_1_mario-rossi",
        str(second.pk): "Firma_2_luigi-verdi",
    }
    [approved_event] = events_for(agreement, AuditAction.APPROVED)
    [event] = events_for(agreement, AuditAction.SIGNING_PREPARED)
    # Same transaction as the approval, right after it in the chain.
    assert event.seq == approved_event.seq + 1
    assert [d["sha256"] for d in event.document_list] == [
        approved.pdf_sha256,
        document.prepared_sha256,
    ]
    assert event.actor_username == "rev"


def test_prepare_is_refused_twice_and_for_anyone_but_the_officer(setup):
    agreement = setup["agreement"]
    with pytest.raises(PermissionDenied):
        signing_prepare(actor=setup["signatories"][0].user, agreement=agreement)
    with pytest.raises(ValidationFailed, match="already prepared"):
        signing_prepare(actor=setup["officer"], agreement=agreement)
    assert SigningDocument.objects.count() == 1
    assert len(_refusals(agreement, "signing.prepare")) == 2


def test_prepare_is_refused_before_approval(officer):
    from tests.factories import make_ready_agreement

    agreement = make_ready_agreement(officer)
    with pytest.raises(TransitionNotAllowed, match="only in state «Signature»"):
        signing_prepare(actor=officer, agreement=agreement)
    assert not SigningDocument.objects.exists()


def test_two_signatories_sign_and_the_agreement_is_signed(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document

    signature = _sign(pki, agreement, first, "rossi")

    assert (signature.indication, signature.field_name) == ("PASSED", "Firma_1_mario-rossi")
    assert signature.method == Signature.Method.PKCS12
    assert signature.report["covers_approved"] is True
    assert signature.report["fiscal_code"] == first.fiscal_code
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE
    document.refresh_from_db()
    assert document.current_sha256 == signature.pdf_sha256 != document.prepared_sha256
    [event] = events_for(agreement, AuditAction.SIGNATURE_APPLIED)
    assert [d["sha256"] for d in event.document_list] == [
        document.prepared_sha256,
        signature.pdf_sha256,
    ]
    assert event.actor_username == "mrossi"
    assert event.payload_data["indication"] == "PASSED"
    assert event.payload_data["level"] == "B-LT"
    assert event.payload_data["fiscal_code"] == first.fiscal_code
    assert not events_for(agreement, AuditAction.SIGNING_COMPLETED)

    with pytest.raises(ValidationFailed, match="already signed"):
        _sign(pki, agreement, first, "rossi")

    last = _sign(pki, agreement, second, "verdi")

    assert last.indication == "PASSED"
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    [completed] = events_for(agreement, AuditAction.SIGNING_COMPLETED)
    assert completed.actor_role == "system"
    document.refresh_from_db()
    final = read_bytes(document.current_pdf.name)
    assert hashlib.sha256(final).hexdigest() == document.current_sha256
    # Completed: the last signed revision plus validation data and a document timestamp.
    assert final.startswith(read_bytes(last.pdf_name))
    assert document.level == "B-LTA"
    reports = pades.validate(
        final, trust_roots=[pki.root_der], approved_sha256=document.prepared_sha256
    )
    assert [(r.field_name, r.kind, r.indication, r.covers_approved, r.level) for r in reports][
        :2
    ] == [
        ("Firma_1_mario-rossi", "approval", "PASSED", True, "B-LTA"),
        ("Firma_2_luigi-verdi", "approval", "PASSED", True, "B-LTA"),
    ]
    assert [r.kind for r in reports[2:]] == ["timestamp"]


def test_a_signatory_cannot_sign_for_someone_else(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    with pytest.raises(PermissionDenied, match="only for themselves"):
        signature_apply_pkcs12(
            actor=second.user,
            agreement=agreement,
            signatory=first,
            pkcs12=pki.pkcs12("verdi", PASSWORD),
            password=PASSWORD,
            trust_roots=[pki.root_der],
        )

    assert not Signature.objects.exists()
    [refusal] = _refusals(agreement, "signing.apply")
    assert refusal.actor_username == "lverdi"
    assert refusal.payload_data["code"] == "permission_denied"


def test_wrong_password_is_refused_and_stores_nothing(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document
    files = _signing_files()

    with pytest.raises(WrongPassword):
        _sign(pki, agreement, first, "rossi", password="sbagliata")

    assert not Signature.objects.exists()
    assert _signing_files() == files
    document.refresh_from_db()
    assert document.current_sha256 == document.prepared_sha256
    assert not events_for(agreement, AuditAction.SIGNATURE_APPLIED)
    [refusal] = _refusals(agreement, "signing.apply")
    assert refusal.payload_data["code"] == "wrong_password"
    assert "sbagliata" not in refusal.payload and PASSWORD not in refusal.payload


def test_a_revoked_certificate_is_refused_and_stores_nothing(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document
    files = _signing_files()

    with pytest.raises(CertificateRejected, match="revoked") as excinfo:
        _sign(pki, agreement, first, "revoked", tsa=False)

    assert excinfo.value.details["reason"] == "REVOKED"
    assert not Signature.objects.exists()
    assert _signing_files() == files
    document.refresh_from_db()
    assert document.current_sha256 == document.prepared_sha256
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE
    [refusal] = _refusals(agreement, "signing.apply")
    assert refusal.payload_data["code"] == "certificate_rejected"


def test_a_certificate_of_another_person_is_refused(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    with pytest.raises(SignatureInvalid, match="fiscal code"):
        _sign(pki, agreement, first, "verdi", tsa=False)

    assert not Signature.objects.exists()


def test_a_certificate_from_an_untrusted_authority_is_refused_before_signing(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document

    with pytest.raises(CertificateRejected, match="trusted") as excinfo:
        signature_apply_pkcs12(
            actor=first.user,
            agreement=agreement,
            signatory=first,
            pkcs12=pki.pkcs12("rossi", PASSWORD),
            password=PASSWORD,
            trust_roots=[pki.cert_der("rogue-root")],
        )

    assert excinfo.value.details["reason"] == "UNTRUSTED"
    assert not Signature.objects.exists()
    document.refresh_from_db()
    assert document.current_sha256 == document.prepared_sha256
    assert agreement.signatories_missing_signature() == ["Mario Rossi", "Luigi Verdi"]
    [refusal] = _refusals(agreement, "signing.apply")
    assert refusal.payload_data["reason"] == "UNTRUSTED"


def test_a_signature_made_on_a_stale_revision_is_made_again_on_the_new_one(pki, setup, monkeypatch):
    """The other signatory signs while the first one's signature is being validated: the first
    one's revision does not contain the second signature, so it must not become current; with
    the key still at hand, the service signs again on the new revision."""
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document
    real_validate = pades.validate
    interleaved = []

    def validate_while_someone_signs(pdf, **kwargs):
        monkeypatch.setattr(pades, "validate", real_validate)
        interleaved.append(_sign(pki, agreement, second, "verdi", tsa=False))
        return real_validate(pdf, **kwargs)

    monkeypatch.setattr(pades, "validate", validate_while_someone_signs)
    retried = _sign(pki, agreement, first, "rossi", tsa=False)

    assert retried.indication == "PASSED"
    [verdi_signature] = interleaved
    assert Signature.objects.count() == 2
    document.refresh_from_db()
    final = read_bytes(document.current_pdf.name)
    # Rossi's signature was made on top of Verdi's revision, not beside it.
    assert final.startswith(read_bytes(verdi_signature.pdf_name))
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    reports = pades.validate(
        final, trust_roots=[pki.root_der], approved_sha256=document.prepared_sha256
    )
    assert {(r.field_name, r.indication) for r in reports if r.kind == "approval"} == {
        ("Firma_1_mario-rossi", "PASSED"),
        ("Firma_2_luigi-verdi", "PASSED"),
    }
