"""PAdES signatures with pyHanko: preparing, certifying, signing, archiving, validating.

The approved PDF is frozen (RULES.md S3): ``prepare_for_signing`` appends a signature page and one
empty signature field per signatory in an incremental update, so the approved bytes stay an exact
prefix of the result, and the result's SHA-256 is what every signature must cover. ``certify``
lets the system seal certify that PDF first, with DocMDP level 2 (S5). Each signature is its own
incremental update (S4): ``sign_pkcs12`` / ``sign_with_signer`` make B-B, B-T or B-LT signatures;
``archive_timestamp`` makes the completed document B-LTA. ``validate`` reports per signature and
document timestamp following ETSI EN 319 102-1 (S6, S7), gated on pyHanko's ``bottom_line`` and
on the modification level.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import re
import ssl
import unicodedata
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import certifi
from asn1crypto import cms, pem, x509
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12
from django.utils import timezone
from django.utils.translation import gettext as _
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESStatus
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, handle_tsp_response
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    StaleRevinfoError,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from .errors import CertificateRejected, FieldNotFound, InvalidPdf, SigningError, WrongPassword

PASSED = AdESStatus.PASSED.name
INDETERMINATE = AdESStatus.INDETERMINATE.name
FAILED = AdESStatus.FAILED.name

# Both usages are required of a signer: nonRepudiation makes it a signature of will.
SIGNER_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})

_DOC_TIMESTAMP = "/DocTimeStamp"

_FIELD_HEIGHT = 22 * mm
_ROW_HEIGHT = 40 * mm
_MARGIN = 20 * mm

T = TypeVar("T")


# The network side of an operation ------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context of HTTPS responders and timestamp servers, loaded once per process.

    pyhanko-certvalidator's default session loads certifi's CA bundle into a new context for
    every fetcher (tens of milliseconds each); the bundle is the same, and a context can be
    shared by sessions, threads and event loops.
    """
    return ssl.create_default_context(cafile=certifi.where())


class Online:
    """The network side of one operation (a signature, a validation, an archive timestamp): one
    event loop, one HTTP session, and one set of OCSP / CRL / certificate fetchers shared by every
    validation context made in it (``context()``).

    Within an operation an answer is fetched once: the OCSP response the chain pre-check gets
    for the signer is the one embedded for B-LT and the one the validation after signing
    checks, as a validator does over one document. A failed fetch stays failed for the rest of
    the operation. Nothing carries over from one operation to the next but the TLS context and
    the size of each timestamp server's tokens (``_TimeStamper``): every operation asks the
    responders again.

    Use it as a context manager; ``run()`` runs a coroutine on its event loop.
    """

    def __init__(self) -> None:
        self._runner: asyncio.Runner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._fetchers = None

    def __enter__(self) -> Online:
        self._runner = asyncio.Runner()
        try:
            self._session = self._runner.run(self._open_session())
        except BaseException:
            self._runner.close()
            raise
        self._fetchers = AIOHttpFetcherBackend(self._session).get_fetchers()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._runner.run(self._session.close())
        finally:
            self._runner.close()
            self._runner = self._session = self._fetchers = None

    async def _open_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_tls_context()))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def context(self, roots: list[x509.Certificate]) -> ValidationContext:
        """A validation context at the present time (online, revocation checks required) whose
        fetches go through this operation's fetchers."""
        return ValidationContext(
            trust_roots=roots,
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetchers=self._fetchers,
        )

    def timestamper(self, url: str, *, reuse_sizing: bool = False) -> _TimeStamper:
        return _TimeStamper(url, session=self._session, reuse_sizing=reuse_sizing)


def _with_online(online: Online | None, work: Callable[[Online], T]) -> T:
    """``work(online)``, in an operation of its own when none is given."""
    if online is not None:
        return work(online)
    with Online() as own:
        return work(own)


