"""Checking a PDF that a signatory signed outside Stipula with their own tool and uploaded.

The signatory downloads the PDF (``expected``), signs it with their own qualified-signature tool
and uploads the result. ``check_external_upload`` accepts it only if it is the expected PDF plus
exactly one new signature in that signatory's field (RULES.md S3, S4), nothing else changed
(pyHanko difference analysis no worse than form filling, S6), every earlier signature still
passes, the new signature passes (S2, S6), and the certificate belongs to that signatory (S8).

Every refusal raises an error from ``signing.errors`` whose ``details["reason"]`` says what was
wrong; the new signature's report comes back on success.
"""

from __future__ import annotations

import io

from asn1crypto import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DiffResult,
    DocInfoRule,
    DSSCompareRule,
    FormUpdatingRule,
    GenericFieldModificationRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    XrefStreamRule,
)
from pyhanko.sign.diff_analysis.constants import ACROFORM_EXEMPT_STRICT_COMPARISON

from .errors import CertificateRejected, InvalidPdf, SignatureInvalid
from .pades import (
    INDETERMINATE,
    PASSED,
    SIGNER_KEY_USAGE,
    SignatureReport,
    fiscal_code_of,
    validate,
)

# Reason codes in ``details["reason"]`` of the errors raised here.
INVALID_PDF = "INVALID_PDF"
DIFFERENT_DOCUMENT = "DIFFERENT_DOCUMENT"
NO_NEW_SIGNATURE = "NO_NEW_SIGNATURE"
TOO_MANY_SIGNATURES = "TOO_MANY_SIGNATURES"
WRONG_FIELD = "WRONG_FIELD"
CONTENT_CHANGED = "CONTENT_CHANGED"
EARLIER_SIGNATURE_FAILED = "EARLIER_SIGNATURE_FAILED"
SIGNATURE_NOT_PASSED = "SIGNATURE_NOT_PASSED"
WRONG_SIGNER = "WRONG_SIGNER"
SIGNER_NOT_IDENTIFIED = "SIGNER_NOT_IDENTIFIED"

_ALLOWED_LEVELS = {
    "",
    ModificationLevel.NONE.name,
    ModificationLevel.LTA_UPDATES.name,
    ModificationLevel.FORM_FILLING.name,
}
_DOC_TIMESTAMP = "/DocTimeStamp"

# pyHanko's default policy, except that /SigFlags may change: it does when the first signature is
# added, and pyHanko otherwise only diffs from a revision that is already signed.
_UPLOAD_DIFF_POLICY = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(),
        DocInfoRule().as_qualified(ModificationLevel.LTA_UPDATES),
        XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
        MetadataUpdateRule().as_qualified(ModificationLevel.LTA_UPDATES),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(),
            SigFieldModificationRule(),
            GenericFieldModificationRule(),
        ],
        ignored_acroform_keys=ACROFORM_EXEMPT_STRICT_COMPARISON | {"/SigFlags"},
    ),
)


def _read(pdf: bytes, what: str) -> tuple[PdfFileReader, list]:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        reader.root["/Pages"]["/Count"]  # noqa: B018 - fail here on a damaged file
        signatures = list(reader.embedded_signatures)
    except (PdfError, KeyError, ValueError, TypeError, IndexError) as e:
        raise InvalidPdf(
            f"The {what} file is not a readable PDF (it may be truncated or damaged). "
            "Upload the complete file saved by your signing tool.",
            reason=INVALID_PDF,
            detail=str(e),
        ) from e
    return reader, signatures


def _signed_end(embedded) -> int:
    byte_range = [int(embedded.byte_range[i]) for i in range(4)]
    return byte_range[2] + byte_range[3]


def _is_signature(embedded) -> bool:
    return embedded.sig_object_type != _DOC_TIMESTAMP


