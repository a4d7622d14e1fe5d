"""Uploads signed outside Stipula: accepted only as the expected PDF plus the signatory's signature.

The "external" signatures are made with bare pyHanko calls, as a signatory's own tool would.
"""

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps

from signing.errors import CertificateRejected, InvalidPdf, SignatureInvalid
from signing.external import _check_signer, check_external_upload
from signing.pades import PASSED, field_name_for, prepare_for_signing
from tests.signing.conftest import PASSWORD, SIGNATORIES

ROSSI_CF = "RSSMRA80A01H501U"
VERDI_CF = "VRDLGU75B12F205X"
FIELD_1 = field_name_for(1, SIGNATORIES[0])
FIELD_2 = field_name_for(2, SIGNATORIES[1])
FIELD_3 = field_name_for(3, SIGNATORIES[2])


def external_sign(pki, pdf, field_name, label, *, tsa=True):
    """Sign as the signatory's own tool would: bare pyHanko, no checks of ours."""
    signer = signers.SimpleSigner.load_pkcs12_data(
        pki.pkcs12(label, PASSWORD), (), passphrase=PASSWORD.encode()
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES
    )
    timestamper = timestamps.HTTPTimeStamper(pki.tsa_url) if tsa else None
    pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=timestamper)
    return pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf))).getvalue()