class _KeySigner(signers.SimpleSigner):
    """pyHanko's in-memory signer, keeping the private key it was given as a key object.

    ``SimpleSigner.sign_raw`` parses the key's DER again for every signature value it makes
    (with RSA's key checks: about 55 ms here), and pyHanko makes two per signature (one to size
    the placeholder). RSA PKCS#1 v1.5 and ECDSA are signed here with the key already loaded;
    anything else goes to pyHanko as before.
    """

    def __init__(self, *, private_key, **kwargs) -> None:
        super().__init__(**kwargs)
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algorithm = mechanism.signature_algo
        except ValueError:
            algorithm = mechanism["algorithm"].native
        key = self._private_key
        hash_algorithm = get_pyca_cryptography_hash(digest_algorithm)
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
            return key.sign(data, PKCS1v15(), hash_algorithm)
        if algorithm == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
            return key.sign(data, ECDSA(hash_algorithm))
        return super().sign_raw(data, digest_algorithm)


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
        raise SigningError(_("At least one signatory is required."))
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
    """The key, certificate and chain of a PKCS#12 file, decrypted once (it is costly), as
    pyHanko's ``SimpleSigner.load_pkcs12_data`` loads them, keeping the key object."""
    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except (ValueError, TypeError) as e:
        raise WrongPassword() from e
    if key is None or cert is None:
        raise WrongPassword()
    registry = SimpleCertificateStore()
    registry.register_multiple({translate_pyca_cryptography_cert_to_asn1(c) for c in others})
    return _KeySigner(
        private_key=key,
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        signing_cert=translate_pyca_cryptography_cert_to_asn1(cert),
        cert_registry=registry,
    )


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
            _("The certificate is not valid yet: it is valid from %(date)s.")
            % {"date": not_before.isoformat()},
            reason="NOT_YET_VALID",
        )
    if at > not_after:
        raise CertificateRejected(
            _("The certificate expired on %(date)s.") % {"date": not_after.isoformat()},
            reason="EXPIRED",
        )
    usage = set(cert.key_usage_value.native) if cert.key_usage_value else set()
    missing = SIGNER_KEY_USAGE - usage
    if missing:
        raise CertificateRejected(
            _("The certificate is not meant for signatures: it lacks the key usage %(usage)s.")
            % {"usage": ", ".join(sorted(missing))},
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
    online: Online | None = None,
) -> bytes:
    """Sign the empty field ``field_name`` with a PKCS#12 key: PAdES B-B, or B-T with a TSA URL.

    With ``trust_roots`` the signer's chain is validated first (refused if untrusted or revoked)
    and, when they can be fetched, its certificates and revocation data are embedded: B-LT when
    a TSA URL is given too (see ``sign_with_signer``). The signature is a new incremental update
    with a visible appearance (name, party, time). Neither the PKCS#12 data nor the password
    are kept. ``online``: the operation this signature is part of (see ``Online``).
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
        online=online,
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
    online: Online | None = None,
) -> bytes:
    """One PAdES signature by ``signer`` (a PKCS#12 key or a PKCS#11 token) in ``field_name``:
    the certificate is checked, the appearance stamped, the signature added in an incremental
    update. Shared by every way of signing, so they all produce the same signature.

    Levels (RULES.md S4): B-B always, B-T with ``timestamper_url``. With ``trust_roots`` the
    signer's chain is validated online before signing: an untrusted or revoked certificate is
    refused (``CertificateRejected``, reason UNTRUSTED or REVOKED) and nothing is signed; when
    the certificates and revocation data (OCSP/CRL) of the signer and of the timestamp
    authority could be fetched they are embedded in a DSS, in an incremental update after the
    signature, as pyHanko's B-LT signing does (B-LT with a TSA); when the responders cannot be
    reached the signature is made without them (B-T) rather than not at all: ``validate`` then
    says INDETERMINATE/TRY_LATER until they answer. A timestamp authority whose certificate
    does not validate (untrusted, revoked, no timeStamping EKU) is refused (TSA_REJECTED).

    The timestamp request carries a random nonce that pyHanko's ``HTTPTimeStamper`` compares
    with the response's (``pyhanko.sign.timestamps.common_utils.handle_tsp_response``; see
    ``_TimeStamper``): a mismatch is refused as TSA_REJECTED. Message imprint,
    token signature and the TSA's timeStamping EKU are checked by ``validate`` (RULES.md S7).

    ``online`` is the operation the signature is part of, whose fetched answers serve the
    validation that follows (see ``Online``); without it the signature is an operation alone.
    """
    check_signer_certificate(signer.signing_cert)
    roots = None if trust_roots is None else [_load_cert(data) for data in trust_roots]

    def work(online: Online) -> bytes:
        try:
            return online.run(
                _sign(
                    pdf,
                    signer=signer,
                    field_name=field_name,
                    timestamper_url=timestamper_url,
                    party=party,
                    reason=reason,
                    location=location,
                    roots=roots,
                    online=online,
                )
            )
        except TimestampRequestError as e:
            raise _timestamp_error(e) from e

    return _with_online(online, work)


_STAMP_STYLE = TextStampStyle(
    stamp_text="Firmato digitalmente da %(signer)s\n%(party)s\n%(ts)s",
    timestamp_format="%d/%m/%Y %H:%M:%S %Z",
)


async def _sign(
    pdf: bytes,
    *,
    signer: signers.Signer,
    field_name: str,
    timestamper_url: str | None,
    party: str,
    reason: str | None,
    location: str | None,
    roots: list[x509.Certificate] | None,
    online: Online,
) -> bytes:
    # The chain first (RULES.md S2): nothing is signed with a refused certificate.
    vc = online.context(roots) if roots is not None else None
    signer_path = await _check_chain(signer, vc) if vc is not None else None
    signer_name = signer.signing_cert.subject.native.get("common_name", "")
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer_name or None,
    )

    async def sign(timestamper: _TimeStamper | None) -> bytes:
        pdf_signer = signers.PdfSigner(
            meta, signer=signer, timestamper=timestamper, stamp_style=_STAMP_STYLE
        )
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        out = await pdf_signer.async_sign_pdf(writer, appearance_text_params={"party": party})
        return out.getvalue()

    if not timestamper_url:
        signed = await sign(None)
    else:
        try:
            signed = await sign(online.timestamper(timestamper_url, reuse_sizing=True))
        except PyHankoSigningError as e:
            # The placeholder was sized on an earlier token of this server, and this one is
            # larger (its certificates changed): size it on a new token, as pyHanko does.
            if "larger than expected" not in str(e):
                raise
            signed = await sign(online.timestamper(timestamper_url))
    if signer_path is None:
        return signed
    return await _with_validation_data(signed, field_name, signer_path, vc)


async def _with_validation_data(
    signed: bytes, field_name: str, signer_path: ValidationPath, vc: ValidationContext
) -> bytes:
    """``signed`` plus an incremental update with a DSS holding the certificates and revocation
    data of the new signature's signer and timestamp authority (PAdES B-LT), one VRI entry for
    the signature: what pyHanko's signer writes after a signature with
    ``embed_validation_info``. Without the timestamp authority's revocation data, ``signed``."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    # Only the new signature is read (the reader's embedded_signatures reads them all).
    [embedded] = [
        EmbeddedPdfSignature(writer.prev, sig_field, name)
        for name, _value, sig_field in fields.enumerate_sig_fields(writer.prev, filled_status=True)
        if name == field_name
    ]
    paths = [signer_path]
    token = _timestamp_token(embedded)
    if token is not None:
        try:
            paths.append(await _tsa_path(cms.ContentInfo.load(token), vc))
        except InsufficientRevinfoError:
            # The signer's revocation data came in; the timestamp authority's did not.
            return signed
        except (PathBuildingError, PathValidationError, InvalidCertificateError) as e:
            raise _tsa_rejected(e) from e
    DocumentSecurityStore.supply_dss_in_writer(
        writer, embedded.pkcs7_content, paths=paths, validation_context=vc
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def _tsa_path(token: cms.ContentInfo, vc: ValidationContext) -> ValidationPath:
    """The timestamp authority's chain, validated for timestamping as pyHanko's signer does
    before embedding it (``TimeStamper.validation_paths``)."""
    info = extract_certificate_info(token["content"])
    validator = CertificateValidator(
        info.signer_cert, intermediate_certs=info.other_certs, validation_context=vc
    )
    return await validator.async_validate_usage(set(), {"time_stamping"})


async def _check_chain(signer: signers.Signer, vc: ValidationContext) -> ValidationPath | None:
    """Validate the signer's chain and revocation status now, before signing (RULES.md S2).

    Returns the validated path, or None when revocation data could not be obtained; raises
    ``CertificateRejected`` when the chain is untrusted, a certificate in it is revoked or
    outside its validity.
    """
    cert = signer.signing_cert
    validator = CertificateValidator(
        cert, intermediate_certs=signer.cert_registry, validation_context=vc
    )
    try:
        path = await validator.async_validate_usage(set())
    except InsufficientRevinfoError:
        return None
    except RevokedError as e:
        when = e.revocation_dt.date().isoformat()
        if e.is_ee_cert:
            message = _(
                "Your certificate was revoked on %(date)s (%(reason)s): a revoked certificate "
                "cannot sign. Ask your certification authority for a new certificate and sign "
                "with that."
            )
        else:
            message = _(
                "A certificate authority in your certificate's chain was revoked on %(date)s "
                "(%(reason)s): the certificate cannot sign. Ask your certification authority "
                "for a new certificate and sign with that."
            )
        raise CertificateRejected(
            message % {"date": when, "reason": e.reason.human_friendly},
            reason="REVOKED",
            revoked_on=when,
        ) from e
    except ExpiredError as e:
        raise CertificateRejected(
            _(
                "A certificate in the chain expired on %(date)s: sign with a currently valid "
                "certificate."
            )
            % {"date": e.expired_dt.date().isoformat()},
            reason="EXPIRED",
        ) from e
    except NotYetValidError as e:
        raise CertificateRejected(
            _(
                "A certificate in the chain is valid only from %(date)s: sign with a currently "
                "valid certificate."
            )
            % {"date": e.valid_from.date().isoformat()},
            reason="NOT_YET_VALID",
        ) from e
    except (PathBuildingError, PathValidationError) as e:
        raise CertificateRejected(
            _(
                "The certificate was not issued by a trusted certification authority (issuer: "
                "%(issuer)s). Sign with a qualified certificate from a trusted provider, or ask "
                "the administrator to add its authority to the trust roots."
            )
            % {"issuer": cert.issuer.human_friendly},
            reason="UNTRUSTED",
            detail=_error_text(e),
        ) from e
    return path


# The last token each timestamp server gave, per digest algorithm. pyHanko sizes the placeholder
# of a signature on a token it first asks the server for (``async_dummy_response``): a token of
# the same server sizes it as well and saves that request. Only its size is used.
_SIZING_TOKENS: dict[tuple[str, str], cms.ContentInfo] = {}


class _TimeStamper(timestamps.HTTPTimeStamper):
    """pyHanko's HTTP timestamp client, whose nonce check is made to fail cleanly, and which
    can size a placeholder without a request.

    ``HTTPTimeStamper`` sends a random nonce and ``handle_tsp_response`` compares the
    response's with it (RULES.md S7), but pyHanko 0.38 then formats its error with
    ``nonce.hex()`` on an int, so a wrong nonce surfaces as AttributeError. The comparison is
    made here first, with a ``TimestampRequestError`` that says what happened.

    With ``reuse_sizing`` the token pyHanko asks for to size a signature's placeholder is the
    server's last token (``_SIZING_TOKENS``) when there is one, instead of a new request; the
    signature's own token is always requested. pyHanko also takes the certificates to validate
    for B-LT from that sizing token, so ``sign_with_signer`` takes them from the signature's
    own token instead, and the archive timestamp does not reuse tokens.
    """

    def __init__(self, url: str, *, session=None, reuse_sizing: bool = False) -> None:
        super().__init__(url, session=session)
        self._reuse_sizing = reuse_sizing

    async def async_dummy_response(self, md_algorithm):
        if self._reuse_sizing:
            token = _SIZING_TOKENS.get((self.url, md_algorithm))
            if token is not None:
                return token
        return await super().async_dummy_response(md_algorithm)

    async def async_timestamp(self, message_digest, md_algorithm):
        nonce, request = self.request_cms(message_digest, md_algorithm)
        response = await self.async_request_tsa_response(request)
        if response["status"]["status"].native == "granted":
            info = response["time_stamp_token"]["content"]["encap_content_info"]["content"]
            received = info.parsed["nonce"].native
            if nonce is not None and received != nonce:
                raise TimestampRequestError(
                    "its response carries the nonce of another request: replayed or misrouted"
                )
        token = handle_tsp_response(response, nonce)
        _SIZING_TOKENS[(self.url, md_algorithm)] = token
        return token


def _timestamp_error(error: TimestampRequestError) -> SigningError:
    """The server could not be reached (TSA_UNAVAILABLE), or its answer is not acceptable:
    request refused, or a response to another request (nonce mismatch) (TSA_REJECTED)."""
    if isinstance(error.__cause__, OSError | aiohttp.ClientError):
        return SigningError(
            _("The timestamp server did not answer; try again later."), reason="TSA_UNAVAILABLE"
        )
    return SigningError(
        _(
            "The timestamp server's answer is not acceptable (%(detail)s). Try again later; if "
            "it persists, ask the administrator to check the timestamp service "
            "(STIPULA_TSA_URL)."
        )
        % {"detail": error},
        reason="TSA_REJECTED",
    )


def _tsa_rejected(error: Exception) -> SigningError:
    return SigningError(
        _(
            "The timestamp server's certificate is not acceptable (%(detail)s). Ask the "
            "administrator to check the timestamp service (STIPULA_TSA_URL)."
        )
        % {"detail": _error_text(error)},
        reason="TSA_REJECTED",
    )


def _error_text(error: Exception) -> str:
    return getattr(error, "failure_msg", None) or str(error) or type(error).__name__


# What a signature dictionary is (``SignatureReport.kind``).
APPROVAL = "approval"
CERTIFICATION = "certification"
TIMESTAMP = "timestamp"


@dataclass
class SignatureReport:
    """The validation report of one signature or document timestamp (RULES.md S6, S7).

    ``kind`` is ``approval`` (a signatory's signature), ``certification`` (the system seal's
    DocMDP signature) or ``timestamp`` (a document timestamp, validated as a timestamp: its
    ``signer_subject`` is the timestamp authority and ``timestamp_token`` the token itself).
    ``to_dict()`` is JSON-ready.
    """

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
    kind: str = APPROVAL
    docmdp_ok: bool | None = None

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


def _kind(embedded) -> str:
    if embedded.sig_object_type == _DOC_TIMESTAMP:
        return TIMESTAMP
    # A certification signature is the one with a DocMDP transform (ISO 32000-1, 12.8.2.2).
    for reference in embedded.sig_object.get("/Reference", ()):
        if reference.get_object().get("/TransformMethod") == "/DocMDP":
            return CERTIFICATION
    return APPROVAL


def _dss_covers(root, cert: x509.Certificate) -> bool:
    """Whether the DSS of ``root`` holds ``cert`` and revocation data about it: an OCSP response
    for its serial number and issuer, or a CRL of its issuer (the B-LT validation data)."""
    dss = root.get("/DSS")
    if dss is None:
        return False
    dss = dss.get_object()
    if cert.dump() not in {ref.get_object().data for ref in dss.get("/Certs", ())}:
        return False
    for ref in dss.get("/OCSPs", ()):
        response = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
        if response["response_status"].native != "successful":
            continue
        basic = response["response_bytes"]["response"].parsed
        for single in basic["tbs_response_data"]["responses"]:
            cert_id = single["cert_id"]
            algorithm = cert_id["hash_algorithm"]["algorithm"].native
            if cert_id["serial_number"].native == cert.serial_number and cert_id[
                "issuer_name_hash"
            ].native == getattr(cert.issuer, algorithm, None):
                return True
    for ref in dss.get("/CRLs", ()):
        revocation_list = asn1_crl.CertificateList.load(ref.get_object().data)
        if revocation_list.issuer == cert.issuer:
            return True
    return False


def validate(
    pdf: bytes,
    *,
    trust_roots: list[bytes],
    approved_sha256: str | None = None,
    online: Online | None = None,
) -> list[SignatureReport]:
    """Validate every signature and document timestamp of ``pdf`` against ``trust_roots``.

    ``trust_roots`` are DER or PEM certificates. One report per signature dictionary, in the
    order they were added, each with its ``kind``; gate the workflow on the approvals (and the
    certification) being PASSED. Revocation is checked online (OCSP, then CRL) and a missing
    answer is an error, so an unreachable responder gives INDETERMINATE/TRY_LATER rather than
    PASSED.

    ``level`` of a signature: B-B; B-T with a valid signature timestamp; B-LT when the DSS also
    holds its certificate and revocation data about it; B-LTA when, besides, a valid document
    timestamp covers a revision whose DSS already held them. Timestamps, the signature's own
    and document timestamps alike, pass only if the token's message imprint matches what it
    stamps, its signature verifies, and the TSA certificate chains to a trust root and carries
    the timeStamping extended key usage (RULES.md S7; pyHanko's timestamp validation requires
    the EKU explicitly). The nonce is a property of the request/response exchange, not of the
    stored token: it is checked when the token is fetched (see ``sign_with_signer``).

    ``online``: the operation the validation is part of (see ``Online``): the revocation data
    fetched earlier in it (e.g. by the signature just made) serves here too. Without it the
    validation is an operation of its own, and fetches everything it needs.
    """
    roots = [_load_cert(data) for data in trust_roots]
    reader = _reader(pdf)
    try:
        embedded_signatures = list(reader.embedded_signatures)
    except (PdfError, KeyError, ValueError) as e:
        raise InvalidPdf(detail=str(e)) from e
    reports = _with_online(
        online,
        lambda online: online.run(
            _validate_all(reader, embedded_signatures, pdf, approved_sha256, roots, online)
        ),
    )
    _mark_archived(reader, embedded_signatures, reports)
    return reports


async def _validate_all(
    reader, embedded_signatures, pdf, approved_sha256, roots, online: Online
) -> list[SignatureReport]:
    # The certificates and revocation data fetched for one signature (the CA's CRL, the TSA's
    # status) serve the others, as a validator does over one document.
    contexts = (online.context(roots), online.context(roots))
    reports = []
    for embedded in embedded_signatures:
        kind = _kind(embedded)
        report = SignatureReport(
            # str(): pyHanko's text object references the whole document, which to_dict() copies.
            field_name=str(embedded.field_name),
            indication=INDETERMINATE,
            kind=kind,
        )
        try:
            if kind == TIMESTAMP:
                await _validate_document_timestamp(
                    report, embedded, pdf, approved_sha256, roots, contexts[1], online
                )
            else:
                await _validate_signature(
                    report, embedded, reader, pdf, approved_sha256, roots, contexts, online
                )
        except (PdfError, ValueError, KeyError, SignatureValidationError) as e:
            report.indication = FAILED
            report.sub_indication = AdESFailure.FORMAT_FAILURE.name
            report.problems.append(f"The signature could not be read: {e}")
        reports.append(report)
    return reports


def _load_cert(data: bytes) -> x509.Certificate:
    if pem.detect(data):
        _type, _headers, data = pem.unarmor(data)
    return x509.Certificate.load(data)


async def _validate_signature(
    report, embedded, reader, pdf, approved_sha256, roots, contexts, online: Online
) -> None:
    key_usage = KeyUsageConstraints(key_usage=set(SIGNER_KEY_USAGE), match_all_key_usages=True)
    status = await async_validate_pdf_signature(
        embedded,
        signer_validation_context=contexts[0],
        ts_validation_context=contexts[1],
        key_usage_settings=key_usage,
    )
    cert = status.signing_cert
    report.signer_subject = cert.subject.human_friendly
    report.signer_fingerprint_sha256 = cert.sha256.hex()
    report.fiscal_code = fiscal_code_of(cert)
    report.signing_time = status.signer_reported_dt
    report.bottom_line = bool(status.bottom_line)
    report.docmdp_ok = status.docmdp_ok
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
        report.level = "B-LT" if _dss_covers(reader.root, cert) else "B-T"
    if approved_sha256 is not None:
        report.covers_approved = approved_sha256.lower() in _revision_prefix_hashes(
            pdf, _signed_end(embedded)
        )

    indication, sub, problems = _judge(status, mod_level, ts, ts_ok)
    if sub == AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE.name and (
        await _revocation_unavailable(embedded, roots, online)
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


async def _validate_document_timestamp(
    report, embedded, pdf, approved_sha256, roots, context, online: Online
) -> None:
    """A document timestamp (/DocTimeStamp) validated as an RFC 3161 token over the document."""
    status = await async_validate_pdf_timestamp(embedded, validation_context=context)
    cert = status.signing_cert
    report.signer_subject = cert.subject.human_friendly
    report.signer_fingerprint_sha256 = cert.sha256.hex()
    report.timestamp_time = status.timestamp
    report.timestamp_token = embedded.pkcs7_content
    report.coverage = status.coverage.name if status.coverage else ""
    mod_level = status.modification_level
    report.modification_level = mod_level.name if mod_level is not None else ""
    if status.validation_path is not None:
        report.trust_roots = [status.validation_path[0].subject.human_friendly]
    if approved_sha256 is not None:
        report.covers_approved = approved_sha256.lower() in _revision_prefix_hashes(
            pdf, _signed_end(embedded)
        )
    if not status.intact:
        indication, sub = FAILED, AdESFailure.HASH_FAILURE.name
        problems = ["The document timestamp does not match the document (message imprint)."]
    elif not status.valid:
        indication, sub = FAILED, AdESFailure.SIG_CRYPTO_FAILURE.name
        problems = ["The timestamp token's signature does not verify."]
    elif _modified_beyond_form_filling(status.diff_result, mod_level):
        level = mod_level.name if mod_level is not None else "unknown"
        indication, sub = FAILED, AdESFailure.FORMAT_FAILURE.name
        problems = [
            f"The document was modified after this timestamp beyond form filling ({level})."
        ]
    elif not status.trusted:
        indic = status.trust_problem_indic
        indication = indic.status.name if indic is not None else INDETERMINATE
        sub = (
            indic.standard_name
            if indic is not None
            else AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND.name
        )
        if sub == AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE.name and (
            await _revocation_unavailable(embedded, roots, online)
        ):
            sub = AdESIndeterminate.TRY_LATER.name
        problems = [_tsa_problem(status, sub)]
    else:
        indication, sub, problems = PASSED, "", []
    report.bottom_line = indication == PASSED
    report.indication, report.sub_indication = indication, sub
    report.problems.extend(problems)


def _tsa_problem(ts, sub: str) -> str:
    """Why a timestamp token is not trusted, in words; the missing EKU is named (RULES.md S7)."""
    cert = ts.signing_cert
    eku = cert.extended_key_usage_value
    if eku is None or "time_stamping" not in eku.native:
        return (
            f"The timestamp authority's certificate ({cert.subject.human_friendly}) lacks the "
            "timeStamping extended key usage, so its timestamps are not accepted."
        )
    if sub == AdESIndeterminate.TRY_LATER.name:
        return _TRUST_MESSAGES[sub]
    return (
        f"The timestamp authority ({cert.subject.human_friendly}) could not be validated "
        f"against the trust roots ({sub})."
    )


def _signed_end(embedded) -> int:
    byte_range = [int(embedded.byte_range[i]) for i in range(4)]
    return byte_range[2] + byte_range[3]


def _mark_archived(reader, embedded_signatures, reports) -> None:
    """Raise B-LT signatures to B-LTA when a PASSED document timestamp covers their data."""
    stamps = [
        embedded
        for embedded, report in zip(embedded_signatures, reports, strict=True)
        if report.kind == TIMESTAMP and report.passed
    ]
    for embedded, report in zip(embedded_signatures, reports, strict=True):
        if report.level != "B-LT":
            continue
        for stamp in stamps:
            if stamp.signed_revision > embedded.signed_revision and _dss_covers(
                reader.get_historical_root(stamp.signed_revision), embedded.signer_cert
            ):
                report.level = "B-LTA"
                break


# Certification by the system seal (RULES.md S5) -------------------------------------------


def load_seal(pkcs12_path: str, password: str) -> signers.SimpleSigner:
    """The system's electronic seal (key and certificate) from a PKCS#12 file.

    Raises ``SigningError`` naming the file when it is missing or unreadable, or when the
    password does not open it (reasons SEAL_NOT_FOUND, SEAL_WRONG_PASSWORD).
    """
    path = Path(pkcs12_path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SigningError(
            _(
                "The seal file %(path)s cannot be read (%(error)s). Check STIPULA_SEAL_PKCS12, "
                "or turn certification off (STIPULA_CERTIFY)."
            )
            % {"path": path, "error": e.strerror or e},
            reason="SEAL_NOT_FOUND",
        ) from e
    try:
        return _load_pkcs12(data, password)
    except WrongPassword as e:
        raise SigningError(
            _(
                "The seal file %(path)s could not be opened: the password is wrong or the file "
                "is not a PKCS#12 file. Check STIPULA_SEAL_PASSWORD and STIPULA_SEAL_PKCS12."
            )
            % {"path": path},
            reason="SEAL_WRONG_PASSWORD",
        ) from e


def certify(
    pdf: bytes,
    *,
    signer: signers.Signer,
    field_name: str = "Sigillo",
    timestamper_url: str | None = None,
) -> bytes:
    """Certify the prepared PDF with the system seal before any signature (RULES.md S5).

    A certification (DocMDP) signature with permission level 2, FILL_FORMS: later signatures in
    the empty fields and their appearances, validation data and document timestamps stay
    allowed, any other change breaks it. The field is invisible. Timestamped (B-T) when
    ``timestamper_url`` is given.
    """
    reader = _reader(pdf)
    if any(True for _signed in fields.enumerate_sig_fields(reader, filled_status=True)):
        raise SigningError(
            _(
                "The document is already signed: certification must come before the first "
                "signature. Certify the prepared document instead."
            ),
            reason="ALREADY_SIGNED",
        )
    if field_name in {name for name, _value, _ref in fields.enumerate_sig_fields(reader)}:
        raise SigningError(
            _(
                'The document already has a field named "%(field)s": choose another name for '
                "the seal."
            )
            % {"field": field_name},
            reason="FIELD_EXISTS",
        )
    check_signer_certificate(signer.signing_cert)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        name=signer.signing_cert.subject.native.get("common_name") or None,
    )

    async def sign(online: Online) -> bytes:
        pdf_signer = signers.PdfSigner(
            meta,
            signer=signer,
            timestamper=online.timestamper(timestamper_url) if timestamper_url else None,
            new_field_spec=fields.SigFieldSpec(sig_field_name=field_name),
        )
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        return (await pdf_signer.async_sign_pdf(writer)).getvalue()

    try:
        return _with_online(None, lambda online: online.run(sign(online)))
    except TimestampRequestError as e:
        raise _timestamp_error(e) from e


# Long-term archival: B-LTA (RULES.md S4) --------------------------------------------------


def archive_timestamp(
    pdf: bytes, *, timestamper_url: str, trust_roots: list[bytes], online: Online | None = None
) -> bytes:
    """Make the completed PDF B-LTA: validation data for every signature, then a document
    timestamp over everything, each in its own incremental update.

    First revision: the DSS gets the certificates, OCSP responses and CRLs of every signature
    and of its timestamp authority (one VRI entry per signature). Second: a document timestamp
    (/DocTimeStamp, field ``Marca_temporale_<n>``). A third adds the new timestamp authority's
    own validation data, ready for the next archive timestamp. The signatures themselves are
    not judged here: call it once ``validate`` has passed them.

    Raises ``SigningError`` with ``details["reason"]``: NOT_SIGNED, REVOCATION_UNAVAILABLE
    (responders down: try again later), UNTRUSTED or REVOKED (a chain that cannot be archived),
    TSA_UNAVAILABLE, TSA_REJECTED (e.g. a response whose nonce is not the request's, see
    ``_TimeStamper``). ``online``: the operation it is part of (see ``Online``), e.g. the
    validation that passed the last signature, whose revocation data it embeds.
    """
    reader = _reader(pdf)
    try:
        embedded_signatures = list(reader.embedded_signatures)
    except (PdfError, KeyError, ValueError) as e:
        raise InvalidPdf(detail=str(e)) from e
    if not embedded_signatures:
        raise SigningError(_("The document has no signature to archive."), reason="NOT_SIGNED")
    stamps = sum(1 for embedded in embedded_signatures if _kind(embedded) == TIMESTAMP)
    roots = [_load_cert(data) for data in trust_roots]

    async def run(online: Online) -> bytes:
        vc = online.context(roots)
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        dss = reader.root.get("/DSS")
        vri = dss.get_object().get("/VRI", {}) if dss is not None else {}
        for embedded in embedded_signatures:
            paths = await _collect_validation_info(embedded, vc)
            contents = embedded.pkcs7_content.hex().encode("ascii")
            # An existing VRI entry must not change (pyHanko's difference analysis would
            # call it a suspicious modification): its data goes to the DSS arrays only.
            if DocumentSecurityStore.sig_content_identifier(contents) in vri:
                contents = None
            DocumentSecurityStore.supply_dss_in_writer(
                writer, contents, paths=paths, validation_context=vc
            )
        with_dss = io.BytesIO()
        writer.write(with_dss)
        pdf_timestamper = signers.PdfTimeStamper(
            online.timestamper(timestamper_url), field_name=f"Marca_temporale_{stamps + 1}"
        )
        stamped = await pdf_timestamper.async_timestamp_pdf(
            IncrementalPdfFileWriter(with_dss, strict=False),
            "sha256",
            validation_context=vc,
        )
        return stamped.getvalue()

    try:
        return _with_online(online, lambda online: online.run(run(online)))
    except TimestampRequestError as e:
        raise _timestamp_error(e) from e
    except (PathBuildingError, PathValidationError, InvalidCertificateError) as e:
        # Only the new timestamp authority's chain is validated outside _collect_validation_info.
        if isinstance(e, InsufficientRevinfoError):
            raise SigningError(
                _(
                    "The revocation data of the timestamp server could not be obtained; try "
                    "again later."
                ),
                reason="REVOCATION_UNAVAILABLE",
            ) from e
        raise _tsa_rejected(e) from e


async def _collect_validation_info(embedded, vc: ValidationContext) -> list:
    """The validation paths of a signature and its timestamp, fetching their revocation data
    into ``vc``; an error names the field."""
    try:
        return await collect_validation_info(embedded, vc)
    except InsufficientRevinfoError as e:
        raise SigningError(
            _(
                'The revocation data for the signature in "%(field)s" could not be obtained '
                "(OCSP responder or CRL server unreachable); try again later."
            )
            % {"field": embedded.field_name},
            reason="REVOCATION_UNAVAILABLE",
            field_name=str(embedded.field_name),
        ) from e
    except RevokedError as e:
        raise SigningError(
            _(
                'The certificate of the signature in "%(field)s" is revoked: the document '
                "cannot be archived with it."
            )
            % {"field": embedded.field_name},
            reason="REVOKED",
            field_name=str(embedded.field_name),
        ) from e
    except (PathBuildingError, PathValidationError, InvalidCertificateError) as e:
        raise SigningError(
            _(
                'The certificate of the signature in "%(field)s" does not chain to a trust root '
                "(%(detail)s): the document cannot be archived with it."
            )
            % {"field": embedded.field_name, "detail": _error_text(e)},
            reason="UNTRUSTED",
            field_name=str(embedded.field_name),
        ) from e


async def _revocation_unavailable(embedded, roots, online: Online) -> bool:
    """Whether the signer's chain fails only for want of revocation data (OCSP/CRL unreachable)
    (an answer that failed earlier in the operation stays failed)."""
    validator = CertificateValidator(
        embedded.signer_cert,
        intermediate_certs=embedded.other_embedded_certs,
        validation_context=online.context(roots),
    )
    try:
        await validator.async_validate_usage(set())
    except StaleRevinfoError:
        return False
    except InsufficientRevinfoError:
        return True
    except (PathBuildingError, PathValidationError):
        return False
    return False


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
    if _modified_beyond_form_filling(status.diff_result, mod_level) or status.docmdp_ok is False:
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
        if not ts.intact:
            problem = "The signature timestamp does not match this signature (message imprint)."
        elif not ts.valid:
            problem = "The signature timestamp's own signature does not verify."
        else:
            problem = "The signature timestamp is not accepted: " + _tsa_problem(ts, sub)
        return INDETERMINATE, sub, [problem]
    if not status.bottom_line:
        return (
            INDETERMINATE,
            AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name,
            ["The signature did not pass every validation constraint."],
        )
    return PASSED, "", []


def _modified_beyond_form_filling(diff, mod_level) -> bool:
    return (diff is not None and not isinstance(diff, DiffResult)) or (
        mod_level is not None and mod_level > ModificationLevel.FORM_FILLING
    )


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
