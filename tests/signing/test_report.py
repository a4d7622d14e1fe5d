"""The validation report of a signature (RULES.md S7) as JSON and as PDF, from real signatures:
the local PKI's certificates, TSA, OCSP responder and CRLs, real pyHanko, real reportlab, and the
PDF read back with poppler's pdftotext."""

import base64
import json
import re
import shutil
import subprocess

import pytest
from asn1crypto import cms

from signing.models import Signature
from signing.report import agreement_signatures_pdf, report_json, report_pdf
from signing.services import signature_revalidate
from tests.signing.test_services import _sign, make_signing_setup

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is missing"),
]


@pytest.fixture
def setup(pki, officer):
    return make_signing_setup(pki, officer)


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF as poppler reads it, with runs of white space made single spaces."""
    assert pdf.startswith(b"%PDF-")
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"],  # noqa: S607 - poppler-utils on the PATH
        input=pdf,
        capture_output=True,
        check=True,
    )
    return re.sub(r"\s+", " ", result.stdout.decode("utf-8"))


def test_the_json_report_carries_the_validation_and_the_hashes(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    signature = _sign(pki, agreement, first, "rossi")
    document = agreement.signing_document
    document.refresh_from_db()

    data = report_json(signature)

    assert json.loads(json.dumps(data)) == data  # JSON-ready as it is
    assert (data["indication"], data["sub_indication"]) == ("PASSED", "")
    assert data["indication_label"] == "Passed"
    report = data["report"]
    assert report["signer_fingerprint_sha256"] == pki.cert("rossi").sha256.hex()
    assert report["fiscal_code"] == "RSSMRA80A01H501U" == first.fiscal_code
    assert "Mario Rossi" in report["signer_subject"]
    assert report["level"] == "B-LT"
    assert report["coverage"] == "ENTIRE_REVISION"
    assert report["covers_approved"] is True
    assert report["modification_level"] == "LTA_UPDATES"
    [root] = report["trust_roots"]
    assert "Stipula Demo Root CA" in root
    assert report["signing_time"] and report["timestamp_time"]
    token = cms.ContentInfo.load(base64.b64decode(report["timestamp_token_b64"]))
    assert token["content_type"].native == "signed_data"
    assert data["documents"] == {
        "signed_revision_sha256": signature.pdf_sha256,
        "approved_version": agreement.approved_version.number,
        "approved_version_pdf_sha256": agreement.approved_version.pdf_sha256,
        "approved_sha256": document.prepared_sha256,
        "current_sha256": document.current_sha256,
        "document_level": "",
    }
    assert signature.pdf_sha256 == document.current_sha256
    assert data["signatory"]["name"] == "Mario Rossi"
    assert data["signatory"]["fiscal_code"] == "RSSMRA80A01H501U"
    assert data["signatory"]["party"]["name"] == first.party.organisation.name
    assert data["agreement"] == {
        "id": agreement.pk,
        "subject": agreement.subject,
        "kind": agreement.kind,
        "state": "signature",
    }
    assert data["signature"]["method"] == "pkcs12"
    assert data["signature"]["field_name"] == "Firma_1_mario-rossi"
    [run] = data["validations"]
    assert (run["kind"], run["indication"], run["actor"]["username"]) == (
        "signing",
        "PASSED",
        "mrossi",
    )
    assert run["pdf_sha256"] == signature.pdf_sha256


def test_the_pdf_report_shows_every_value_of_the_validation(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    signature = _sign(pki, agreement, first, "rossi")
    document = agreement.signing_document
    document.refresh_from_db()
    report = signature.report

    text = pdf_text(report_pdf(signature))

    assert text.startswith("Stipula Signature validation report")
    assert f"Agreement no. {agreement.pk}: {agreement.subject}" in text
    assert "Mario Rossi, Legale rappresentante" in text
    assert first.party.organisation.name in text
    assert "Passed (PASSED)" in text
    for value in (
        report["signer_fingerprint_sha256"],
        "RSSMRA80A01H501U",
        "Stipula Demo Root CA",
        "B-LT (B-LT: with a timestamp and the validation data embedded)",
        "ENTIRE_REVISION",
        "Firma_1_mario-rossi",
        "PKCS#12 file",
        document.prepared_sha256,
        agreement.approved_version.pdf_sha256,
        signature.pdf_sha256,
        "when signing",
    ):
        assert value in text, value
    assert "Approved content yes: it covers the approved content to sign" in text
    assert "LTA_UPDATES (validation data and timestamps only)" in text
    # Times are shown in Italian time.
    assert re.search(r"Timestamp time \d\d/\d\d/\d{4} \d\d:\d\d:\d\d CES?T", text)


def test_a_signature_validated_again_lists_every_run(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    with pki.offline("ocsp", "crls"):
        pending = _sign(pki, agreement, first, "rossi")
    assert pending.sub_indication == "TRY_LATER"
    signature = Signature.objects.get(pk=pending.pk)  # as a page would read it
    signature_revalidate(actor=setup["officer"], signature=signature, trust_roots=[pki.root_der])

    data = report_json(signature)
    text = pdf_text(report_pdf(signature))

    assert data["indication"] == "PASSED"
    assert [
        (run["kind"], run["indication"], run["sub_indication"], run["actor"]["username"])
        for run in data["validations"]
    ] == [
        ("signing", "INDETERMINATE", "TRY_LATER", "mrossi"),
        ("revalidation", "PASSED", "", setup["officer"].username),
    ]
    assert "TRY_LATER" in text
    assert "validated again" in text
    assert "Laura Bianchi" in text  # the officer who validated it again


def test_the_report_speaks_italian_when_the_user_does(pki, setup, italian):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    signature = _sign(pki, agreement, first, "rossi")

    data = report_json(signature)
    text = pdf_text(report_pdf(signature))

    assert data["language"] == "it"
    # The code stays the same in every language; the label follows it.
    assert (data["indication"], data["indication_label"]) == ("PASSED", "Positivo")
    assert "Positivo (PASSED)" in text


def test_the_summary_of_an_agreement_lists_every_signatory(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    before = pdf_text(agreement_signatures_pdf(agreement))
    assert "not signed yet" in before
    assert "Mario Rossi" in before and "Luigi Verdi" in before

    _sign(pki, agreement, first, "rossi")
    _sign(pki, agreement, second, "verdi")
    agreement.refresh_from_db()
    document = agreement.signing_document
    document.refresh_from_db()

    text = pdf_text(agreement_signatures_pdf(agreement))

    assert text.startswith("Stipula Signatures of the agreement")
    assert document.prepared_sha256 in text
    assert document.current_sha256 in text
    assert "not signed yet" not in text
    for signatory, label in ((first, "rossi"), (second, "verdi")):
        assert signatory.party.organisation.name in text
        assert pki.cert(label).sha256.hex() in text
        assert signatory.fiscal_code in text
    assert text.count("Passed (PASSED)") == 2
    assert document.level == "B-LTA"
    assert "B-LTA: with validation data and an archive timestamp" in text
