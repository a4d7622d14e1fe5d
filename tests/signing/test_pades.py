import hashlib
import http.server
import io
import json
import threading
import urllib.request

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pypdf import PdfReader

from signing.errors import (
    CertificateRejected,
    FieldNotFound,
    InvalidPdf,
    SigningError,
    WrongPassword,
)
from signing.pades import (
    FAILED,
    INDETERMINATE,
    PASSED,
    certify,
    field_name_for,
    load_seal,
    prepare_for_signing,
    sign_pkcs12,
    validate,
)
from signing.pki import running_pki
from tests.signing.conftest import PASSWORD, sign_as, tsa_no_eku_url


def sign_with_bare_pyhanko(pki, pdf, field_name, label):
    """Sign as an external tool would: no checks of our own before signing."""
    signer = signers.SimpleSigner.load_pkcs12_data(
        pki.pkcs12(label, PASSWORD), (), passphrase=PASSWORD.encode()
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, timestamper=timestamps.HTTPTimeStamper(pki.tsa_url)
    )
    return pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf))).getvalue()


def test_prepare_keeps_the_approved_bytes_and_adds_one_field_per_signatory(
    approved_pdf, prepared, signatories
):
    assert prepared.startswith(approved_pdf)
    assert (
        len(PdfReader(io.BytesIO(prepared)).pages)
        == len(PdfReader(io.BytesIO(approved_pdf)).pages) + 1
    )
    reader = PdfFileReader(io.BytesIO(prepared))
    empty = [name for name, value, _ in fields.enumerate_sig_fields(reader) if value is None]
    assert empty == ["Firma_1_mario-rossi", "Firma_2_luigi-verdi", "Firma_3_giulia-bianchi"]
    page_text = PdfReader(io.BytesIO(prepared)).pages[-1].extract_text()
    for signatory in signatories:
        assert signatory.name in page_text
        assert signatory.party in page_text


def test_field_names_are_ascii_slugs():
    from signing.pades import SignatoryField

    signatory = SignatoryField(name="Niccolò Dell'Acqua", title="Sindaco", party="Forlì")
    assert field_name_for(4, signatory) == "Firma_4_niccolo-dell-acqua"


def test_three_signatures_in_sequence_all_pass_at_level_b_t(signed_in_sequence):
    _documents, reports = signed_in_sequence
    for count, after in enumerate(reports, 1):
        assert [r.field_name for r in after] == [
            "Firma_1_mario-rossi",
            "Firma_2_luigi-verdi",
            "Firma_3_giulia-bianchi",
        ][:count]
        for report in after:
            assert report.kind == "approval"
            assert report.indication == PASSED, report.problems
            assert report.bottom_line
            assert report.level == "B-T"
            assert report.covers_approved is True
            assert report.timestamp_time is not None
            assert report.timestamp_token
            assert report.trust_roots == [
                "Common Name: Stipula Demo Root CA, Organization: Stipula Demo CA, Country: IT"
            ]
    final = reports[-1]
    # Earlier signatures see later ones as form filling; the last covers the entire file.
    assert [r.modification_level for r in final] == ["FORM_FILLING", "FORM_FILLING", "NONE"]
    assert final[-1].coverage == "ENTIRE_FILE"
    assert [r.fiscal_code for r in final] == [
        "RSSMRA80A01H501U",
        "VRDLGU75B12F205X",
        "BNCGLI85C45L219Z",
    ]


def test_each_signature_is_an_incremental_update(prepared, signed_in_sequence):
    documents, _ = signed_in_sequence
    previous = prepared
    for pdf in documents:
        assert pdf.startswith(previous)
        previous = pdf


def test_report_is_json_with_signer_fingerprint(pki, signed_in_sequence):
    report = signed_in_sequence[1][-1][0]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["indication"] == "PASSED"
    assert data["signer_fingerprint_sha256"] == hashlib.sha256(pki.cert_der("rossi")).hexdigest()
    assert "TINIT-RSSMRA80A01H501U" in data["signer_subject"]
    assert data["timestamp_token_b64"]
    assert data["level"] == "B-T"