def paint_over_page(pdf: bytes) -> bytes:
    """An unsigned incremental update that draws on the first page."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    stamp = writer.add_object(generic.StreamObject(stream_data=b"0 0 1 rg 50 50 200 200 re f"))
    writer.add_stream_to_page(0, stamp)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def after_rossi(signed_in_sequence):
    """The document as the second signatory downloads it: prepared and signed by Rossi."""
    return signed_in_sequence[0][0]


@pytest.fixture(scope="module")
def verdi_upload(pki, after_rossi):
    return external_sign(pki, after_rossi, FIELD_2, "verdi")


def check(pki, expected, uploaded, *, field_name=FIELD_2, fiscal_code=VERDI_CF, **kwargs):
    kwargs.setdefault("full_name", None)
    return check_external_upload(
        expected=expected,
        uploaded=uploaded,
        field_name=field_name,
        fiscal_code=fiscal_code,
        trust_roots=[pki.root_der],
        **kwargs,
    )


def refused(exc_type, reason, *args, **kwargs):
    with pytest.raises(exc_type) as excinfo:
        check(*args, **kwargs)
    assert excinfo.value.details["reason"] == reason
    assert str(excinfo.value)
    return excinfo.value


def test_the_signatorys_own_signature_is_accepted(pki, after_rossi, verdi_upload, prepared_sha256):
    report = check(
        pki,
        after_rossi,
        verdi_upload,
        fiscal_code=VERDI_CF.lower(),
        approved_sha256=prepared_sha256,
    )
    assert report.indication == PASSED
    assert report.field_name == FIELD_2
    assert report.fiscal_code == VERDI_CF
    assert report.covers_approved is True
    assert report.level == "B-T"


def test_the_first_signature_on_the_prepared_document_is_accepted(pki, prepared):
    uploaded = external_sign(pki, prepared, FIELD_1, "rossi", tsa=False)
    report = check(pki, prepared, uploaded, field_name=FIELD_1, fiscal_code=ROSSI_CF)
    assert (report.indication, report.level) == (PASSED, "B-B")


@pytest.mark.parametrize("cut", ["garbage", 0, 0.5, -40])
def test_not_a_pdf_or_truncated_is_refused(pki, after_rossi, verdi_upload, cut):
    if cut == "garbage":
        uploaded = b"this is not a PDF"
    elif isinstance(cut, float):
        uploaded = verdi_upload[: int(len(verdi_upload) * cut)]
    else:
        uploaded = verdi_upload[:cut] if cut else b""
    error = refused(InvalidPdf, "INVALID_PDF", pki, after_rossi, uploaded)
    assert error.code == "invalid_pdf"


def test_a_different_document_is_refused(pki, approved_pdf, signatories, after_rossi):
    other = prepare_for_signing(approved_pdf + b"\n% altro documento\n", signatories)
    uploaded = external_sign(pki, other, FIELD_2, "verdi", tsa=False)
    refused(SignatureInvalid, "DIFFERENT_DOCUMENT", pki, after_rossi, uploaded)


def test_the_unsigned_document_back_is_refused(pki, after_rossi):
    refused(SignatureInvalid, "NO_NEW_SIGNATURE", pki, after_rossi, after_rossi)


def test_two_new_signatures_are_refused(pki, after_rossi, verdi_upload):
    uploaded = external_sign(pki, verdi_upload, FIELD_3, "bianchi", tsa=False)
    error = refused(SignatureInvalid, "TOO_MANY_SIGNATURES", pki, after_rossi, uploaded)
    assert error.details["count"] == 2


def test_a_signature_in_another_signatorys_field_is_refused(pki, after_rossi):
    uploaded = external_sign(pki, after_rossi, FIELD_3, "verdi", tsa=False)
    error = refused(SignatureInvalid, "WRONG_FIELD", pki, after_rossi, uploaded)
    assert error.details["field_name"] == FIELD_3


def test_page_content_changed_after_the_new_signature_is_refused(pki, after_rossi, verdi_upload):
    uploaded = paint_over_page(verdi_upload)
    error = refused(SignatureInvalid, "CONTENT_CHANGED", pki, after_rossi, uploaded)
    assert error.details["modification_level"] == "OTHER"


def test_page_content_changed_before_the_new_signature_is_refused(pki, prepared):
    # Nothing signed yet, so no earlier signature would notice the change: the difference
    # analysis from the expected bytes does.
    uploaded = external_sign(pki, paint_over_page(prepared), FIELD_1, "rossi", tsa=False)
    error = refused(
        SignatureInvalid,
        "CONTENT_CHANGED",
        pki,
        prepared,
        uploaded,
        field_name=FIELD_1,
        fiscal_code=ROSSI_CF,
    )
    assert error.details["modification_level"] == "OTHER"


def test_an_earlier_signature_that_no_longer_passes_is_refused(pki, prepared):
    expected = external_sign(pki, prepared, FIELD_1, "revoked", tsa=False)
    uploaded = external_sign(pki, expected, FIELD_2, "verdi", tsa=False)
    error = refused(SignatureInvalid, "EARLIER_SIGNATURE_FAILED", pki, expected, uploaded)
    assert (error.details["field_name"], error.details["sub_indication"]) == (FIELD_1, "REVOKED")


@pytest.mark.parametrize(
    ("label", "fiscal_code", "sub_indication"),
    [
        ("revoked", "RVCRTI70A41H501R", "REVOKED"),
        ("expired", "SCDCRL60A01H501E", "EXPIRED"),
        # A certificate with Rossi's fiscal code from an untrusted CA.
        ("rogue-signer", ROSSI_CF, "NO_CERTIFICATE_CHAIN_FOUND"),
    ],
)
def test_a_new_signature_that_does_not_pass_is_refused(
    pki, prepared, label, fiscal_code, sub_indication
):
    uploaded = external_sign(pki, prepared, FIELD_1, label)
    error = refused(
        SignatureInvalid,
        "SIGNATURE_NOT_PASSED",
        pki,
        prepared,
        uploaded,
        field_name=FIELD_1,
        fiscal_code=fiscal_code,
    )
    assert error.details["sub_indication"] == sub_indication


@pytest.mark.parametrize("fiscal_code", [ROSSI_CF, None])
def test_someone_elses_certificate_is_refused(pki, after_rossi, verdi_upload, fiscal_code):
    error = refused(
        CertificateRejected,
        "WRONG_SIGNER",
        pki,
        after_rossi,
        verdi_upload,
        fiscal_code=fiscal_code,
        full_name="Luigi Verdi",
        allow_name_match=True,
    )
    assert error.details["fiscal_code"] == VERDI_CF


def test_name_match_only_when_allowed_and_without_fiscal_code(pki):
    # The TSA certificate has no TINIT serialNumber: only the common name can identify it.
    no_cf = pki.cert("tsa")
    name = "stipula demo TIME STAMPING authority"
    _check_signer(no_cf, None, name, allow_name_match=True)
    with pytest.raises(CertificateRejected) as excinfo:
        _check_signer(no_cf, None, name, allow_name_match=False)
    assert excinfo.value.details["reason"] == "SIGNER_NOT_IDENTIFIED"
    with pytest.raises(CertificateRejected) as excinfo:
        _check_signer(no_cf, None, "Mario Rossi", allow_name_match=True)
    assert excinfo.value.details["reason"] == "WRONG_SIGNER"
    # A name never overrides a fiscal code that does not match.
    with pytest.raises(CertificateRejected) as excinfo:
        _check_signer(pki.cert("rossi"), VERDI_CF, "Mario Rossi", allow_name_match=True)
    assert excinfo.value.details["reason"] == "WRONG_SIGNER"


def test_a_certificate_without_fiscal_code_is_refused_without_name_match(pki, prepared):
    uploaded = external_sign(pki, prepared, FIELD_1, "tsa", tsa=False)
    refused(
        CertificateRejected,
        "SIGNER_NOT_IDENTIFIED",
        pki,
        prepared,
        uploaded,
        field_name=FIELD_1,
        fiscal_code=ROSSI_CF,
        full_name="Mario Rossi",
    )


def test_name_match_lets_a_certificate_without_fiscal_code_reach_validation(pki, prepared):
    # Identified by its common name, the TSA certificate is then refused as a signer's one.
    uploaded = external_sign(pki, prepared, FIELD_1, "tsa", tsa=False)
    error = refused(
        SignatureInvalid,
        "SIGNATURE_NOT_PASSED",
        pki,
        prepared,
        uploaded,
        field_name=FIELD_1,
        fiscal_code=None,
        full_name="Stipula Demo Time Stamping Authority",
        allow_name_match=True,
    )
    # pyHanko alone passes it (digitalSignature is enough for it); nonRepudiation is required.
    assert (error.details["indication"], error.details["sub_indication"]) == (
        "INDETERMINATE",
        "CHAIN_CONSTRAINTS_FAILURE",
    )
    assert "non_repudiation" in str(error)


def test_validate_wants_both_key_usages(pki, prepared):
    """The TSA's certificate has digitalSignature but not nonRepudiation: not a signature."""
    from signing.pades import INDETERMINATE, validate

    signed = external_sign(pki, prepared, FIELD_1, "tsa", tsa=False)

    (report,) = validate(signed, trust_roots=[pki.root_der])
    assert report.indication == INDETERMINATE
    assert report.sub_indication == "CHAIN_CONSTRAINTS_FAILURE"
    assert any("non_repudiation" in problem for problem in report.problems)


