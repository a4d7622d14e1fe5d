"""PAdES signatures with pyHanko: preparing the document, signing with PKCS#12, validating.

The approved PDF is frozen (RULES.md S3): ``prepare_for_signing`` appends a signature page and one
empty signature field per signatory in an incremental update, so the approved bytes stay an exact
prefix of the result, and the result's SHA-256 is what every signature must cover. Each signature
is its own incremental update (S4). ``validate`` reports per signature following ETSI EN 319 102-1
(S6, S7), gated on pyHanko's ``bottom_line`` and on the modification level.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime

from asn1crypto import pem, x509
from cryptography.hazmat.primitives.serialization import pkcs12
from django.utils import timezone
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESStatus
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathBuildingError,
    PathValidationError,
    StaleRevinfoError,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from .errors import CertificateRejected, FieldNotFound, InvalidPdf, SigningError, WrongPassword

PASSED = AdESStatus.PASSED.name
INDETERMINATE = AdESStatus.INDETERMINATE.name
FAILED = AdESStatus.FAILED.name

# Both usages are required of a signer: nonRepudiation makes it a signature of will.
SIGNER_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})

_FIELD_HEIGHT = 22 * mm
_ROW_HEIGHT = 40 * mm
_MARGIN = 20 * mm


@dataclass(frozen=True)
class SignatoryField:
    """One required signatory: who signs, in what role, for which party."""

    name: str
    title: str
    party: str


def field_name_for(index: int, signatory: SignatoryField) -> str:
    """Field name of the ``index``-th signatory (1-based), e.g. ``Firma_1_mario-rossi``."""
    ascii_name = unicodedata.normalize("NFKD", signatory.name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "firmatario"
    return f"Firma_{index}_{slug}"


def _reader(pdf: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        # Touch the page tree so a damaged file fails here and not halfway through a write.
        reader.root["/Pages"]["/Count"]  # noqa: B018
    except (PdfError, KeyError, ValueError, TypeError, IndexError) as e:
        raise InvalidPdf(detail=str(e)) from e
    return reader


def _signature_pages(signatories: list[SignatoryField]) -> tuple[bytes, list[tuple]]:
    """A PDF listing the signatories, and each one's field as (page index in it, box)."""
    buf = io.BytesIO()
    width, height = A4
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    c.setTitle("Pagina delle firme")
    page = 0
    y = _new_signature_page(c, height)
    fields_at = []
    box_left = width / 2 - 10 * mm
    box_right = width - _MARGIN
    for index, signatory in enumerate(signatories, start=1):
        if y - _ROW_HEIGHT < _MARGIN:
            c.showPage()
            page += 1
            y = _new_signature_page(c, height)
        c.setFont("Helvetica-Bold", 10)
        c.drawString(_MARGIN, y - 5 * mm, f"{index}. {signatory.name}")
        c.setFont("Helvetica", 9)
        c.drawString(_MARGIN, y - 10 * mm, signatory.title)
        c.drawString(_MARGIN, y - 15 * mm, f"per {signatory.party}")
        box_bottom = y - 5 * mm - _FIELD_HEIGHT
        c.setStrokeGray(0.6)
        c.rect(box_left, box_bottom, box_right - box_left, _FIELD_HEIGHT)
        box = (int(box_left), int(box_bottom), int(box_right), int(box_bottom + _FIELD_HEIGHT))
        fields_at.append((page, box))
        y -= _ROW_HEIGHT
    c.showPage()
    c.save()
    return buf.getvalue(), fields_at


def _new_signature_page(c: canvas.Canvas, height: float) -> float:
    y = height - _MARGIN
    c.setFont("Helvetica-Bold", 14)
    c.drawString(_MARGIN, y, "Firme digitali dei sottoscrittori")
    return y - 10 * mm


def _append_page(writer: IncrementalPdfFileWriter, source: PdfFileReader, index: int) -> None:
    xobject = writer.import_page_as_xobject(source, index)
    content = writer.add_object(generic.StreamObject(stream_data=b"q /SigPage Do Q"))
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(0), generic.NumberObject(0)]
                + [generic.FloatObject(v) for v in A4]
            ),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/SigPage"): xobject})}
            ),
            pdf_name("/Contents"): content,
        }
    )
    writer.insert_page(page)