def test_without_timestamp_the_level_is_b_b(pki, prepared, signatories):
    pdf = sign_as(pki, prepared, 1, signatories[0], "rossi", tsa=False)
    [report] = validate(pdf, trust_roots=[pki.root_der])
    assert report.indication == PASSED
    assert report.level == "B-B"
    assert report.timestamp_time is None


def test_a_signature_over_another_document_does_not_cover_the_approved_one(
    pki, approved_pdf, signatories
):
    other = prepare_for_signing(approved_pdf + b"\n% altro documento\n", signatories)
    pdf = sign_as(pki, other, 1, signatories[0], "rossi")
    approved = hashlib.sha256(prepare_for_signing(approved_pdf, signatories)).hexdigest()
    [report] = validate(pdf, trust_roots=[pki.root_der], approved_sha256=approved)
    assert report.covers_approved is False
    assert report.indication == FAILED


def test_wrong_password_is_a_clear_error(pki, prepared, signatories):
    with pytest.raises(WrongPassword) as excinfo:
        sign_pkcs12(
            prepared,
            field_name=field_name_for(1, signatories[0]),
            pkcs12=pki.pkcs12("rossi", PASSWORD),
            password="sbagliata",
        )
    assert excinfo.value.code == "wrong_password"
    assert "password is wrong" in str(excinfo.value)


def test_unknown_or_filled_field_is_refused(pki, signed_in_sequence, signatories):
    first = signed_in_sequence[0][0]
    with pytest.raises(FieldNotFound):
        sign_as(pki, first, 1, signatories[0], "rossi")


@pytest.mark.parametrize(
    ("label", "reason", "words"),
    [
        ("expired", "EXPIRED", "expired on 2021-06-01"),
        ("not-yet-valid", "NOT_YET_VALID", "not valid yet"),
        ("no-nonrep", "KEY_USAGE", "non_repudiation"),
    ],
)
def test_unusable_certificates_are_refused_before_signing(
    pki, prepared, signatories, label, reason, words
):
    with pytest.raises(CertificateRejected) as excinfo:
        sign_as(pki, prepared, 1, signatories[0], label)
    assert excinfo.value.code == "certificate_rejected"
    assert excinfo.value.details["reason"] == reason
    assert words in str(excinfo.value)


