"""Reading the signing step of an agreement for the web pages.

``signing_status`` is the table of the signing page: one row per required signatory, in the order
they sign (party order, then the signatory's position), with the signatory's latest signature and
its latest validation, and what the user looking at the page may do about it. Who may sign is
decided again by the services when the user acts (RULES.md S1-S3); a row only says whether the page
should offer the form.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db.models import Prefetch
from django.utils.dateparse import parse_datetime

from agreements.models import Agreement, AgreementParty, AgreementState, Signatory
from signing.models import RemoteSigningKey, Signature, SignatureValidation, SigningDocument

# The ways a signatory can sign on the signing page, in the order the page offers them.
WAYS = (Signature.Method.PKCS11, Signature.Method.PKCS12, Signature.Method.EXTERNAL)


@dataclass(frozen=True)
class SigningRow:
    """One required signatory on the signing page.

    ``signature`` is the signatory's signature (None before they sign) and ``validation`` its
    latest validation, the one made when it was applied or a later one: the signature's current
    outcome. ``may_sign`` says whether the user who asked may sign this row now, and ``ways``
    with which of ``WAYS`` (empty when they may not).
    """

    order: int
    signatory: Signatory
    party: AgreementParty
    field_name: str
    signature: Signature | None
    validation: SignatureValidation | None
    may_sign: bool = False
    ways: tuple[str, ...] = field(default_factory=tuple)

    @property
    def indication(self) -> str:
        """PASSED, INDETERMINATE or FAILED as last validated; "" before the signature."""
        if self.validation is not None:
            return self.validation.indication
        return self.signature.indication if self.signature is not None else ""

    @property
    def indication_label(self) -> str:
        return str(Signature.Indication(self.indication).label) if self.indication else ""

    @property
    def sub_indication(self) -> str:
        if self.validation is not None:
            return self.validation.sub_indication
        return self.signature.sub_indication if self.signature is not None else ""

    @property
    def report(self) -> dict:
        """The latest validation report (signing.pades.SignatureReport.to_dict())."""
        if self.validation is not None:
            return self.validation.report or {}
        return (self.signature.report or {}) if self.signature is not None else {}

    @property
    def level(self) -> str:
        return self.report.get("level", "")

    @property
    def signing_time(self) -> datetime | None:
        """The time the signer's software declared (not proven: see ``timestamp_time``)."""
        return _moment(self.report.get("signing_time"))

    @property
    def timestamp_time(self) -> datetime | None:
        """The time a trusted timestamp proves the signature existed at (B-T and above)."""
        return _moment(self.report.get("timestamp_time"))


def _moment(value) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) and value else None


def signing_document(agreement: Agreement) -> SigningDocument | None:
    """The agreement's document for signing, or None before it is prepared."""
    return (
        SigningDocument.objects.filter(agreement_id=agreement.pk)
        .select_related("approved_version")
        .first()
    )


def latest_validation(signature: Signature) -> SignatureValidation | None:
    """The latest validation of ``signature`` (like ``Signature.latest``, but read from the
    prefetched ``validations`` when they are)."""
    validations = list(signature.validations.all())
    return max(validations, key=lambda v: v.pk) if validations else None


def _signatures_by_signatory(signatory_ids: list[int]) -> dict[int, Signature]:
    latest: dict[int, Signature] = {}
    signatures = (
        Signature.objects.filter(signatory_id__in=signatory_ids)
        .prefetch_related(
            Prefetch(
                "validations",
                queryset=SignatureValidation.objects.select_related("actor").order_by("pk"),
            )
        )
        .order_by("pk")
    )
    for signature in signatures:
        latest[signature.signatory_id] = signature
    return latest


def signing_ways(user) -> tuple[str, ...]:
    """The ways ``user`` can sign: PKCS#11 only with a remote signing key of theirs."""
    has_remote_key = RemoteSigningKey.objects.filter(user_id=user.pk).exists()
    return tuple(way for way in WAYS if way != Signature.Method.PKCS11 or has_remote_key)


def signing_status(agreement: Agreement, user) -> list[SigningRow]:
    """The required signatories of ``agreement`` in signing order, each with its signature state.

    A row's ``may_sign`` is true when ``user`` is that signatory, the agreement is in «signature»,
    its document is prepared with a field for them, and they have not signed yet (a signature
    takes its field for good, whatever its outcome); ``ways`` then lists how they can sign
    (PKCS#11 only when the user has a ``RemoteSigningKey``). ``user`` None gives the rows with
    nobody to sign them. A fixed number of queries whatever the number of signatories.
    """
    document = signing_document(agreement)
    signatories = list(
        Signatory.objects.filter(party__agreement_id=agreement.pk, required=True)
        .select_related("party__organisation", "user")
        .order_by("party__position", "position", "pk")
    )
    signatures = _signatures_by_signatory([s.pk for s in signatories])
    ways_of_user = None
    rows = []
    for order, signatory in enumerate(signatories, start=1):
        signature = signatures.get(signatory.pk)
        validation = latest_validation(signature) if signature is not None else None
        field_name = document.field_for(signatory) if document is not None else ""
        row = SigningRow(
            order=order,
            signatory=signatory,
            party=signatory.party,
            field_name=field_name or (signature.field_name if signature else ""),
            signature=signature,
            validation=validation,
        )
        may_sign = (
            user is not None
            and signatory.user_id == user.pk
            and agreement.state == AgreementState.SIGNATURE
            and bool(field_name)
            and signature is None
        )
        if may_sign:
            if ways_of_user is None:
                ways_of_user = signing_ways(user)
            row = replace(row, may_sign=True, ways=ways_of_user)
        rows.append(row)
    return rows


def agreement_signature(agreement: Agreement, signature_pk) -> Signature | None:
    """Signature ``signature_pk`` if it is on ``agreement``, with what its report shows."""
    return (
        Signature.objects.filter(pk=signature_pk, signatory__party__agreement_id=agreement.pk)
        .select_related("signatory__party__organisation", "signatory__party__agreement")
        .select_related("signatory__user")
        .prefetch_related("validations")
        .first()
    )
