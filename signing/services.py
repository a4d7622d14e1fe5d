"""Signing an approved agreement: preparing its PDF and applying each signatory's signature.

``signing_prepare`` freezes the approved PDF with one empty field per required signatory (RULES.md
S3, S5). ``signature_apply_pkcs12`` signs the current revision in the signatory's field, validates
it (S6) and records it; when every required signatory has a PASSED signature the agreement moves
to «signed» in the same transaction. Refusals raise a DomainError and are audited.

Messages are plain English until the Italian catalogue has them (see signing/errors.py).
"""

from django.db import transaction
from django.utils import timezone

from agreements import policies
from agreements.models import Agreement, AgreementState, Signatory
from agreements.roles import Role
from agreements.services import _lock, _transition, audited_refusals
from agreements.storage import read_bytes, store_bytes
from audit.models import AuditAction
from audit.services import record_event
from signing import pades
from signing.errors import SignatureInvalid
from signing.models import Signature, SigningDocument
from stipula.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)

__all__ = ["signature_apply_pkcs12", "signing_prepare"]


def _require_signature_state(agreement: Agreement) -> None:
    if agreement.state != AgreementState.SIGNATURE:
        raise TransitionNotAllowed(
            f"The agreement is in state «{agreement.get_state_display()}»: "
            "it can be signed only in state «Signature».",
            state=agreement.state,
        )


def _required_signatories(agreement: Agreement) -> list[Signatory]:
    return list(
        Signatory.objects.filter(party__agreement=agreement, required=True)
        .select_related("party__organisation")
        .order_by("party__position", "position", "pk")
    )


# Audit events of this app ------------------------------------------------------------------


def _signing_prepared_event(*, actor, document: SigningDocument, version):
    return record_event(
        actor=actor,
        action=AuditAction.SIGNING_PREPARED,
        obj=document,
        agreement_id=document.agreement_id,
        role=Role.LEGAL_OFFICER.value if actor is not None else "system",
        payload={"version": version.number, "fields": document.fields},
        documents=[
            {"name": f"v{version.number}.pdf", "sha256": version.pdf_sha256},
            {"name": "prepared.pdf", "sha256": document.prepared_sha256},
        ],
    )


def _signature_applied_event(*, actor, signature: Signature, previous_sha256: str, agreement_id):
    report = signature.report
    return record_event(
        actor=actor,
        action=AuditAction.SIGNATURE_APPLIED,
        obj=signature,
        agreement_id=agreement_id,
        role=Role.SIGNATORY.value,
        payload={
            "signatory": {"id": signature.signatory_id, "name": signature.signatory.full_name},
            "field": signature.field_name,
            "indication": signature.indication,
            "sub_indication": signature.sub_indication,
            "level": report.get("level", ""),
            "fiscal_code": report.get("fiscal_code", ""),
            "method": signature.method,
        },
        documents=[
            {"name": "before.pdf", "sha256": previous_sha256},
            {"name": "signed.pdf", "sha256": signature.pdf_sha256},
        ],
    )


# Preparing ---------------------------------------------------------------------------------


@audited_refusals("signing.prepare")
@transaction.atomic(durable=True)
def signing_prepare(*, actor, agreement: Agreement) -> SigningDocument:
    """Append the signature page with one empty field per required signatory, in party order.

    The responsible legal officer or the system (actor None) does it once per agreement.
    """
    locked = _lock(agreement)
    if not policies.is_responsible_legal_officer_or_system(locked, actor):
        raise PermissionDenied(
            "Only the responsible legal officer can prepare this agreement for signing."
        )
    _require_signature_state(locked)
    version = locked.approved_version
    if version is None or not version.pdf_sha256:
        raise ValidationFailed("The agreement has no approved PDF to prepare for signing.")
    if SigningDocument.objects.filter(agreement=locked).exists():
        raise ValidationFailed("This agreement is already prepared for signing.")
    signatories = _required_signatories(locked)
    specs = [
        pades.SignatoryField(name=s.full_name, title=s.title, party=s.party.organisation.name)
        for s in signatories
    ]
    prepared = pades.prepare_for_signing(read_bytes(version.pdf.name), specs)
    name, sha256 = store_bytes(prepared, folder="signing", extension="pdf")
    document = SigningDocument.objects.create(
        agreement=locked,
        approved_version=version,
        prepared_pdf=name,
        prepared_sha256=sha256,
        current_pdf=name,
        current_sha256=sha256,
        fields={
            str(s.pk): pades.field_name_for(index, spec)
            for index, (s, spec) in enumerate(zip(signatories, specs, strict=True), start=1)
        },
    )
    _signing_prepared_event(actor=actor, document=document, version=version)
    return document