@pytest.mark.parametrize(
    ("label", "indication", "sub_indication"),
    [
        # RULES.md S2: a certificate expired or not yet valid at signing time is no signature;
        # the trusted timestamp proves when the signature existed.
        ("expired", FAILED, "EXPIRED"),
        ("not-yet-valid", FAILED, "NOT_YET_VALID"),
        ("revoked", FAILED, "REVOKED"),
        ("rogue-signer", INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND"),
        ("no-nonrep", INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE"),
    ],
)
def test_bad_certificates_never_pass_validation(
    pki, prepared, signatories, label, indication, sub_indication
):
    pdf = sign_with_bare_pyhanko(pki, prepared, field_name_for(1, signatories[0]), label)
    [report] = validate(pdf, trust_roots=[pki.root_der])
    assert (report.indication, report.sub_indication) == (indication, sub_indication)
    assert not report.passed
    assert report.problems and all(report.problems)


def test_revoked_certificate_through_our_signing_is_failed(pki, prepared, signatories):
    pdf = sign_as(pki, prepared, 1, signatories[0], "revoked")
    [report] = validate(pdf, trust_roots=[pki.root_der])
    assert (report.indication, report.sub_indication) == (FAILED, "REVOKED")
    assert report.fiscal_code == "RVCRTI70A41H501R"


def test_signature_is_untrusted_without_our_root(pki, signed_in_sequence):
    pdf = signed_in_sequence[0][-1]
    reports = validate(pdf, trust_roots=[pki.cert_der("rogue-root")])
    assert {(r.indication, r.sub_indication) for r in reports} == {
        (INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
    }


def test_unsigned_update_changing_page_content_fails_although_intact(pki, signed_in_sequence):
    signed = signed_in_sequence[0][0]
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    stamp = writer.add_object(generic.StreamObject(stream_data=b"0 0 1 rg 50 50 200 200 re f"))
    writer.add_stream_to_page(0, stamp)
    out = io.BytesIO()
    writer.write(out)
    [report] = validate(out.getvalue(), trust_roots=[pki.root_der])
    assert report.indication == FAILED
    assert report.sub_indication == "FORMAT_FAILURE"
    assert report.modification_level == "OTHER"
    assert "modified after this signature" in report.problems[0]


def test_responder_unreachable_is_indeterminate_try_later(pki_dir, prepared, signatories):
    # A second run of the services on another port: its certificates point at a server that is
    # gone by the time we validate, so revocation status cannot be obtained.
    with running_pki(pki_dir) as short_lived:
        pdf = sign_as(short_lived, prepared, 1, signatories[0], "rossi")
        root = short_lived.root_der
    [report] = validate(pdf, trust_roots=[root])
    assert report.indication == INDETERMINATE
    assert report.sub_indication == "TRY_LATER"


@pytest.mark.parametrize("cut", [0, 100, 0.5])
def test_truncated_pdf_is_a_clear_error(pki, signed_in_sequence, signatories, cut):
    pdf = signed_in_sequence[0][-1]
    truncated = pdf[: int(len(pdf) * cut) if isinstance(cut, float) else cut]
    with pytest.raises(InvalidPdf) as excinfo:
        validate(truncated, trust_roots=[pki.root_der])
    assert excinfo.value.code == "invalid_pdf"
    with pytest.raises(InvalidPdf):
        prepare_for_signing(truncated, signatories)
    with pytest.raises(InvalidPdf):
        sign_as(pki, truncated, 1, signatories[0], "rossi")


def test_many_signatories_get_as_many_signature_pages_as_needed(pki, approved_pdf):
    from signing.pades import SignatoryField

    many = [SignatoryField(f"Firmatario {n}", "Delegato", f"Ente {n}") for n in range(1, 16)]
    prepared = prepare_for_signing(approved_pdf, many)
    assert prepared.startswith(approved_pdf)
    pages = PdfReader(io.BytesIO(prepared)).pages
    assert len(pages) == 2 + 3
    reader = PdfFileReader(io.BytesIO(prepared))
    names = [name for name, _, _ in fields.enumerate_sig_fields(reader)]
    assert names == [f"Firma_{n}_firmatario-{n}" for n in range(1, 16)]
    assert "Firmatario 15" in pages[-1].extract_text()
    signed = sign_as(pki, prepared, 15, many[-1], "ferrari")
    [report] = validate(signed, trust_roots=[pki.root_der])
    assert report.indication == PASSED
    assert report.field_name == "Firma_15_firmatario-15"


def test_with_trust_roots_the_signature_embeds_validation_data_b_lt(pki, prepared, signatories):
    pdf = sign_pkcs12(
        prepared,
        field_name=field_name_for(1, signatories[0]),
        pkcs12=pki.pkcs12("rossi", PASSWORD),
        password=PASSWORD,
        timestamper_url=pki.tsa_url,
        trust_roots=[pki.root_der],
    )
    pdf = sign_as(pki, pdf, 2, signatories[1], "verdi")
    first, second = validate(pdf, trust_roots=[pki.root_der])
    assert (first.indication, first.level) == (PASSED, "B-LT")
    assert (second.indication, second.level) == (PASSED, "B-T")


@pytest.mark.parametrize(
    ("label", "reason", "words"),
    [
        ("revoked", "REVOKED", ["was revoked on 2025-01-01", "ask your certification authority"]),
        (
            "rogue-signer",
            "UNTRUSTED",
            ["not issued by a trusted certification authority", "Rogue Root CA"],
        ),
        # The checks without trust roots still come first, with their own reasons.
        ("expired", "EXPIRED", ["expired on 2021-06-01"]),
        ("not-yet-valid", "NOT_YET_VALID", ["not valid yet"]),
        ("no-nonrep", "KEY_USAGE", ["non_repudiation"]),
    ],
)
def test_with_trust_roots_unusable_certificates_are_refused_before_signing(
    pki, prepared, signatories, label, reason, words
):
    with pytest.raises(CertificateRejected) as excinfo:
        sign_as(pki, prepared, 1, signatories[0], label, trust_roots=[pki.root_der])
    assert excinfo.value.details["reason"] == reason
    for word in words:
        assert word.casefold() in str(excinfo.value).casefold()


def test_responders_down_the_signature_is_made_at_b_t_without_validation_data(
    pki, unreachable_pki, prepared, signatories
):
    """RULES.md S4: B-LT only when the revocation data can be fetched; otherwise B-T, not a
    refusal. The certificate's OCSP responder and CRLs are on a port nobody listens on."""
    pdf = sign_as(
        unreachable_pki,
        prepared,
        1,
        signatories[0],
        "rossi",
        tsa=pki.tsa_url,
        trust_roots=[pki.root_der],
    )
    assert "/DSS" not in PdfFileReader(io.BytesIO(pdf)).root
    [report] = validate(pdf, trust_roots=[pki.root_der])
    # Still unreachable at validation: pending, to be validated again, never PASSED.
    assert (report.indication, report.sub_indication) == (INDETERMINATE, "TRY_LATER")
    assert report.timestamp_time is not None
    assert "validate again later" in report.problems[0]


def test_a_timestamp_from_a_tsa_without_the_time_stamping_eku_is_not_accepted(
    pki, prepared, signatories
):
    """RULES.md S7: the TSA certificate must carry the timeStamping extended key usage."""
    pdf = sign_as(pki, prepared, 1, signatories[0], "rossi", tsa=tsa_no_eku_url(pki))
    [report] = validate(pdf, trust_roots=[pki.root_der])
    assert report.indication == INDETERMINATE
    assert report.sub_indication
    assert report.level == "B-B"
    assert report.timestamp_token
    assert "lacks the timeStamping extended key usage" in report.problems[0]
    assert "Stipula Demo TSA without timeStamping EKU" in report.problems[0]


def test_with_trust_roots_a_tsa_without_the_time_stamping_eku_is_refused_before_signing(
    pki, prepared, signatories
):
    with pytest.raises(SigningError) as excinfo:
        sign_as(
            pki,
            prepared,
            1,
            signatories[0],
            "rossi",
            tsa=tsa_no_eku_url(pki),
            trust_roots=[pki.root_der],
        )
    assert excinfo.value.details["reason"] == "TSA_REJECTED"
    assert "timestamp server's certificate is not acceptable" in str(excinfo.value)


def _replace_timestamp_token(pdf: bytes, field_name: str, token: cms.ContentInfo) -> bytes:
    """Put ``token`` in place of the signature timestamp of ``field_name``.

    The token is an unsigned attribute and /Contents lies outside the signed byte range, so the
    signature itself stays intact: only the timestamp checks can notice.
    """
    reader = PdfFileReader(io.BytesIO(pdf))
    [embedded] = [e for e in reader.embedded_signatures if e.field_name == field_name]
    content = cms.ContentInfo.load(embedded.pkcs7_content)
    signer_info = content["content"]["signer_infos"][0]
    for attr in signer_info["unsigned_attrs"]:
        if attr["type"].native == "signature_time_stamp_token":
            attr["values"] = cms.SetOfContentInfo([token])
    hex_cms = content.dump(force=True).hex().encode("ascii")
    start, end = int(embedded.byte_range[1]), int(embedded.byte_range[2])
    room = end - start - 2  # between < and >
    assert len(hex_cms) <= room
    return pdf[: start + 1] + hex_cms.ljust(room, b"0") + pdf[end - 1 :]


def _token_of(pdf: bytes, field_name: str) -> cms.ContentInfo:
    reader = PdfFileReader(io.BytesIO(pdf))
    [embedded] = [e for e in reader.embedded_signatures if e.field_name == field_name]
    for attr in embedded.signer_info["unsigned_attrs"]:
        if attr["type"].native == "signature_time_stamp_token":
            return cms.ContentInfo.load(attr["values"][0].dump())
    raise AssertionError("no timestamp token")


def test_a_timestamp_token_of_another_signature_fails_the_message_imprint(signed_in_sequence, pki):
    """RULES.md S7: the token's message imprint must be the hash of this signature value."""
    pdf = signed_in_sequence[0][-1]
    others = _token_of(pdf, "Firma_2_luigi-verdi")
    swapped = _replace_timestamp_token(pdf, "Firma_1_mario-rossi", others)
    first = validate(swapped, trust_roots=[pki.root_der])[0]
    assert first.indication == INDETERMINATE
    assert first.problems == [
        "The signature timestamp does not match this signature (message imprint)."
    ]
    assert first.level == "B-B"


def test_a_timestamp_token_with_a_broken_signature_is_not_accepted(signed_in_sequence, pki):
    """RULES.md S7: the token's own signature must verify."""
    pdf = signed_in_sequence[0][-1]
    token = _token_of(pdf, "Firma_1_mario-rossi")
    tsa_info = token["content"]["signer_infos"][0]
    value = bytearray(tsa_info["signature"].native)
    value[-1] ^= 0xFF
    tsa_info["signature"] = bytes(value)
    broken = _replace_timestamp_token(pdf, "Firma_1_mario-rossi", token)
    first = validate(broken, trust_roots=[pki.root_der])[0]
    assert first.indication == INDETERMINATE
    assert first.problems == ["The signature timestamp's own signature does not verify."]


def test_unreachable_timestamp_server_is_a_clear_error(pki, prepared, signatories):
    with pytest.raises(SigningError) as excinfo:
        sign_pkcs12(
            prepared,
            field_name=field_name_for(1, signatories[0]),
            pkcs12=pki.pkcs12("rossi", PASSWORD),
            password=PASSWORD,
            timestamper_url="http://127.0.0.1:9/tsa",
        )
    assert excinfo.value.details["reason"] == "TSA_UNAVAILABLE"


# Certification by the system seal (RULES.md S5) ----------------------------------------------


@pytest.fixture(scope="module")
def certified(prepared, seal, pki):
    return certify(prepared, signer=seal, timestamper_url=pki.tsa_url)


def test_certification_is_docmdp_level_2_in_an_invisible_field(prepared, certified):
    assert certified.startswith(prepared)
    reader = PdfFileReader(io.BytesIO(certified))
    docmdp = reader.root["/Perms"]["/DocMDP"]
    [reference] = docmdp["/Reference"]
    assert reference["/TransformMethod"] == "/DocMDP"
    assert reference["/TransformParams"]["/P"] == 2
    [embedded] = reader.embedded_signatures
    assert embedded.field_name == "Sigillo"
    assert [float(v) for v in embedded.sig_field["/Rect"]] == [0, 0, 0, 0]
    # The signatories' fields are still empty.
    assert [name for name, value, _ in fields.enumerate_sig_fields(reader) if value is None] == [
        "Firma_1_mario-rossi",
        "Firma_2_luigi-verdi",
        "Firma_3_giulia-bianchi",
    ]


def test_signatures_after_the_certification_pass_with_form_filling(
    pki, certified, signatories, prepared_sha256
):
    pdf = certified
    for index, (signatory, label) in enumerate(
        zip(signatories, ["rossi", "verdi", "bianchi"], strict=True), 1
    ):
        pdf = sign_as(pki, pdf, index, signatory, label)
    reports = validate(pdf, trust_roots=[pki.root_der], approved_sha256=prepared_sha256)
    assert [(r.kind, r.field_name) for r in reports] == [
        ("certification", "Sigillo"),
        ("approval", "Firma_1_mario-rossi"),
        ("approval", "Firma_2_luigi-verdi"),
        ("approval", "Firma_3_giulia-bianchi"),
    ]
    for report in reports:
        assert report.indication == PASSED, report.problems
        assert report.docmdp_ok is True
        assert report.covers_approved is True
        assert report.level == "B-T"
    assert [r.modification_level for r in reports] == [
        "FORM_FILLING",
        "FORM_FILLING",
        "FORM_FILLING",
        "NONE",
    ]
    assert reports[0].signer_subject.startswith("Common Name: Sigillo elettronico di Stipula")


def test_a_content_change_after_certification_fails_it(pki, certified):
    writer = IncrementalPdfFileWriter(io.BytesIO(certified))
    stamp = writer.add_object(generic.StreamObject(stream_data=b"0 0 1 rg 50 50 200 200 re f"))
    writer.add_stream_to_page(0, stamp)
    out = io.BytesIO()
    writer.write(out)
    [report] = validate(out.getvalue(), trust_roots=[pki.root_der])
    assert report.kind == "certification"
    assert (report.indication, report.sub_indication) == (FAILED, "FORMAT_FAILURE")
    assert report.docmdp_ok is False


def test_certification_comes_before_the_first_signature(pki, signed_in_sequence, seal):
    with pytest.raises(SigningError) as excinfo:
        certify(signed_in_sequence[0][0], signer=seal)
    assert excinfo.value.details["reason"] == "ALREADY_SIGNED"
    assert "before the first signature" in str(excinfo.value)


def test_certification_refuses_an_expired_seal(pki, prepared):
    expired = signers.SimpleSigner.load_pkcs12_data(
        pki.pkcs12("expired", PASSWORD), (), passphrase=PASSWORD.encode()
    )
    with pytest.raises(CertificateRejected) as excinfo:
        certify(prepared, signer=expired)
    assert excinfo.value.details["reason"] == "EXPIRED"


def test_load_seal_says_what_is_wrong(pki, tmp_path):
    path = tmp_path / "sigillo.p12"
    with pytest.raises(SigningError) as excinfo:
        load_seal(str(path), PASSWORD)
    assert excinfo.value.details["reason"] == "SEAL_NOT_FOUND"
    assert str(path) in str(excinfo.value)
    path.write_bytes(pki.pkcs12("seal", PASSWORD))
    with pytest.raises(SigningError) as excinfo:
        load_seal(str(path), "sbagliata")
    assert excinfo.value.details["reason"] == "SEAL_WRONG_PASSWORD"
    assert "password is wrong" in str(excinfo.value)
    seal = load_seal(str(path), PASSWORD)
    assert seal.signing_cert.subject.native["common_name"] == "Sigillo elettronico di Stipula"


class ReplayingTsa:
    """A timestamp server on loopback that answers every request with the token of the first
    one, as a replay would: the response's nonce is not the request's."""

    def __init__(self, tsa_url: str):
        first: list[bytes] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not first:
                    request = urllib.request.Request(  # noqa: S310 - the loopback test TSA
                        tsa_url, data=body, headers={"Content-Type": "application/timestamp-query"}
                    )
                    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                        first.append(response.read())
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(first[0])))
                self.end_headers()
                self.wfile.write(first[0])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/tsa"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_replayed_timestamp_response_is_refused_by_its_nonce(pki, prepared, signatories):
    """RULES.md S7: a random nonce goes with each request and must come back in the response.
    With a server it has not used yet, pyHanko asks once for a token to size the placeholder,
    then for the signature's own: the second answer is a replay."""
    replaying = ReplayingTsa(pki.tsa_url)
    try:
        with pytest.raises(SigningError) as excinfo:
            sign_as(pki, prepared, 1, signatories[0], "rossi", tsa=replaying.url)
    finally:
        replaying.close()
    assert excinfo.value.details["reason"] == "TSA_REJECTED"
    assert "nonce of another request" in str(excinfo.value)
