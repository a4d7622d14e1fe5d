"""Signing an approved agreement: preparing its PDF, applying each signatory's signature in one of
three ways, validating again, and archiving the completed document.

Approval freezes the approved PDF with one empty field per required signatory, certified first by
the system seal when ``STIPULA_CERTIFY`` is on (RULES.md S3, S5; ``prepare_document``, called by
the approval in its transaction). A signatory then signs in one of three ways:

- ``signature_apply_pkcs11``: remote signing with the key in a server-side PKCS#11 token, confirmed
  with the token PIN;
- ``signature_apply_pkcs12``: a PKCS#12 file uploaded with its password;
- ``signature_apply_external``: a PDF signed outside Stipula with the signatory's own tool.

Each signature is validated at once (S6) and recorded with its report (S7): FAILED is refused and
leaves nothing behind, INDETERMINATE is kept as pending and can be validated again
(``signature_revalidate``), PASSED counts. The last PASSED signature completes the signing phase
in the same transaction, after a document timestamp over the validation data (PAdES B-LTA) when a
timestamp server is configured. Refusals raise a DomainError and are audited. Neither keys, PINs
nor passwords are stored or logged.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from agreements import policies
from agreements.models import Agreement, AgreementState, Signatory
from agreements.roles import Role
from agreements.services import _lock, _transition, audited_refusals
from agreements.storage import read_bytes, store_bytes
from audit import services as audit_services
from audit.models import AuditAction
from audit.services import record_event
from signing import external, pades, pkcs11
from signing.errors import SignatureInvalid, SigningError
from signing.models import (
    RemoteSigningKey,
    Signature,
    SignatureValidation,
    SigningDocument,
    latest_indication,
)
from stipula.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from workflow import hooks as workflow_hooks

__all__ = [
    "prepare_document",
    "signature_apply_external",
    "signature_apply_pkcs11",
    "signature_apply_pkcs12",
    "signature_revalidate",
    "signing_prepare",
]

log = logging.getLogger(__name__)

# How often a PKCS#11 or PKCS#12 signature is made again on the newer revision when another
# signatory's signature landed meanwhile (the key is still at hand; an upload cannot be redone).
_RESIGN_ATTEMPTS = 3


def _trust_roots(trust_roots: list[bytes] | None) -> list[bytes]:
    if trust_roots is not None:
        return trust_roots
    from signing import trust

    return trust.trust_roots()


def _tsa_url(timestamper_url: str | None) -> str | None:
    return (settings.STIPULA_TSA_URL or None) if timestamper_url is None else timestamper_url


def _require_signature_state(agreement: Agreement) -> None:
    if agreement.state != AgreementState.SIGNATURE:
        raise TransitionNotAllowed(
            _("The agreement is in state «%(state)s»: it can be signed only in state «Signature».")
            % {"state": agreement.get_state_display()},
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
        payload={
            "version": version.number,
            "fields": document.fields,
            "certified": document.certified,
        },
        documents=[
            {"name": f"v{version.number}.pdf", "sha256": version.pdf_sha256},
            {"name": "prepared.pdf", "sha256": document.prepared_sha256},
        ],
    )


def _signature_payload(signature: Signature, validation: SignatureValidation) -> dict:
    report = validation.report
    return {
        "signatory": {"id": signature.signatory_id, "name": signature.signatory.full_name},
        "field": signature.field_name,
        "indication": validation.indication,
        "sub_indication": validation.sub_indication,
        "level": report.get("level", ""),
        "fiscal_code": report.get("fiscal_code", ""),
        "signer_fingerprint_sha256": report.get("signer_fingerprint_sha256", ""),
        "method": signature.method,
        "validation": validation.pk,
    }


def _signature_applied_event(*, actor, signature, validation, previous_sha256, agreement_id):
    return record_event(
        actor=actor,
        action=AuditAction.SIGNATURE_APPLIED,
        obj=signature,
        agreement_id=agreement_id,
        role=Role.SIGNATORY.value,
        payload=_signature_payload(signature, validation),
        documents=[
            {"name": "before.pdf", "sha256": previous_sha256},
            {"name": "signed.pdf", "sha256": signature.pdf_sha256},
        ],
    )


def _signature_revalidated_event(*, actor, signature, validation, agreement_id, previous: str):
    payload = _signature_payload(signature, validation)
    payload["previous_indication"] = previous
    return record_event(
        actor=actor,
        action=AuditAction.SIGNATURE_REVALIDATED,
        obj=signature,
        agreement_id=agreement_id,
        role=Role.SIGNATORY.value if actor is not None else "system",
        payload=payload,
        documents=[{"name": "validated.pdf", "sha256": validation.pdf_sha256}],
    )


def _signing_archived_event(*, document: SigningDocument, signed_sha256: str):
    return record_event(
        actor=None,
        action=AuditAction.SIGNING_ARCHIVED,
        obj=document,
        agreement_id=document.agreement_id,
        role="system",
        payload={"level": document.level},
        documents=[
            {"name": "signed.pdf", "sha256": signed_sha256},
            {"name": "archived.pdf", "sha256": document.current_sha256},
        ],
    )


# Preparing ---------------------------------------------------------------------------------


def _seal_signer():
    if not settings.STIPULA_CERTIFY:
        return None
    if not settings.STIPULA_SEAL_PKCS12:
        raise SigningError(
            _(
                "Certification is on (STIPULA_CERTIFY) but no seal is configured: set "
                "STIPULA_SEAL_PKCS12 and STIPULA_SEAL_PASSWORD, or turn certification off."
            ),
            reason="NO_SEAL",
        )
    return pades.load_seal(settings.STIPULA_SEAL_PKCS12, settings.STIPULA_SEAL_PASSWORD)


def prepare_document(*, actor, agreement: Agreement) -> SigningDocument:
    """Compose the PDF to sign for ``agreement`` (locked, in «signature», with an approved version):
    the approved PDF plus a signature page with one empty field per required signatory, in party
    order, certified by the system seal when configured. Runs inside the caller's transaction
    (the approval's), so approval and the frozen PDF commit together."""
    version = agreement.approved_version
    if version is None or not version.pdf_sha256:
        raise ValidationFailed(_("The agreement has no approved PDF to prepare for signing."))
    if SigningDocument.objects.filter(agreement=agreement).exists():
        raise ValidationFailed(_("This agreement is already prepared for signing."))
    signatories = _required_signatories(agreement)
    specs = [
        pades.SignatoryField(name=s.full_name, title=s.title, party=s.party.organisation.name)
        for s in signatories
    ]
    prepared = pades.prepare_for_signing(read_bytes(version.pdf.name), specs)
    seal = _seal_signer()
    if seal is not None:
        prepared = pades.certify(prepared, signer=seal)
    name, sha256 = store_bytes(prepared, folder="signing", extension="pdf")
    document = SigningDocument.objects.create(
        agreement=agreement,
        approved_version=version,
        prepared_pdf=name,
        prepared_sha256=sha256,
        current_pdf=name,
        current_sha256=sha256,
        certified=seal is not None,
        fields={
            str(s.pk): pades.field_name_for(index, spec)
            for index, (s, spec) in enumerate(zip(signatories, specs, strict=True), start=1)
        },
    )
    _signing_prepared_event(actor=actor, document=document, version=version)
    return document


@audited_refusals("signing.prepare")
@transaction.atomic(durable=True)
def signing_prepare(*, actor, agreement: Agreement) -> SigningDocument:
    """Prepare an agreement in «signature» that has no document to sign yet (approval does it;
    this is for agreements approved before it did). The responsible legal officer or the system."""
    locked = _lock(agreement)
    if not policies.is_responsible_legal_officer_or_system(locked, actor):
        raise PermissionDenied(
            _("Only the responsible legal officer can prepare this agreement for signing.")
        )
    _require_signature_state(locked)
    return prepare_document(actor=actor, agreement=locked)


# Signing -----------------------------------------------------------------------------------


def _current_indications(signatory: Signatory) -> set[str]:
    return set(
        signatory.signatures.annotate(current=latest_indication()).values_list("current", flat=True)
    )


def _check_can_sign(*, actor, agreement: Agreement, signatory: Signatory) -> SigningDocument:
    """Who may sign now, and where; returns the agreement's document for signing."""
    if actor is None or signatory.user_id != actor.pk:
        raise PermissionDenied(_("A signatory signs only for themselves."))
    if not Signatory.objects.filter(pk=signatory.pk, party__agreement_id=agreement.pk).exists():
        raise ValidationFailed(_("This signatory does not sign this agreement."))
    _require_signature_state(agreement)
    document = SigningDocument.objects.filter(agreement_id=agreement.pk).first()
    if document is None:
        raise ValidationFailed(_("The agreement is not prepared for signing yet."))
    if not document.field_for(signatory):
        raise ValidationFailed(_("The document has no signature field for this signatory."))
    done = _current_indications(signatory)
    if Signature.Indication.PASSED in done:
        raise ValidationFailed(_("This signatory has already signed the agreement."))
    if Signature.Indication.INDETERMINATE in done:
        raise ValidationFailed(
            _(
                "This signatory's signature is waiting for validation: use «Validate again» "
                "instead of signing again."
            )
        )
    if Signature.Indication.FAILED in done:
        raise ValidationFailed(
            _(
                "This signatory's signature failed validation and its field is taken: the "
                "responsible legal officer must withdraw the agreement and start it again."
            )
        )
    turn = workflow_hooks.signing_turn_error(agreement=agreement, signatory=signatory)
    if turn:
        raise TransitionNotAllowed(turn, state=agreement.state)
    return document


def _require_owner(report: pades.SignatureReport, signatory: Signatory, field_name: str) -> None:
    if report.indication == pades.FAILED:
        raise SignatureInvalid(
            _("The signature is not valid: %(problems)s") % {"problems": " ".join(report.problems)},
            field=field_name,
            sub_indication=report.sub_indication,
        )
    if signatory.fiscal_code and report.fiscal_code != signatory.fiscal_code.strip().upper():
        # RULES.md S8: the certificate must be the expected signatory's.
        raise SignatureInvalid(
            _(
                "The certificate belongs to fiscal code %(found)s, not to the signatory's "
                "%(expected)s. Sign with your own certificate."
            )
            % {"found": report.fiscal_code or _("(none)"), "expected": signatory.fiscal_code},
            field=field_name,
            reason="WRONG_SIGNER",
        )


def _completes(agreement: Agreement, signatory: Signatory) -> bool:
    """Whether a PASSED signature by ``signatory`` would be the last one missing."""
    missing = Signatory.objects.filter(party__agreement=agreement, required=True).exclude(
        pk=signatory.pk
    )
    passed = (
        Signature.objects.filter(signatory__party__agreement=agreement)
        .annotate(current=latest_indication())
        .filter(current=Signature.Indication.PASSED)
        .values("signatory_id")
    )
    return signatory.required and not missing.exclude(pk__in=passed).exists()


def _archive(
    pdf: bytes, timestamper_url: str | None, trust_roots: list[bytes], online: pades.Online
) -> bytes | None:
    """The completed PDF with validation data and a document timestamp (B-LTA), or None when no
    timestamp server is configured or it fails (the signatures stand at their own level)."""
    if not timestamper_url:
        return None
    try:
        return pades.archive_timestamp(
            pdf, timestamper_url=timestamper_url, trust_roots=trust_roots, online=online
        )
    except SigningError:
        log.warning("document timestamp (B-LTA) failed; the signed PDF is kept without it")
        return None


def _complete(*, agreement: Agreement, document: SigningDocument, archived: bytes | None):
    """Inside the transaction: archive the completed PDF when possible, then move to «signed»."""
    if archived is not None:
        signed_sha256 = document.current_sha256
        name, sha256 = store_bytes(archived, folder="signing", extension="pdf")
        document.current_pdf, document.current_sha256, document.level = name, sha256, "B-LTA"
        document.save(update_fields=["current_pdf", "current_sha256", "level", "updated_at"])
        _signing_archived_event(document=document, signed_sha256=signed_sha256)
    _transition(actor=None, agreement=agreement, name="complete_signing")


def _apply(
    *,
    actor,
    agreement: Agreement,
    signatory: Signatory,
    method: str,
    make_signed: Callable[[bytes, str, str, pades.Online], tuple[bytes, pades.SignatureReport]],
    timestamper_url: str | None,
    trust_roots: list[bytes],
    attempts: int,
) -> Signature:
    """Shared by the three ways: sign (or check the upload) outside any lock, then record.

    ``make_signed(current_pdf, field_name, approved_sha256, online)`` returns the signed PDF and
    the new signature's report. Signing and validation are slow (TSA, OCSP), so no row lock is
    held while they run; the revision they extended is checked again under the lock. Each
    attempt is one network operation (``pades.Online``): the revocation data fetched to check
    the signer's chain serves the signature's B-LT data, its validation and the archive
    timestamp, and is fetched again by the next attempt.
    """
    for attempt in range(1, attempts + 1):
        document = _check_can_sign(actor=actor, agreement=agreement, signatory=signatory)
        field_name = document.field_for(signatory)
        previous_sha256 = document.current_sha256
        current = read_bytes(document.current_pdf.name)
        with pades.Online() as online:
            signed, report = make_signed(current, field_name, document.prepared_sha256, online)
            _require_owner(report, signatory, field_name)
            archived = None
            if report.indication == pades.PASSED and _completes(agreement, signatory):
                archived = _archive(signed, timestamper_url, trust_roots, online)
        try:
            return _record(
                actor=actor,
                agreement=agreement,
                signatory=signatory,
                method=method,
                signed=signed,
                report=report,
                previous_sha256=previous_sha256,
                archived=archived,
            )
        except ConcurrentChange:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic(durable=True)
def _record(
    *, actor, agreement, signatory, method, signed, report, previous_sha256, archived
) -> Signature:
    locked = _lock(agreement)
    document = _check_can_sign(actor=actor, agreement=locked, signatory=signatory)
    if document.current_sha256 != previous_sha256:
        raise ConcurrentChange(
            _(
                "Another signature was added to the document meanwhile: download the document "
                "again and sign the new revision."
            ),
            state=locked.state,
        )
    name, sha256 = store_bytes(signed, folder="signing", extension="pdf")
    document.current_pdf, document.current_sha256 = name, sha256
    document.save(update_fields=["current_pdf", "current_sha256", "updated_at"])
    data = report.to_dict()
    signature = Signature.objects.create(
        signatory=signatory,
        indication=report.indication,
        sub_indication=report.sub_indication,
        method=method,
        field_name=report.field_name,
        pdf_sha256=sha256,
        report=data,
    )
    validation = SignatureValidation.objects.create(
        signature=signature,
        indication=report.indication,
        sub_indication=report.sub_indication,
        report=data,
        pdf_sha256=sha256,
        actor=actor,
    )
    _signature_applied_event(
        actor=actor,
        signature=signature,
        validation=validation,
        previous_sha256=previous_sha256,
        agreement_id=locked.pk,
    )
    workflow_hooks.signature_recorded(agreement=locked, signature=signature, actor=actor)
    if signature.indication == Signature.Indication.PASSED:
        if not locked.signatories_missing_signature():
            _complete(agreement=locked, document=document, archived=archived)
    return signature


def _validated_new_signature(
    signed: bytes, field_name: str, approved_sha256: str, trust_roots, online: pades.Online
):
    reports = pades.validate(
        signed, trust_roots=trust_roots, approved_sha256=approved_sha256, online=online
    )
    report = next((r for r in reports if r.field_name == field_name), None)
    if report is None:
        raise SignatureInvalid(_("The new signature was not found in the signed document."))
    broken = [r for r in reports if r is not report and r.indication == pades.FAILED]
    if broken:
        # Every earlier signature must still pass (or stay pending) after this one.
        raise SignatureInvalid(
            _(
                "The signature in «%(field)s» no longer passes validation (%(problems)s): the "
                "document cannot collect further signatures; contact the responsible legal "
                "officer."
            )
            % {"field": broken[0].field_name, "problems": " ".join(broken[0].problems)},
            reason="EARLIER_SIGNATURE_FAILED",
        )
    return report


def _apply_with_key(
    *, sign: Callable[[bytes, str, pades.Online], bytes], trust_roots, **kwargs
) -> Signature:
    """The ways where Stipula holds the key for the signing moment (PKCS#12, PKCS#11): sign the
    current revision, validate the result; a stale revision is signed again on the new one."""

    def make_signed(current: bytes, field_name: str, approved_sha256: str, online):
        signed = sign(current, field_name, online)
        report = _validated_new_signature(signed, field_name, approved_sha256, trust_roots, online)
        return signed, report

    return _apply(
        make_signed=make_signed, trust_roots=trust_roots, attempts=_RESIGN_ATTEMPTS, **kwargs
    )


@audited_refusals("signing.apply")
def signature_apply_pkcs12(
    *,
    actor,
    agreement: Agreement,
    signatory: Signatory,
    pkcs12: bytes,
    password: str,
    timestamper_url: str | None = None,
    trust_roots: list[bytes] | None = None,
) -> Signature:
    """Sign as ``signatory`` with a PKCS#12 key uploaded with its password (neither is kept).

    ``timestamper_url`` and ``trust_roots`` default to the settings (STIPULA_TSA_URL,
    STIPULA_TRUST_ROOTS_DIR).
    """
    roots, tsa = _trust_roots(trust_roots), _tsa_url(timestamper_url)

    def sign(current: bytes, field_name: str, online: pades.Online) -> bytes:
        return pades.sign_pkcs12(
            current,
            field_name=field_name,
            pkcs12=pkcs12,
            password=password,
            timestamper_url=tsa,
            party=signatory.party.organisation.name,
            trust_roots=roots,
            online=online,
        )

    return _apply_with_key(
        actor=actor,
        agreement=agreement,
        signatory=signatory,
        method=Signature.Method.PKCS12,
        sign=sign,
        timestamper_url=tsa,
        trust_roots=roots,
    )


@audited_refusals("signing.apply")
def signature_apply_pkcs11(
    *,
    actor,
    agreement: Agreement,
    signatory: Signatory,
    pin: str,
    timestamper_url: str | None = None,
    trust_roots: list[bytes] | None = None,
) -> Signature:
    """Remote signing: sign as ``signatory`` with the key in their server-side PKCS#11 token
    (``RemoteSigningKey``), confirmed with the token PIN, which is never stored."""
    key = RemoteSigningKey.objects.filter(user_id=signatory.user_id).first()
    if key is None:
        raise ValidationFailed(
            _(
                "You have no remote signing key on this server. Sign with a PKCS#12 file or "
                "upload a PDF signed with your own signature tool."
            )
        )
    roots, tsa = _trust_roots(trust_roots), _tsa_url(timestamper_url)

    def sign(current: bytes, field_name: str, online: pades.Online) -> bytes:
        return pkcs11.sign_pkcs11(
            current,
            field_name=field_name,
            token_label=key.token_label,
            key_label=key.key_label or None,
            pin=pin,
            timestamper_url=tsa,
            party=signatory.party.organisation.name,
            trust_roots=roots,
            online=online,
        )

    return _apply_with_key(
        actor=actor,
        agreement=agreement,
        signatory=signatory,
        method=Signature.Method.PKCS11,
        sign=sign,
        timestamper_url=tsa,
        trust_roots=roots,
    )


@audited_refusals("signing.apply")
def signature_apply_external(
    *,
    actor,
    agreement: Agreement,
    signatory: Signatory,
    uploaded: bytes,
    timestamper_url: str | None = None,
    trust_roots: list[bytes] | None = None,
) -> Signature:
    """Accept a PDF the signatory signed with their own tool: the document they downloaded (the
    current revision) plus exactly their signature, in their field, nothing else changed
    (signing.external)."""
    roots, tsa = _trust_roots(trust_roots), _tsa_url(timestamper_url)

    def make_signed(current: bytes, field_name: str, approved_sha256: str, online):
        report = external.check_external_upload(
            expected=current,
            uploaded=uploaded,
            field_name=field_name,
            fiscal_code=signatory.fiscal_code or None,
            full_name=signatory.full_name,
            trust_roots=roots,
            approved_sha256=approved_sha256,
            allow_name_match=settings.STIPULA_SIGNER_NAME_MATCH,
            online=online,
        )
        return uploaded, report

    return _apply(
        actor=actor,
        agreement=agreement,
        signatory=signatory,
        method=Signature.Method.EXTERNAL,
        make_signed=make_signed,
        timestamper_url=tsa,
        trust_roots=roots,
        attempts=1,
    )


# Validating again --------------------------------------------------------------------------


def _about_signature(kwargs) -> dict:
    signature = kwargs.get("signature")
    if signature is None:
        return {}
    return {"agreement_id": signature.signatory.party.agreement_id}


@audit_services.audited_refusals("signing.revalidate", locate=_about_signature)
def signature_revalidate(
    *,
    actor,
    signature: Signature,
    timestamper_url: str | None = None,
    trust_roots: list[bytes] | None = None,
) -> SignatureValidation:
    """Validate a pending (INDETERMINATE) signature again, on the latest revision of the document.

    The signatory, the responsible legal officer or the system (actor None) may do it. PASSED
    counts (and may complete the signing phase), INDETERMINATE stays pending, FAILED is recorded
    and stops the signature from counting.
    """
    roots, tsa = _trust_roots(trust_roots), _tsa_url(timestamper_url)
    signature = Signature.objects.select_related("signatory__party").get(pk=signature.pk)
    signatory = signature.signatory
    agreement = Agreement.objects.get(pk=signatory.party.agreement_id)
    _check_can_revalidate(actor=actor, agreement=agreement, signature=signature)
    document = agreement.signing_document
    pdf_sha256 = document.current_sha256
    current = read_bytes(document.current_pdf.name)
    with pades.Online() as online:
        report = _validated_new_signature(
            current, signature.field_name, document.prepared_sha256, roots, online
        )
        if report.indication != pades.FAILED:
            try:
                _require_owner(report, signatory, signature.field_name)
            except SignatureInvalid as e:
                report.indication, report.sub_indication = pades.FAILED, "WRONG_SIGNER"
                report.problems.append(str(e))
        archived = None
        if report.indication == pades.PASSED and _completes(agreement, signatory):
            archived = _archive(current, tsa, roots, online)

    with transaction.atomic(durable=True):
        locked = _lock(agreement)
        _check_can_revalidate(actor=actor, agreement=locked, signature=signature)
        document = SigningDocument.objects.get(agreement=locked)
        if document.current_sha256 != pdf_sha256:
            raise ConcurrentChange(
                _("The document changed while it was being validated: validate again."),
                state=locked.state,
            )
        validation = SignatureValidation.objects.create(
            signature=signature,
            indication=report.indication,
            sub_indication=report.sub_indication,
            report=report.to_dict(),
            pdf_sha256=pdf_sha256,
            actor=actor,
        )
        _signature_revalidated_event(
            actor=actor,
            signature=signature,
            validation=validation,
            agreement_id=locked.pk,
            previous=Signature.Indication.INDETERMINATE,
        )
        workflow_hooks.signature_validated(
            agreement=locked, signature=signature, validation=validation, actor=actor
        )
        if validation.indication == Signature.Indication.PASSED:
            if not locked.signatories_missing_signature():
                _complete(agreement=locked, document=document, archived=archived)
    return validation


def _check_can_revalidate(*, actor, agreement: Agreement, signature: Signature) -> None:
    if actor is not None and not (
        signature.signatory.user_id == actor.pk
        or policies.is_responsible_legal_officer(agreement, actor)
    ):
        raise PermissionDenied(
            _("Only the signatory or the responsible legal officer can validate it again.")
        )
    _require_signature_state(agreement)
    current = signature.current_indication
    if current != Signature.Indication.INDETERMINATE:
        raise ValidationFailed(
            _("Only a pending signature can be validated again; this one is %(indication)s.")
            % {"indication": Signature.Indication(current).label}
        )