def check_external_upload(
    *,
    expected: bytes,
    uploaded: bytes,
    field_name: str,
    fiscal_code: str | None,
    full_name: str | None,
    trust_roots: list[bytes],
    approved_sha256: str | None = None,
    allow_name_match: bool = False,
) -> SignatureReport:
    """Check an externally signed upload; return the new signature's report or raise.

    ``expected`` is the PDF the signatory downloaded, ``field_name`` their signature field,
    ``fiscal_code`` / ``full_name`` who they are. A certificate without a ``TINIT-`` fiscal code
    is accepted on a case-insensitive common name equal to ``full_name`` only with
    ``allow_name_match``. ``approved_sha256`` is passed on to ``validate`` (RULES.md S3).
    """
    expected_reader, expected_signatures = _read(expected, "downloaded")
    reader, signatures = _read(uploaded, "uploaded")

    if not uploaded.startswith(expected):
        raise SignatureInvalid(
            "The uploaded file is not the document you downloaded: a signing tool must keep the "
            "document unchanged and append the signature. Download the document again, sign it "
            "without editing, and upload the signed file (in PAdES format, not P7M).",
            reason=DIFFERENT_DOCUMENT,
        )

    earlier = [s for s in signatures if _signed_end(s) <= len(expected)]
    new = [s for s in signatures if _signed_end(s) > len(expected) and _is_signature(s)]
    if len(earlier) != len(expected_signatures):
        raise SignatureInvalid(
            "The uploaded file alters the signatures already on the document. Download the "
            "document again and sign it without removing or replacing other signatures.",
            reason=CONTENT_CHANGED,
        )
    if not new:
        raise SignatureInvalid(
            "The uploaded file has no new signature. Sign the document with your signature tool "
            "(PAdES) in your signature field and upload the signed file.",
            reason=NO_NEW_SIGNATURE,
        )
    if len(new) > 1:
        raise SignatureInvalid(
            f"The uploaded file has {len(new)} new signatures; exactly one, yours, is expected. "
            "Download the document again and sign it once.",
            reason=TOO_MANY_SIGNATURES,
            count=len(new),
        )
    [signature] = new
    if signature.field_name != field_name:
        raise SignatureInvalid(
            f'The new signature is in the field "{signature.field_name}", not in your field '
            f'"{field_name}". Download the document again and sign in your own field.',
            reason=WRONG_FIELD,
            field_name=signature.field_name,
        )

    _check_signer(signature.signer_cert, fiscal_code, full_name, allow_name_match)

    # Everything appended to the expected bytes, reviewed revision by revision (RULES.md S3).
    base_revision = expected_reader.xrefs.total_revisions - 1
    diff = _UPLOAD_DIFF_POLICY.review_file(reader, base_revision)
    if not isinstance(diff, DiffResult) or diff.modification_level > ModificationLevel.FORM_FILLING:
        level = diff.modification_level.name if isinstance(diff, DiffResult) else "OTHER"
        raise SignatureInvalid(
            "The uploaded file changes the document beyond adding a signature "
            f"(modification level {level}). Download the document again and sign it without "
            "editing it.",
            reason=CONTENT_CHANGED,
            modification_level=level,
        )

    reports = validate(uploaded, trust_roots=trust_roots, approved_sha256=approved_sha256)
    by_field = dict(zip([s.field_name for s in signatures], reports, strict=True))
    for report in reports:
        if report.modification_level not in _ALLOWED_LEVELS:
            raise SignatureInvalid(
                f'After the signature in "{report.field_name}" the document was changed beyond '
                f"form filling ({report.modification_level}). Download the document again and "
                "sign it without editing it.",
                reason=CONTENT_CHANGED,
                modification_level=report.modification_level,
                field_name=report.field_name,
            )
    for embedded in earlier:
        report = by_field[embedded.field_name]
        if _is_signature(embedded) and not report.passed:
            raise SignatureInvalid(
                f'The earlier signature in "{report.field_name}" does not pass validation '
                f"({report.indication} {report.sub_indication}): "
                f"{' '.join(report.problems)} The document cannot collect further signatures; "
                "contact the agreement's manager.",
                reason=EARLIER_SIGNATURE_FAILED,
                field_name=report.field_name,
                indication=report.indication,
                sub_indication=report.sub_indication,
            )
    report = by_field[signature.field_name]
    key_usage = signature.signer_cert.key_usage_value
    missing = SIGNER_KEY_USAGE - (set(key_usage.native) if key_usage is not None else set())
    if report.indication == PASSED and missing:
        # pyHanko 0.38 drops ``match_all_key_usages`` from the constraints ``validate`` passes
        # (it rebuilds them in ``default_usage_constraints``), so one usage is enough for it.
        report.indication = INDETERMINATE
        report.sub_indication = "CHAIN_CONSTRAINTS_FAILURE"
        report.problems.append(
            f"The certificate lacks the key usage {', '.join(sorted(missing))} required of a "
            "signature."
        )
    if report.indication != PASSED:
        advice = (
            "Validate again later."
            if report.sub_indication == "TRY_LATER"
            else "Sign again with a valid qualified certificate."
        )
        raise SignatureInvalid(
            f"Your signature does not pass validation ({report.indication} "
            f"{report.sub_indication}): {' '.join(report.problems)} {advice}",
            reason=SIGNATURE_NOT_PASSED,
            indication=report.indication,
            sub_indication=report.sub_indication,
        )
    return report


def _check_signer(
    cert: x509.Certificate,
    fiscal_code: str | None,
    full_name: str | None,
    allow_name_match: bool,
) -> None:
    """The certificate must belong to the signatory (RULES.md S8)."""
    found = fiscal_code_of(cert)
    subject = cert.subject.human_friendly
    if found:
        if not fiscal_code or found != fiscal_code.strip().upper():
            raise CertificateRejected(
                f"The document was signed with the certificate of someone else ({subject}, "
                f"fiscal code {found}). Sign it with your own certificate.",
                reason=WRONG_SIGNER,
                fiscal_code=found,
            )
        return
    common_name = cert.subject.native.get("common_name", "")
    if (
        allow_name_match
        and full_name
        and isinstance(common_name, str)
        and common_name.strip().casefold() == full_name.strip().casefold()
    ):
        return
    if allow_name_match and full_name:
        raise CertificateRejected(
            f"The document was signed with the certificate of someone else ({subject}). "
            "Sign it with your own certificate.",
            reason=WRONG_SIGNER,
        )
    raise CertificateRejected(
        f"The signing certificate ({subject}) carries no fiscal code (TINIT-...), so it cannot "
        "be matched to you. Sign with a qualified certificate that carries your fiscal code.",
        reason=SIGNER_NOT_IDENTIFIED,
    )
