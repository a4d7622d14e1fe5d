"""What one signature costs the network, and what it must still do.

A signature through the service is one network operation (``signing.pades.Online``): the
revocation data fetched to check the signer's chain before signing is embedded (B-LT) and serves
the validation after signing; the next operation asks the responders again. The timestamp
server is asked once per signature: the placeholder is sized on its previous token. None of this
may move a check after the signature, or keep an answer from one operation for the next.

The timestamp servers here are loopback proxies in front of the local PKI's real one, counting
requests (and, for one test, adding certificates to its tokens).
"""

import http.server
import io
import threading
import urllib.request

import pytest
from asn1crypto import tsp
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import ocsp_client

from agreements.models import AgreementState
from signing.errors import CertificateRejected
from signing.models import Signature
from signing.pades import (
    INDETERMINATE,
    PASSED,
    Online,
    field_name_for,
    sign_pkcs12,
    validate,
)
from signing.services import signature_apply_pkcs12
from tests.signing.conftest import PASSWORD, sign_as
from tests.signing.test_services import _signing_files, make_signing_setup


class CountingTsa:
    """A timestamp server on loopback that passes every request on to ``tsa_url`` and counts
    them. With ``extra_certs`` set, it adds those certificates to each token it returns (they
    are outside what the token signs, so it stays valid), as a server whose chain grew."""

    def __init__(self, tsa_url: str):
        self.requests = 0
        self.extra_certs: list = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests += 1
                request = urllib.request.Request(  # noqa: S310 - the loopback test TSA
                    tsa_url, data=body, headers={"Content-Type": "application/timestamp-query"}
                )
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    answer = response.read()
                if owner.extra_certs:
                    parsed = tsp.TimeStampResp.load(answer)
                    certificates = parsed["time_stamp_token"]["content"]["certificates"]
                    for cert in owner.extra_certs:
                        certificates.append(cert)
                    answer = parsed.dump(force=True)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/tsa"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def counting_tsa(pki):
    tsa = CountingTsa(pki.tsa_url)
    yield tsa
    tsa.close()


def _sign(pki, pdf, index, signatory, label, tsa_url, trust_roots=True):
    return sign_pkcs12(
        pdf,
        field_name=field_name_for(index, signatory),
        pkcs12=pki.pkcs12(label, PASSWORD),
        password=PASSWORD,
        timestamper_url=tsa_url,
        party=signatory.party,
        trust_roots=[pki.root_der] if trust_roots else None,
    )


def test_after_its_first_token_the_timestamp_server_is_asked_once_per_signature(
    pki, prepared, prepared_sha256, signatories, counting_tsa
):
    first = _sign(pki, prepared, 1, signatories[0], "rossi", counting_tsa.url)
    # The server's first token sizes the placeholder, as pyHanko does.
    assert counting_tsa.requests == 2
    second = _sign(pki, first, 2, signatories[1], "verdi", counting_tsa.url)
    assert counting_tsa.requests == 3

    reports = validate(second, trust_roots=[pki.root_der], approved_sha256=prepared_sha256)
    assert [(r.indication, r.level, r.covers_approved) for r in reports] == [
        (PASSED, "B-LT", True),
        (PASSED, "B-LT", True),
    ]


def test_a_token_larger_than_the_remembered_one_gets_a_placeholder_sized_on_a_new_one(
    pki, prepared, signatories, counting_tsa
):
    """The placeholder is sized on the server's previous token; when the new one does not fit
    (the server's chain grew), the signature is made again on a placeholder sized as pyHanko
    sizes it, on a token asked for the purpose."""
    first = _sign(pki, prepared, 1, signatories[0], "rossi", counting_tsa.url)
    assert counting_tsa.requests == 2
    counting_tsa.extra_certs = [
        pki.cert(label)
        for label in ("interm-ocsp", "ferrari", "esposito", "expired", "no-nonrep", "seal")
    ]

    second = _sign(pki, first, 2, signatories[1], "verdi", counting_tsa.url)

    # The token that did not fit, then a sizing token and the signature's own.
    assert counting_tsa.requests == 5
    reports = validate(second, trust_roots=[pki.root_der])
    assert [(r.indication, r.level) for r in reports] == [(PASSED, "B-LT"), (PASSED, "B-LT")]


