"""The three ways to sign through the services (remote PKCS#11 token, external upload; PKCS#12 is
in test_services.py), validating a pending signature again, the document timestamp at completion,
certification by the system seal, and the append-only evidence tables.

Everything is real: SoftHSM2 tokens, pyHanko, the local PKI's TSA, OCSP responder and CRLs on
loopback (taken down with ``pki.offline`` to make revocation data unavailable, as a responder that
is down does), the audit chain and the database triggers.
"""

import hashlib
import shutil

import pytest
from django.db import DatabaseError, connection, transaction

from agreements.models import AgreementState
from agreements.storage import read_bytes
from audit.models import AuditAction
from signing import pades
from signing.errors import CertificateRejected, SignatureInvalid
from signing.models import RemoteSigningKey, Signature
from signing.pkcs11 import WrongPin
from signing.services import (
    signature_apply_external,
    signature_apply_pkcs11,
    signature_revalidate,
)
from stipula.errors import PermissionDenied, ValidationFailed
from tests.factories import events_for, make_user
from tests.signing import test_pkcs11
from tests.signing.conftest import PASSWORD
from tests.signing.test_pkcs11 import PIN, make_token
from tests.signing.test_services import _refusals, _sign, _signing_files, make_signing_setup

pytestmark = pytest.mark.django_db

needs_softhsm = pytest.mark.skipif(
    shutil.which("softhsm2-util") is None, reason="SoftHSM2 (Debian package softhsm2) is missing"
)


softhsm_dir = test_pkcs11.softhsm_dir


@pytest.fixture
def setup(pki, officer):
    return make_signing_setup(pki, officer)


def _payloads(agreement) -> str:
    return " ".join(e.payload for e in events_for(agreement))


def _final_reports(pki, document):
    document.refresh_from_db()
    return pades.validate(
        read_bytes(document.current_pdf.name),
        trust_roots=[pki.root_der],
        approved_sha256=document.prepared_sha256,
    )


# Remote signing (PKCS#11) --------------------------------------------------------------------


@needs_softhsm
def test_remote_signing_with_the_token_pin(pki, setup, softhsm_dir):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    make_token(pki, softhsm_dir, "verdi")
    RemoteSigningKey.objects.create(user=second.user, token_label="verdi")
    _sign(pki, agreement, first, "rossi")

    signature = signature_apply_pkcs11(
        actor=second.user,
        agreement=agreement,
        signatory=second,
        pin=PIN,
        timestamper_url=pki.tsa_url,
        trust_roots=[pki.root_der],
    )

    assert (signature.method, signature.indication) == ("pkcs11", "PASSED")
    assert signature.report["fiscal_code"] == second.fiscal_code
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    [applied] = [
        e
        for e in events_for(agreement, AuditAction.SIGNATURE_APPLIED)
        if e.payload_data["method"] == "pkcs11"
    ]
    assert applied.actor_username == "lverdi"
    assert PIN not in _payloads(agreement)
    reports = _final_reports(pki, agreement.signing_document)
    approvals = [r for r in reports if r.kind == "approval"]
    assert [(r.field_name, r.indication) for r in approvals] == [
        ("Firma_1_mario-rossi", "PASSED"),
        ("Firma_2_luigi-verdi", "PASSED"),
    ]


@needs_softhsm
def test_a_wrong_pin_is_refused_and_nothing_is_kept(pki, setup, softhsm_dir):
    agreement, (_first, second) = setup["agreement"], setup["signatories"]
    make_token(pki, softhsm_dir, "verdi")
    RemoteSigningKey.objects.create(user=second.user, token_label="verdi")
    files = _signing_files()

    with pytest.raises(WrongPin):
        signature_apply_pkcs11(
            actor=second.user,
            agreement=agreement,
            signatory=second,
            pin="000000",
            trust_roots=[pki.root_der],
        )

    assert not Signature.objects.exists()
    assert _signing_files() == files
    [refusal] = _refusals(agreement, "signing.apply")
    assert refusal.actor_username == "lverdi"
    assert "000000" not in _payloads(agreement)


def test_remote_signing_without_a_key_says_what_to_do(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]

    with pytest.raises(ValidationFailed, match="no remote signing key.*PKCS#12 file"):
        signature_apply_pkcs11(
            actor=first.user, agreement=agreement, signatory=first, pin=PIN, trust_roots=[]
        )

    assert len(_refusals(agreement, "signing.apply")) == 1