def prepare_for_signing(pdf: bytes, signatories: list[SignatoryField]) -> bytes:
    """Append signature pages with one empty visible field per signatory (RULES.md S5).

    The approved bytes are kept as an exact prefix: the pages and fields are an incremental update.
    """
    if not signatories:
        raise SigningError("At least one signatory is required.")
    approved_pages = int(_reader(pdf).root["/Pages"]["/Count"])
    pages_pdf, fields_at = _signature_pages(signatories)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    pages_reader = PdfFileReader(io.BytesIO(pages_pdf))
    for index in range(int(pages_reader.root["/Pages"]["/Count"])):
        _append_page(writer, pages_reader, index)
    for index, (signatory, (page, box)) in enumerate(
        zip(signatories, fields_at, strict=True), start=1
    ):
        fields.append_signature_field(
            writer,
            fields.SigFieldSpec(
                sig_field_name=field_name_for(index, signatory),
                on_page=approved_pages + page,
                box=box,
            ),
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _load_pkcs12(data: bytes, password: str) -> signers.SimpleSigner:
    try:
        pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError as e:
        raise WrongPassword() from e
    return signers.SimpleSigner.load_pkcs12_data(data, (), passphrase=password.encode("utf-8"))


def check_signer_certificate(cert: x509.Certificate, *, at: datetime | None = None) -> None:
    """Refuse, before signing, a certificate that is outside its validity or lacks key usages.

    Trust and revocation are checked by ``validate`` against the configured trust roots.
    """
    at = at or timezone.now()
    validity = cert["tbs_certificate"]["validity"]
    not_before = validity["not_before"].native
    not_after = validity["not_after"].native
    if at < not_before:
        raise CertificateRejected(
            f"The certificate is not valid yet: it is valid from {not_before.isoformat()}.",
            reason="NOT_YET_VALID",
        )
    if at > not_after:
        raise CertificateRejected(
            f"The certificate expired on {not_after.isoformat()}.", reason="EXPIRED"
        )
    usage = set(cert.key_usage_value.native) if cert.key_usage_value else set()
    missing = SIGNER_KEY_USAGE - usage
    if missing:
        raise CertificateRejected(
            "The certificate is not meant for signatures: it lacks the key usage "
            + ", ".join(sorted(missing))
            + ".",
            reason="KEY_USAGE",
        )


def _empty_field_names(reader: PdfFileReader) -> list[str]:
    return [
        name
        for name, value, _ref in fields.enumerate_sig_fields(reader, filled_status=False)
        if value is None
    ]


def sign_pkcs12(
    pdf: bytes,
    *,
    field_name: str,
    pkcs12: bytes,
    password: str,
    timestamper_url: str | None = None,
    party: str = "",
    reason: str | None = None,
    location: str | None = None,
    trust_roots: list[bytes] | None = None,
) -> bytes:
    """Sign the empty field ``field_name`` with a PKCS#12 key: PAdES B-B, or B-T with a TSA URL.

    With ``trust_roots`` the signer's chain is validated first (refused if untrusted or revoked)
    and its certificates and revocation data are embedded: B-LT when a TSA URL is given too.
    The signature is a new incremental update with a visible appearance (name, party, time).
    Neither the PKCS#12 data nor the password are kept.
    """
    require_empty_field(pdf, field_name)
    signer = _load_pkcs12(pkcs12, password)
    return sign_with_signer(
        pdf,
        signer=signer,
        field_name=field_name,
        timestamper_url=timestamper_url,
        party=party,
        reason=reason,
        location=location,
        trust_roots=trust_roots,
    )


def require_empty_field(pdf: bytes, field_name: str) -> None:
    """Refuse a damaged PDF, or one without an empty signature field of that name."""
    if field_name not in _empty_field_names(_reader(pdf)):
        raise FieldNotFound(field=field_name)


def sign_with_signer(
    pdf: bytes,
    *,
    signer: signers.Signer,
    field_name: str,
    timestamper_url: str | None,
    party: str,
    reason: str | None,
    location: str | None,
    trust_roots: list[bytes] | None,
) -> bytes:
    """One PAdES signature by ``signer`` (a PKCS#12 key or a PKCS#11 token) in ``field_name``:
    the certificate is checked, the appearance stamped, the signature added in an incremental
    update. Shared by every way of signing, so they all produce the same signature."""
    check_signer_certificate(signer.signing_cert)
    signer_name = signer.signing_cert.subject.native.get("common_name", "")
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer_name or None,
        embed_validation_info=trust_roots is not None,
        validation_context=_validation_context(trust_roots) if trust_roots is not None else None,
    )
    style = TextStampStyle(
        stamp_text="Firmato digitalmente da %(signer)s\n%(party)s\n%(ts)s",
        timestamp_format="%d/%m/%Y %H:%M:%S %Z",
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=signer,
        timestamper=timestamps.HTTPTimeStamper(timestamper_url) if timestamper_url else None,
        stamp_style=style,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    try:
        out = pdf_signer.sign_pdf(writer, appearance_text_params={"party": party})
    except TimestampRequestError as e:
        raise SigningError(
            "The timestamp server did not answer; try again later.", reason="TSA_UNAVAILABLE"
        ) from e
    except PyHankoSigningError as e:
        if trust_roots is None:
            raise
        raise CertificateRejected(
            "The certificate could not be validated against the trust roots: it is revoked, "
            "not issued by a trusted authority, or its revocation status is unavailable.",
            reason="CHAIN",
        ) from e
    return out.getvalue()


@dataclass
class SignatureReport:
    """The validation report of one signature (RULES.md S6, S7); ``to_dict()`` is JSON-ready."""

    field_name: str
    indication: str
    sub_indication: str = ""
    problems: list[str] = field(default_factory=list)
    signer_subject: str = ""
    signer_fingerprint_sha256: str = ""
    fiscal_code: str = ""
    signing_time: datetime | None = None
    timestamp_time: datetime | None = None
    level: str = ""
    coverage: str = ""
    modification_level: str = ""
    covers_approved: bool | None = None
    trust_roots: list[str] = field(default_factory=list)
    timestamp_token: bytes | None = None
    bottom_line: bool = False

    @property
    def passed(self) -> bool:
        return self.indication == PASSED

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("signing_time", "timestamp_time"):
            data[key] = data[key].isoformat() if data[key] else None
        token = data.pop("timestamp_token")
        data["timestamp_token_b64"] = base64.b64encode(token).decode("ascii") if token else None
        return data


def fiscal_code_of(cert: x509.Certificate) -> str:
    """The codice fiscale in the subject serialNumber ``TINIT-<codice fiscale>`` (RULES.md S8)."""
    serial = cert.subject.native.get("serial_number", "")
    if isinstance(serial, str) and serial.upper().startswith("TINIT-"):
        return serial[len("TINIT-") :].upper()
    return ""


def _revision_prefix_hashes(pdf: bytes, end: int) -> set[str]:
    """SHA-256 of every revision of ``pdf[:end]`` (each one ends at an ``%%EOF`` marker)."""
    hashes = set()
    for match in re.finditer(rb"%%EOF", pdf[:end]):
        stop = match.end()
        for eol in (b"", b"\n", b"\r\n", b"\r"):
            if pdf[stop : stop + len(eol)] == eol and stop + len(eol) <= end:
                hashes.add(hashlib.sha256(pdf[: stop + len(eol)]).hexdigest())
    return hashes


def _timestamp_token(embedded) -> bytes | None:
    unsigned = embedded.signer_info["unsigned_attrs"]
    if not unsigned:
        return None
    for attr in unsigned:
        if attr["type"].native == "signature_time_stamp_token":
            return attr["values"][0].dump()
    return None


def _has_validation_data(reader: PdfFileReader, cert: x509.Certificate) -> bool:
    """Whether the DSS holds the signer's certificate and revocation data (B-LT).

    The DSS is shared by all signatures; this does not match each OCSP response or CRL to the
    certificate it is about.
    """
    if "/DSS" not in reader.root:
        return False
    dss = reader.root["/DSS"]
    certs = {stream.get_object().data for stream in dss.get("/Certs", ())}
    revocation = bool(dss.get("/OCSPs", ())) or bool(dss.get("/CRLs", ()))
    return revocation and cert.dump() in certs


def validate(
    pdf: bytes, *, trust_roots: list[bytes], approved_sha256: str | None = None
) -> list[SignatureReport]:
    """Validate every signature of ``pdf`` against ``trust_roots`` (DER or PEM certificates).

    Revocation is checked online (OCSP, then CRL) and a missing answer is an error, so an
    unreachable responder gives INDETERMINATE/TRY_LATER rather than PASSED.
    """
    roots = [_load_cert(data) for data in trust_roots]
    reader = _reader(pdf)
    try:
        embedded_signatures = list(reader.embedded_signatures)
    except (PdfError, KeyError, ValueError) as e:
        raise InvalidPdf(detail=str(e)) from e
    key_usage = KeyUsageConstraints(key_usage=set(SIGNER_KEY_USAGE), match_all_key_usages=True)
    reports = []
    for embedded in embedded_signatures:
        vc = ValidationContext(trust_roots=roots, allow_fetching=True, revocation_mode="hard-fail")
        ts_vc = ValidationContext(
            trust_roots=roots, allow_fetching=True, revocation_mode="hard-fail"
        )
        report = SignatureReport(field_name=embedded.field_name, indication=INDETERMINATE)
        try:
            status = validate_pdf_signature(
                embedded,
                signer_validation_context=vc,
                ts_validation_context=ts_vc,
                key_usage_settings=key_usage,
            )
        except (PdfError, ValueError, KeyError) as e:
            report.indication = FAILED
            report.sub_indication = AdESFailure.FORMAT_FAILURE.name
            report.problems.append(f"The signature could not be read: {e}")
            reports.append(report)
            continue
        _fill_report(report, embedded, status, reader, pdf, approved_sha256, roots)
        reports.append(report)
    return reports


def _load_cert(data: bytes) -> x509.Certificate:
    if pem.detect(data):
        _type, _headers, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def _fill_report(report, embedded, status, reader, pdf, approved_sha256, roots) -> None:
    cert = status.signing_cert
    report.signer_subject = cert.subject.human_friendly
    report.signer_fingerprint_sha256 = cert.sha256.hex()
    report.fiscal_code = fiscal_code_of(cert)
    report.signing_time = status.signer_reported_dt
    report.bottom_line = bool(status.bottom_line)
    report.coverage = status.coverage.name if status.coverage else ""
    mod_level = status.modification_level
    report.modification_level = mod_level.name if mod_level is not None else ""
    if status.validation_path is not None:
        report.trust_roots = [status.validation_path[0].subject.human_friendly]
    ts = status.timestamp_validity
    ts_ok = ts is not None and ts.valid and ts.intact and ts.trusted
    if ts is not None:
        report.timestamp_time = ts.timestamp
        report.timestamp_token = _timestamp_token(embedded)
    report.level = "B-B"
    if ts_ok:
        report.level = "B-LT" if _has_validation_data(reader, cert) else "B-T"

    byte_range = [int(embedded.byte_range[i]) for i in range(4)]
    signed_end = byte_range[2] + byte_range[3]
    if approved_sha256 is not None:
        report.covers_approved = approved_sha256.lower() in _revision_prefix_hashes(pdf, signed_end)

    indication, sub, problems = _judge(status, mod_level, ts, ts_ok)
    if sub == AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE.name and (
        _revocation_unavailable(embedded, roots)
    ):
        # pyHanko reports missing revocation data as a general chain failure; ETSI calls it
        # TRY_LATER, which tells the workflow to keep the signature pending and validate again.
        sub = AdESIndeterminate.TRY_LATER.name
        problems = [_TRUST_MESSAGES[sub]]
    if report.covers_approved is False and indication == PASSED:
        indication, sub = FAILED, AdESFailure.FORMAT_FAILURE.name
        problems.append("The signature does not cover the approved document.")
    missing_usage = SIGNER_KEY_USAGE - (
        set(cert.key_usage_value.native) if cert.key_usage_value else set()
    )
    if missing_usage and indication == PASSED:
        # pyHanko 0.38 drops match_all_key_usages when it rebuilds the key usage constraints, so
        # a certificate with digitalSignature alone would pass: check both usages here.
        indication, sub = INDETERMINATE, AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE.name
        problems.append(
            "The certificate is not meant for signatures: it lacks the key usage "
            + ", ".join(sorted(missing_usage))
            + "."
        )
    report.indication, report.sub_indication = indication, sub
    report.problems.extend(problems)


def _validation_context(trust_roots: list[bytes]) -> ValidationContext:
    return ValidationContext(
        trust_roots=[_load_cert(data) for data in trust_roots],
        allow_fetching=True,
        revocation_mode="hard-fail",
    )


def _revocation_unavailable(embedded, roots) -> bool:
    """Whether the signer's chain fails only for want of revocation data (OCSP/CRL unreachable)."""

    async def check() -> bool:
        backend = AIOHttpFetcherBackend()
        try:
            validator = CertificateValidator(
                embedded.signer_cert,
                intermediate_certs=embedded.other_embedded_certs,
                validation_context=ValidationContext(
                    trust_roots=roots,
                    allow_fetching=True,
                    revocation_mode="hard-fail",
                    fetchers=backend.get_fetchers(),
                ),
            )
            await validator.async_validate_usage(set())
        except StaleRevinfoError:
            return False
        except InsufficientRevinfoError:
            return True
        except (PathBuildingError, PathValidationError):
            return False
        finally:
            await backend.close()
        return False

    return asyncio.run(check())


def _judge(status, mod_level, ts, ts_ok) -> tuple[str, str, list[str]]:
    """ETSI EN 319 102-1 indication and sub-indication; PASSED needs ``bottom_line``."""
    if not status.intact:
        return FAILED, AdESFailure.HASH_FAILURE.name, ["The signed content was altered."]
    if not status.valid:
        return (
            FAILED,
            AdESFailure.SIG_CRYPTO_FAILURE.name,
            ["The signature value does not verify with the signer's key."],
        )
    diff = status.diff_result
    if (
        (diff is not None and not isinstance(diff, DiffResult))
        or (mod_level is not None and mod_level > ModificationLevel.FORM_FILLING)
        or status.docmdp_ok is False
    ):
        level = mod_level.name if mod_level is not None else "unknown"
        return (
            FAILED,
            AdESFailure.FORMAT_FAILURE.name,
            [f"The document was modified after this signature beyond form filling ({level})."],
        )
    if status.revocation_details is not None:
        return FAILED, AdESFailure.REVOKED.name, ["The signer's certificate is revoked."]
    indic = status.trust_problem_indic
    if indic is not None:
        proven = _proven_out_of_validity(status.signing_cert, ts if ts_ok else None)
        if proven is not None:
            # A trusted timestamp proves when the signature existed (RULES.md S2: no signature).
            return FAILED, proven, [_TRUST_MESSAGES[proven]]
        message = _TRUST_MESSAGES.get(indic.name, "The certificate could not be validated.")
        return indic.status.name, indic.standard_name, [message]
    if ts is not None and not ts_ok:
        ts_indic = ts.trust_problem_indic
        sub = (
            ts_indic.standard_name
            if ts_indic is not None
            else AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name
        )
        return INDETERMINATE, sub, ["The signature timestamp could not be validated."]
    if not status.bottom_line:
        return (
            INDETERMINATE,
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name,
            ["The signature did not pass every validation constraint."],
        )
    return PASSED, "", []


def _proven_out_of_validity(cert, ts) -> str | None:
    """FAILED sub-indication when a trusted timestamp puts the signature outside the validity."""
    if ts is None or ts.timestamp is None:
        return None
    validity = cert["tbs_certificate"]["validity"]
    if ts.timestamp > validity["not_after"].native:
        return "EXPIRED"
    if ts.timestamp < validity["not_before"].native:
        return AdESFailure.NOT_YET_VALID.name
    return None


_TRUST_MESSAGES = {
    "NO_CERTIFICATE_CHAIN_FOUND": "The certificate was not issued by a trusted authority.",
    "TRY_LATER": "The revocation status could not be obtained now; validate again later.",
    "REVOKED_NO_POE": "The certificate is revoked and nothing proves the signature predates it.",
    "REVOKED_CA_NO_POE": "A CA certificate in the chain is revoked.",
    "OUT_OF_BOUNDS_NO_POE": "The certificate was not valid at the time of the signature.",
    "OUT_OF_BOUNDS_NOT_REVOKED": "The certificate was not valid at the time of the signature.",
    "EXPIRED": "The signature was made after the certificate expired.",
    "NOT_YET_VALID": "The signature was made before the certificate became valid.",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": "The certificate chain could not be validated.",
    "CHAIN_CONSTRAINTS_FAILURE": "The certificate is not allowed to make this signature "
    "(key usage or chain constraints).",
    "SIG_CONSTRAINTS_FAILURE": "The signature does not meet the signature constraints.",
}