def test_the_b_lt_data_is_what_pyhankos_b_lt_signing_embeds(pki, prepared, signatories):
    """Signer's and timestamp authority's chains, their OCSP response and CRL, and a VRI entry
    for the signature, in an incremental update after it."""
    pdf = sign_as(pki, prepared, 1, signatories[0], "rossi", trust_roots=[pki.root_der])
    reader = PdfFileReader(io.BytesIO(pdf))
    assert (
        reader.xrefs.total_revisions
        == PdfFileReader(io.BytesIO(prepared)).xrefs.total_revisions + 2
    )
    dss = reader.root["/DSS"]
    [embedded] = reader.embedded_signatures
    assert embedded.signed_revision == reader.xrefs.total_revisions - 2
    certs = {ref.get_object().data for ref in dss["/Certs"]}
    assert {pki.cert_der(label) for label in ("rossi", "interm", "root", "tsa")} <= certs
    assert len(dss["/OCSPs"]) == 1 and len(dss["/CRLs"]) == 1
    assert list(dss["/VRI"]) == [
        DocumentSecurityStore.sig_content_identifier(embedded.pkcs7_content)
    ]


def test_within_one_operation_answers_are_reused_and_the_next_operation_asks_again(
    pki, signed_in_sequence
):
    pdf = signed_in_sequence[0][0]
    with Online() as online:
        [report] = validate(pdf, trust_roots=[pki.root_der], online=online)
        assert report.indication == PASSED
        with pki.offline("ocsp", "crls"):
            # The same operation: the OCSP response and CRL fetched just above.
            [again] = validate(pdf, trust_roots=[pki.root_der], online=online)
            assert again.indication == PASSED
            # Another operation asks the responders, which are down now.
            [alone] = validate(pdf, trust_roots=[pki.root_der])
            assert (alone.indication, alone.sub_indication) == (INDETERMINATE, "TRY_LATER")


@pytest.mark.django_db
def test_a_revoked_certificate_is_refused_before_the_timestamp_server_is_asked(
    pki, officer, counting_tsa
):
    setup = make_signing_setup(pki, officer)
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document
    files = _signing_files()

    with pytest.raises(CertificateRejected, match="revoked") as excinfo:
        signature_apply_pkcs12(
            actor=first.user,
            agreement=agreement,
            signatory=first,
            pkcs12=pki.pkcs12("revoked", PASSWORD),
            password=PASSWORD,
            timestamper_url=counting_tsa.url,
            trust_roots=[pki.root_der],
        )

    assert excinfo.value.details["reason"] == "REVOKED"
    assert counting_tsa.requests == 0
    assert not Signature.objects.exists()
    assert _signing_files() == files
    document.refresh_from_db()
    assert document.current_sha256 == document.prepared_sha256


@pytest.fixture
def ocsp_requests(monkeypatch):
    """The serial number of the certificate each OCSP request asks about, in order: the
    requests still go to the PKI's responder (pyhanko-certvalidator's request function,
    counted on the way)."""
    seen = []
    original = ocsp_client._grab_ocsp

    async def counted(ocsp_request, *args, **kwargs):
        [single] = ocsp_request["tbs_request"]["request_list"]
        seen.append(single["req_cert"]["serial_number"].native)
        return await original(ocsp_request, *args, **kwargs)

    monkeypatch.setattr(ocsp_client, "_grab_ocsp", counted)
    return seen


@pytest.mark.django_db
def test_a_service_call_fetches_each_answer_once_and_the_next_call_fetches_again(
    pki, officer, ocsp_requests
):
    """One OCSP request for the signer serves the pre-check, the B-LT data and the validation
    after signing; the next signatory's call asks again about the first signer, whose
    signature it validates (RULES.md S6): nothing carries over from one call to the next."""
    setup = make_signing_setup(pki, officer)
    agreement, (first, second) = setup["agreement"], setup["signatories"]

    def sign(signatory, label):
        return signature_apply_pkcs12(
            actor=signatory.user,
            agreement=agreement,
            signatory=signatory,
            pkcs12=pki.pkcs12(label, PASSWORD),
            password=PASSWORD,
            timestamper_url=pki.tsa_url,
            trust_roots=[pki.root_der],
        )

    rossi, verdi = pki.cert("rossi").serial_number, pki.cert("verdi").serial_number
    passed = sign(first, "rossi")
    assert (passed.indication, passed.report["level"]) == (PASSED, "B-LT")
    assert ocsp_requests == [rossi]

    ocsp_requests.clear()
    completed = sign(second, "verdi")
    assert (completed.indication, completed.report["level"]) == (PASSED, "B-LT")
    # Verdi's pre-check, then Rossi's signature validated again; the archive timestamp (B-LTA)
    # of this completing call embeds those same answers.
    assert ocsp_requests == [verdi, rossi]
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