# External signature --------------------------------------------------------------------------


def _signed_outside(pki, agreement, signatory, label, *, field_name=None):
    """What the signatory's own tool produces from the PDF they downloaded."""
    document = agreement.signing_document
    document.refresh_from_db()
    return pades.sign_pkcs12(
        read_bytes(document.current_pdf.name),
        field_name=field_name or document.field_for(signatory),
        pkcs12=pki.pkcs12(label, PASSWORD),
        password=PASSWORD,
        timestamper_url=pki.tsa_url,
        party=signatory.party.organisation.name,
    )


def test_an_externally_signed_pdf_completes_the_agreement_with_a_document_timestamp(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    _sign(pki, agreement, first, "rossi")
    uploaded = _signed_outside(pki, agreement, second, "verdi")

    signature = signature_apply_external(
        actor=second.user,
        agreement=agreement,
        signatory=second,
        uploaded=uploaded,
        timestamper_url=pki.tsa_url,
        trust_roots=[pki.root_der],
    )

    assert (signature.method, signature.indication) == ("external", "PASSED")
    assert signature.pdf_sha256 == hashlib.sha256(uploaded).hexdigest()
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    document = agreement.signing_document
    document.refresh_from_db()
    # B-LTA: the completed PDF extends the uploaded one with validation data and a timestamp.
    assert document.level == "B-LTA"
    final = read_bytes(document.current_pdf.name)
    assert final.startswith(uploaded) and len(final) > len(uploaded)
    [archived] = events_for(agreement, AuditAction.SIGNING_ARCHIVED)
    assert [d["sha256"] for d in archived.document_list] == [
        signature.pdf_sha256,
        document.current_sha256,
    ]
    [completed] = events_for(agreement, AuditAction.SIGNING_COMPLETED)
    assert completed.seq > archived.seq
    reports = _final_reports(pki, document)
    approvals = [r for r in reports if r.kind == "approval"]
    assert [(r.indication, r.level) for r in approvals] == [("PASSED", "B-LTA")] * 2
    assert [r.kind for r in reports if r.kind != "approval"] == ["timestamp"]


def test_an_upload_of_another_document_is_refused_and_changes_nothing(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document
    other = pades.sign_pkcs12(
        pades.prepare_for_signing(
            read_bytes(agreement.approved_version.pdf.name),
            [pades.SignatoryField(name="Mario Rossi", title="Sindaco", party="Altro ente")],
        ),
        field_name="Firma_1_mario-rossi",
        pkcs12=pki.pkcs12("rossi", PASSWORD),
        password=PASSWORD,
    )
    files = _signing_files()

    with pytest.raises(SignatureInvalid, match="not the document you downloaded") as excinfo:
        signature_apply_external(
            actor=first.user,
            agreement=agreement,
            signatory=first,
            uploaded=other,
            trust_roots=[pki.root_der],
        )

    assert excinfo.value.details["reason"] == "DIFFERENT_DOCUMENT"
    assert not Signature.objects.exists()
    assert _signing_files() == files
    document.refresh_from_db()
    assert document.current_sha256 == document.prepared_sha256
    [refusal] = _refusals(agreement, "signing.apply")
    assert refusal.payload_data["reason"] == "DIFFERENT_DOCUMENT"


def test_an_upload_signed_with_someone_elses_certificate_is_refused(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    uploaded = _signed_outside(pki, agreement, first, "verdi")

    with pytest.raises(CertificateRejected, match="someone else"):
        signature_apply_external(
            actor=first.user,
            agreement=agreement,
            signatory=first,
            uploaded=uploaded,
            trust_roots=[pki.root_der],
        )

    assert not Signature.objects.exists()


def test_a_truncated_upload_is_refused(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    uploaded = _signed_outside(pki, agreement, first, "rossi")

    with pytest.raises(Exception, match="PDF") as excinfo:
        signature_apply_external(
            actor=first.user,
            agreement=agreement,
            signatory=first,
            uploaded=uploaded[: len(uploaded) // 2],
            trust_roots=[pki.root_der],
        )

    assert excinfo.value.code in {"invalid_pdf", "signature_invalid"}
    assert not Signature.objects.exists()


# Validating again ----------------------------------------------------------------------------


def test_a_pending_signature_is_validated_again_once_revocation_data_is_back(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    with pki.offline("ocsp", "crls"):
        pending = _sign(pki, agreement, first, "rossi")

        assert (pending.indication, pending.sub_indication) == ("INDETERMINATE", "TRY_LATER")
        assert agreement.signatories_missing_signature() == ["Mario Rossi", "Luigi Verdi"]
        with pytest.raises(ValidationFailed, match="waiting for validation"):
            _sign(pki, agreement, first, "rossi")
        with pytest.raises(PermissionDenied):
            signature_revalidate(actor=second.user, signature=pending, trust_roots=[pki.root_der])

        still = signature_revalidate(
            actor=first.user, signature=pending, trust_roots=[pki.root_der]
        )
        assert (still.indication, still.sub_indication) == ("INDETERMINATE", "TRY_LATER")

    passed = signature_revalidate(actor=first.user, signature=pending, trust_roots=[pki.root_der])

    assert passed.indication == "PASSED"
    assert passed.report["fiscal_code"] == first.fiscal_code
    pending.refresh_from_db()
    # The first validation stays as it was recorded; the latest one counts.
    assert pending.indication == "INDETERMINATE"
    assert pending.current_indication == "PASSED"
    assert list(pending.validations.values_list("indication", flat=True)) == [
        "INDETERMINATE",
        "INDETERMINATE",
        "PASSED",
    ]
    assert agreement.signatories_missing_signature() == ["Luigi Verdi"]
    events = events_for(agreement, AuditAction.SIGNATURE_REVALIDATED)
    assert [e.payload_data["indication"] for e in events] == ["INDETERMINATE", "PASSED"]
    assert [r.payload_data["attempted"] for r in events_for(agreement, "action.refused")] == [
        "signing.apply",
        "signing.revalidate",
    ]
    with pytest.raises(ValidationFailed, match="Only a pending signature"):
        signature_revalidate(actor=first.user, signature=pending, trust_roots=[pki.root_der])

    _sign(pki, agreement, second, "verdi")
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED


# Certification by the system seal ------------------------------------------------------------


def test_the_seal_certifies_the_document_first_and_cosignatures_still_pass(
    pki, officer, tmp_path, settings
):
    seal = tmp_path / "seal.p12"
    seal.write_bytes(pki.pkcs12("esposito", "sigillo"))
    settings.STIPULA_CERTIFY = True
    settings.STIPULA_SEAL_PKCS12 = str(seal)
    settings.STIPULA_SEAL_PASSWORD = "sigillo"
    data = make_signing_setup(pki, officer)
    agreement, (first, second) = data["agreement"], data["signatories"]
    document = agreement.signing_document
    assert document.certified is True
    [prepared] = events_for(agreement, AuditAction.SIGNING_PREPARED)
    assert prepared.payload_data["certified"] is True

    _sign(pki, agreement, first, "rossi")
    last = _sign(pki, agreement, second, "verdi")

    assert last.indication == "PASSED"
    reports = _final_reports(pki, document)
    kinds = [(r.kind, r.indication) for r in reports if r.kind != "timestamp"]
    assert kinds == [("certification", "PASSED"), ("approval", "PASSED"), ("approval", "PASSED")]


def test_certification_without_a_seal_blocks_approval_with_a_clear_message(officer, settings):
    from agreements import services as agreement_services
    from tests.factories import make_ready_agreement

    settings.STIPULA_CERTIFY = True
    settings.STIPULA_SEAL_PKCS12 = ""
    agreement = make_ready_agreement(officer)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)

    with pytest.raises(Exception, match="STIPULA_SEAL_PKCS12"):
        agreement_services.agreement_approve(
            actor=make_user("rev", "reviewer"), agreement=agreement
        )

    agreement.refresh_from_db()
    assert agreement.state == AgreementState.LEGAL_REVIEW
    assert not events_for(agreement, AuditAction.APPROVED)


# Evidence is append-only (RULES.md A3) -------------------------------------------------------


def test_signature_evidence_cannot_be_changed_or_deleted(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    signature = _sign(pki, agreement, first, "rossi", tsa=False)

    for table, where in [
        ("signing_signature", f"id = {signature.pk}"),
        ("signing_signaturevalidation", f"signature_id = {signature.pk}"),
    ]:
        # Straight to the database, past the ORM's own PROTECT checks.
        for statement in [
            f"UPDATE {table} SET indication = 'FAILED' WHERE {where}",
            f"DELETE FROM {table} WHERE {where}",
        ]:
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(statement)

    signature.refresh_from_db()
    assert signature.indication == "PASSED"
    assert signature.validations.count() == 1