# Signing -----------------------------------------------------------------------------------


def _check_can_sign(*, actor, agreement: Agreement, signatory: Signatory) -> SigningDocument:
    """Who may sign now, and where; returns the agreement's document for signing."""
    if actor is None or signatory.user_id != actor.pk:
        raise PermissionDenied("A signatory signs only for themselves.")
    if not Signatory.objects.filter(pk=signatory.pk, party__agreement_id=agreement.pk).exists():
        raise ValidationFailed("This signatory does not sign this agreement.")
    _require_signature_state(agreement)
    document = SigningDocument.objects.filter(agreement_id=agreement.pk).first()
    if document is None:
        raise ValidationFailed("The agreement is not prepared for signing yet.")
    if not document.field_for(signatory):
        raise ValidationFailed("The document has no signature field for this signatory.")
    done = set(signatory.signatures.values_list("indication", flat=True))
    if Signature.Indication.PASSED in done:
        raise ValidationFailed("This signatory has already signed the agreement.")
    if Signature.Indication.INDETERMINATE in done:
        raise ValidationFailed(
            "This signatory's signature is waiting for validation: it cannot be made again."
        )
    return document


@audited_refusals("signing.apply")
def signature_apply_pkcs12(
    *,
    actor,
    agreement: Agreement,
    signatory: Signatory,
    pkcs12: bytes,
    password: str,
    timestamper_url: str | None = None,
    trust_roots: list[bytes],
) -> Signature:
    """Sign the agreement as ``signatory`` with a PKCS#12 key and record the validated result.

    FAILED is refused and leaves nothing behind; INDETERMINATE is kept as pending; PASSED counts,
    and the last PASSED signature completes the signing phase. Neither the key nor the password
    is stored or logged.
    """
    document = _check_can_sign(actor=actor, agreement=agreement, signatory=signatory)
    field_name = document.field_for(signatory)
    previous_sha256 = document.current_sha256
    # Signing and validation are slow (TSA, OCSP): no row lock is held while they run.
    signed = pades.sign_pkcs12(
        read_bytes(document.current_pdf.name),
        field_name=field_name,
        pkcs12=pkcs12,
        password=password,
        timestamper_url=timestamper_url,
        party=signatory.party.organisation.name,
    )
    reports = pades.validate(
        signed, trust_roots=trust_roots, approved_sha256=document.prepared_sha256
    )
    report = next((r for r in reports if r.field_name == field_name), None)
    if report is None:
        raise SignatureInvalid("The new signature was not found in the signed document.")
    if report.indication == pades.FAILED:
        raise SignatureInvalid(
            "The signature is not valid: " + " ".join(report.problems),
            field=field_name,
            sub_indication=report.sub_indication,
        )
    if signatory.fiscal_code and report.fiscal_code != signatory.fiscal_code:
        # RULES.md S8: the certificate must be the expected signatory's.
        raise SignatureInvalid(
            f"The certificate belongs to fiscal code {report.fiscal_code or '(none)'}, "
            f"not to the signatory's {signatory.fiscal_code}.",
            field=field_name,
        )

    with transaction.atomic(durable=True):
        locked = _lock(agreement)
        document = _check_can_sign(actor=actor, agreement=locked, signatory=signatory)
        if document.current_sha256 != previous_sha256:
            raise ConcurrentChange(
                "Someone else signed the document meanwhile: sign again on the new revision.",
                state=locked.state,
            )
        name, sha256 = store_bytes(signed, folder="signing", extension="pdf")
        SigningDocument.objects.filter(pk=document.pk).update(
            current_pdf=name, current_sha256=sha256, updated_at=timezone.now()
        )
        signature = Signature.objects.create(
            signatory=signatory,
            indication=report.indication,
            sub_indication=report.sub_indication,
            method=Signature.Method.PKCS12,
            field_name=field_name,
            pdf_sha256=sha256,
            report=report.to_dict(),
        )
        _signature_applied_event(
            actor=actor,
            signature=signature,
            previous_sha256=previous_sha256,
            agreement_id=locked.pk,
        )
        if signature.indication == Signature.Indication.PASSED:
            if not locked.signatories_missing_signature():
                _transition(actor=None, agreement=locked, name="complete_signing")
    return signature
