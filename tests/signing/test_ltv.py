"""Long-term validation: B-LT and B-LTA levels, ``archive_timestamp`` (RULES.md S4, S7).

Everything runs against the local PKI on loopback; "responders down" is a PKI whose services
have stopped, so its certificates point at a closed port.
"""

import io

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers, timestamps
from pyhanko.sign.validation import add_validation_info
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from signing.errors import InvalidPdf, SigningError
from signing.pades import INDETERMINATE, PASSED, archive_timestamp, validate
from tests.signing.conftest import SIGNATORIES, sign_as, tsa_no_eku_url

FIELDS = ["Firma_1_mario-rossi", "Firma_2_luigi-verdi", "Firma_3_giulia-bianchi"]


def archive(pki, pdf, *, tsa_url=None):
    return archive_timestamp(
        pdf, timestamper_url=tsa_url or pki.tsa_url, trust_roots=[pki.root_der]
    )


def bare_document_timestamp(pdf: bytes, tsa_url: str) -> bytes:
    """A document timestamp added as another tool would, without any check of ours."""
    stamper = signers.PdfTimeStamper(timestamps.HTTPTimeStamper(tsa_url), field_name="Altro_TS")
    return stamper.timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), "sha256").getvalue()


@pytest.fixture(scope="module")
def archived_reports(pki, archived, prepared_sha256):
    return validate(archived, trust_roots=[pki.root_der], approved_sha256=prepared_sha256)


def test_archiving_appends_validation_data_then_a_document_timestamp(signed_in_sequence, archived):
    signed = signed_in_sequence[0][-1]
    assert archived.startswith(signed)
    reader = PdfFileReader(io.BytesIO(archived))
    # DSS, document timestamp, then the timestamp authority's own validation data.
    assert (
        reader.xrefs.total_revisions == PdfFileReader(io.BytesIO(signed)).xrefs.total_revisions + 3
    )
    dss = reader.root["/DSS"]
    # One VRI entry per signature, and one for the document timestamp's own data.
    signature_keys = {
        DocumentSecurityStore.sig_content_identifier(e.pkcs7_content.hex().encode("ascii"))
        for e in reader.embedded_regular_signatures
    }
    assert len(signature_keys) == 3
    assert signature_keys < set(dss["/VRI"]) and len(dss["/VRI"]) == 4
    assert dss["/OCSPs"] and dss["/CRLs"] and dss["/Certs"]
    assert [s.field_name for s in reader.embedded_timestamp_signatures] == ["Marca_temporale_1"]


def test_after_archiving_every_signature_passes_at_b_lta(archived_reports):
    approvals = [r for r in archived_reports if r.kind == "approval"]
    assert [r.field_name for r in approvals] == FIELDS
    for report in approvals:
        assert (report.indication, report.level) == (PASSED, "B-LTA"), report.problems
        assert report.covers_approved is True
        assert report.modification_level in {"LTA_UPDATES", "FORM_FILLING"}
    # The last signature sees only validation data and the timestamp after it.
    assert approvals[-1].modification_level == "LTA_UPDATES"


def test_the_document_timestamp_is_reported_as_a_timestamp(pki, archived_reports):
    [stamp] = [r for r in archived_reports if r.kind == "timestamp"]
    assert stamp.field_name == "Marca_temporale_1"
    assert stamp.indication == PASSED, stamp.problems
    assert stamp.signer_subject.startswith("Common Name: Stipula Demo Time Stamping Authority")
    assert stamp.signer_fingerprint_sha256 == pki.cert("tsa").sha256.hex()
    assert stamp.timestamp_time is not None
    assert stamp.timestamp_token
    assert stamp.fiscal_code == ""
    assert stamp.covers_approved is True
    assert stamp.to_dict()["kind"] == "timestamp"


def test_a_second_archive_timestamp_extends_the_chain(pki, archived):
    again = archive(pki, archived)
    reports = validate(again, trust_roots=[pki.root_der])
    stamps = [r for r in reports if r.kind == "timestamp"]
    assert [(r.field_name, r.indication) for r in stamps] == [
        ("Marca_temporale_1", PASSED),
        ("Marca_temporale_2", PASSED),
    ]
    assert {r.level for r in reports if r.kind == "approval"} == {"B-LTA"}


