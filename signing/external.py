"""Checking a PDF that a signatory signed outside Stipula with their own tool and uploaded.

The signatory downloads the PDF (``expected``), signs it with their own qualified-signature tool
and uploads the result. ``check_external_upload`` accepts it only if it is the expected PDF plus
exactly one new signature in that signatory's field (RULES.md S3, S4), nothing else changed
(pyHanko difference analysis no worse than form filling, S6), every earlier signature still
passes, the new signature passes (S2, S6), and the certificate belongs to that signatory (S8).

A certification signature by the system seal counts as an earlier signature (it must still
pass, and DocMDP level 2 lets co-signatures in). Validation data (DSS) and document timestamps
(B-LTA), before the upload or added by the signatory's tool after the signature, are allowed
revisions: they are not new signatures, and their modification level is LTA_UPDATES.

Every refusal raises an error from ``signing.errors`` whose ``details["reason"]`` says what was
wrong; the new signature's report comes back on success.
"""

from __future__ import annotations

import io

from asn1crypto import x509
from django.utils.translation import gettext as _
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
    Online,
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


def _read(pdf: bytes, uploaded: bool) -> tuple[PdfFileReader, list]:
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        reader.root["/Pages"]["/Count"]  # noqa: B018 - fail here on a damaged file
        signatures = list(reader.embedded_signatures)
    except (PdfError, KeyError, ValueError, TypeError, IndexError) as e:
        message = (
            _(
                "The uploaded file is not a readable PDF (it may be truncated or damaged). "
                "Upload the complete file saved by your signing tool."
            )
            if uploaded
            else _(
                "The downloaded file is not a readable PDF (it may be truncated or damaged). "
                "Upload the complete file saved by your signing tool."
            )
        )
        raise InvalidPdf(
            message,
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
    online: Online | None = None,
) -> SignatureReport:
    """Check an externally signed upload; return the new signature's report or raise.

    ``expected`` is the PDF the signatory downloaded, ``field_name`` their signature field,
    ``fiscal_code`` / ``full_name`` who they are. A certificate without a ``TINIT-`` fiscal code
    is accepted on a case-insensitive common name equal to ``full_name`` only with
    ``allow_name_match``. ``approved_sha256`` is passed on to ``validate`` (RULES.md S3), and
    ``online``, the operation the check is part of (``signing.pades.Online``).
    """
    expected_reader, expected_signatures = _read(expected, uploaded=False)
    reader, signatures = _read(uploaded, uploaded=True)

    if not uploaded.startswith(expected):
        raise SignatureInvalid(
            _(
                "The uploaded file is not the document you downloaded: a signing tool must keep "
                "the document unchanged and append the signature. Download the document again, "
                "sign it without editing, and upload the signed file (in PAdES format, not P7M)."
            ),
            reason=DIFFERENT_DOCUMENT,
        )

    earlier = [s for s in signatures if _signed_end(s) <= len(expected)]
    new = [s for s in signatures if _signed_end(s) > len(expected) and _is_signature(s)]
    if len(earlier) != len(expected_signatures):
        raise SignatureInvalid(
            _(
                "The uploaded file alters the signatures already on the document. Download the "
                "document again and sign it without removing or replacing other signatures."
            ),
            reason=CONTENT_CHANGED,
        )
    if not new:
        raise SignatureInvalid(
            _(
                "The uploaded file has no new signature. Sign the document with your signature "
                "tool (PAdES) in your signature field and upload the signed file."
            ),
            reason=NO_NEW_SIGNATURE,
        )
    if len(new) > 1:
        raise SignatureInvalid(
            _(
                "The uploaded file has %(count)d new signatures; exactly one, yours, is "
                "expected. Download the document again and sign it once."
            )
            % {"count": len(new)},
            reason=TOO_MANY_SIGNATURES,
            count=len(new),
        )
    [signature] = new
    if signature.field_name != field_name:
        raise SignatureInvalid(
            _(
                'The new signature is in the field "%(found)s", not in your field "%(field)s". '
                "Download the document again and sign in your own field."
            )
            % {"found": signature.field_name, "field": field_name},
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
            _(
                "The uploaded file changes the document beyond adding a signature (modification "
                "level %(level)s). Download the document again and sign it without editing it."
            )
            % {"level": level},
            reason=CONTENT_CHANGED,
            modification_level=level,
        )

    reports = validate(
        uploaded, trust_roots=trust_roots, approved_sha256=approved_sha256, online=online
    )
    by_field = dict(zip([s.field_name for s in signatures], reports, strict=True))
    for report in reports:
        if report.modification_level not in _ALLOWED_LEVELS:
            raise SignatureInvalid(
                _(
                    'After the signature in "%(field)s" the document was changed beyond form '
                    "filling (%(level)s). Download the document again and sign it without "
                    "editing it."
                )
                % {"field": report.field_name, "level": report.modification_level},
                reason=CONTENT_CHANGED,
                modification_level=report.modification_level,
                field_name=report.field_name,
            )
    for embedded in earlier:
        report = by_field[embedded.field_name]
        if _is_signature(embedded) and not report.passed:
            raise SignatureInvalid(
                _(
                    'The earlier signature in "%(field)s" does not pass validation '
                    "(%(indication)s %(sub_indication)s): %(problems)s The document cannot "
                    "collect further signatures; contact the agreement's manager."
                )
                % {
                    "field": report.field_name,
                    "indication": report.indication,
                    "sub_indication": report.sub_indication,
                    "problems": " ".join(report.problems),
                },
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
            _("Validate again later.")
            if report.sub_indication == "TRY_LATER"
            else _("Sign again with a valid qualified certificate.")
        )
        raise SignatureInvalid(
            _(
                "Your signature does not pass validation (%(indication)s %(sub_indication)s): "
                "%(problems)s %(advice)s"
            )
            % {
                "indication": report.indication,
                "sub_indication": report.sub_indication,
                "problems": " ".join(report.problems),
                "advice": advice,
            },
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
                _(
                    "The document was signed with the certificate of someone else (%(subject)s, "
                    "fiscal code %(fiscal_code)s). Sign it with your own certificate."
                )
                % {"subject": subject, "fiscal_code": found},
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
            _(
                "The document was signed with the certificate of someone else (%(subject)s). "
                "Sign it with your own certificate."
            )
            % {"subject": subject},
            reason=WRONG_SIGNER,
        )
    raise CertificateRejected(
        _(
            "The signing certificate (%(subject)s) carries no fiscal code (TINIT-...), so it "
            "cannot be matched to you. Sign with a qualified certificate that carries your "
            "fiscal code."
        )
        % {"subject": subject},
        reason=SIGNER_NOT_IDENTIFIED,
    )