def test_an_external_signature_on_a_certified_document_is_accepted(
    pki, prepared, seal, prepared_sha256
):
    """RULES.md S5: with DocMDP level 2, the co-signatures after the seal are form filling."""
    from signing.pades import certify
    from tests.signing.conftest import sign_as

    certified = certify(prepared, signer=seal)
    after_rossi = sign_as(pki, certified, 1, SIGNATORIES[0], "rossi")
    uploaded = external_sign(pki, after_rossi, FIELD_2, "verdi")
    report = check(pki, after_rossi, uploaded, approved_sha256=prepared_sha256)
    assert (report.indication, report.level) == (PASSED, "B-T")
    assert report.docmdp_ok is True
    assert report.modification_level == "NONE"


def test_an_external_signature_on_an_archived_document_is_accepted(
    pki, signed_in_sequence, prepared_sha256
):
    """Validation data and a document timestamp before the upload are allowed revisions."""
    from signing.pades import archive_timestamp

    after_verdi = signed_in_sequence[0][1]
    expected = archive_timestamp(
        after_verdi, timestamper_url=pki.tsa_url, trust_roots=[pki.root_der]
    )
    uploaded = external_sign(pki, expected, FIELD_3, "bianchi")
    report = check(
        pki,
        expected,
        uploaded,
        field_name=FIELD_3,
        fiscal_code="BNCGLI85C45L219Z",
        approved_sha256=prepared_sha256,
    )
    assert (report.indication, report.field_name) == (PASSED, FIELD_3)


def test_an_upload_that_the_signing_tool_archived_is_accepted(pki, after_rossi, verdi_upload):
    """Some tools add validation data and a document timestamp after the signature (B-LTA)."""
    from signing.pades import archive_timestamp

    archived_upload = archive_timestamp(
        verdi_upload, timestamper_url=pki.tsa_url, trust_roots=[pki.root_der]
    )
    report = check(pki, after_rossi, archived_upload)
    assert (report.indication, report.field_name, report.level) == (PASSED, FIELD_2, "B-LTA")