def test_b_lt_needs_the_signers_revocation_data_in_the_dss(pki, signed_in_sequence):
    """Only the first signature's data is embedded: the others stay at B-T."""
    pdf = signed_in_sequence[0][-1]
    reader = PdfFileReader(io.BytesIO(pdf))
    vc = ValidationContext(
        trust_roots=[pki.cert("root")], allow_fetching=True, revocation_mode="hard-fail"
    )
    with_first = add_validation_info(reader.embedded_signatures[0], vc).getvalue()
    levels = [r.level for r in validate(with_first, trust_roots=[pki.root_der])]
    assert levels == ["B-LT", "B-T", "B-T"]


def test_a_document_timestamp_without_validation_data_before_it_is_not_b_lta(
    pki, signed_in_sequence
):
    pdf = bare_document_timestamp(signed_in_sequence[0][-1], pki.tsa_url)
    reports = validate(pdf, trust_roots=[pki.root_der])
    assert [r.level for r in reports if r.kind == "approval"] == ["B-T", "B-T", "B-T"]
    assert reports[-1].kind == "timestamp" and reports[-1].passed


def test_a_document_timestamp_from_a_tsa_without_the_eku_does_not_count(pki, signed_in_sequence):
    """RULES.md S7: the validation data is there, but the timestamp over it is not accepted."""
    pdf = signed_in_sequence[0][-1]
    vc = ValidationContext(
        trust_roots=[pki.cert("root")], allow_fetching=True, revocation_mode="hard-fail"
    )
    for index in range(3):
        embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[index]
        pdf = add_validation_info(embedded, vc).getvalue()
    pdf = bare_document_timestamp(pdf, tsa_no_eku_url(pki))
    reports = validate(pdf, trust_roots=[pki.root_der])
    stamp = reports[-1]
    assert (stamp.kind, stamp.indication) == ("timestamp", INDETERMINATE)
    assert "lacks the timeStamping extended key usage" in stamp.problems[0]
    assert [r.level for r in reports if r.kind == "approval"] == ["B-LT", "B-LT", "B-LT"]
    assert all(r.passed for r in reports if r.kind == "approval")


def test_a_changed_byte_under_the_document_timestamp_fails_its_message_imprint(pki, archived):
    """A byte of the header comment: the file still parses, every hash it is under changes."""
    tampered = archived.replace(b"ReportLab Generated", b"ReportLab generated", 1)
    assert tampered != archived
    reports = validate(tampered, trust_roots=[pki.root_der])
    assert {(r.indication, r.sub_indication) for r in reports} == {("FAILED", "HASH_FAILURE")}
    [stamp] = [r for r in reports if r.kind == "timestamp"]
    assert stamp.problems == [
        "The document timestamp does not match the document (message imprint)."
    ]


def test_archiving_without_revocation_data_is_refused_for_later(
    pki, unreachable_pki, prepared, signatories
):
    pdf = sign_as(unreachable_pki, prepared, 1, signatories[0], "rossi", tsa=pki.tsa_url)
    with pytest.raises(SigningError) as excinfo:
        archive(pki, pdf)
    assert excinfo.value.details["reason"] == "REVOCATION_UNAVAILABLE"
    assert excinfo.value.details["field_name"] == FIELDS[0]
    assert "try again later" in str(excinfo.value)


@pytest.mark.parametrize(
    ("tsa", "reason"),
    [("http://127.0.0.1:9/tsa", "TSA_UNAVAILABLE"), ("no-eku", "TSA_REJECTED")],
)
def test_archiving_with_an_unusable_timestamp_server_is_refused(
    pki, signed_in_sequence, tsa, reason
):
    url = tsa_no_eku_url(pki) if tsa == "no-eku" else tsa
    with pytest.raises(SigningError) as excinfo:
        archive(pki, signed_in_sequence[0][-1], tsa_url=url)
    assert excinfo.value.details["reason"] == reason


def test_archiving_a_document_with_a_revoked_signature_is_refused(pki, prepared):
    revoked = sign_as(pki, prepared, 1, SIGNATORIES[0], "revoked")
    with pytest.raises(SigningError) as excinfo:
        archive(pki, revoked)
    assert excinfo.value.details["reason"] == "REVOKED"


def test_archiving_needs_a_signed_pdf(pki, prepared):
    with pytest.raises(SigningError) as excinfo:
        archive(pki, prepared)
    assert excinfo.value.details["reason"] == "NOT_SIGNED"
    with pytest.raises(InvalidPdf):
        archive(pki, b"not a pdf")
