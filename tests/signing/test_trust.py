"""Trust roots: the folder of CA certificates and the EU trusted lists (signing/trust.py).

No internet here: the EU list of the lists (LOTL) and a national trusted list are built in the
test, signed with the XML-signature profile of the EU lists (enveloped signature, exclusive
C14N, a XAdES SignedProperties reference; RSA for the LOTL, ECDSA for the national list), and
served from a loopback HTTP server.
"""

import base64
import datetime
import http.server
import threading

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

from signing import trust
from signing.errors import SigningError
from signing.pades import PASSED, validate

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
FOR_WEB = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/ForWebSiteAuthentication"
WITHDRAWN = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn"
CA_PKC = "http://uri.etsi.org/TrstSvc/Svctype/CA/PKC"


@pytest.fixture(autouse=True)
def fresh_cache():
    trust.clear_cache()
    yield
    trust.clear_cache()


# The trust roots folder ---------------------------------------------------------------------


def test_the_folder_gives_every_certificate_and_ignores_other_files(pki, tmp_path):
    (tmp_path / "bundle.pem").write_bytes(pki.cert_pem("root") + pki.cert_pem("interm"))
    (tmp_path / "rogue.CER").write_bytes(pki.cert_der("rogue-root"))
    (tmp_path / "tsa.der").write_bytes(pki.cert_der("tsa"))
    (tmp_path / "README.txt").write_text("not a certificate, not read")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "ignored.pem").write_bytes(b"not read either: subfolders are skipped")
    assert trust.folder_roots(tmp_path) == [
        pki.root_der,
        pki.cert_der("interm"),
        pki.cert_der("rogue-root"),
        pki.cert_der("tsa"),
    ]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("broken.crt", b"\x30\x82\x01\x00garbage"),
        ("key.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        ("text.cer", b"hello"),
    ],
)
def test_a_file_that_is_not_a_certificate_is_named(settings, pki, tmp_path, name, data):
    (tmp_path / "root.pem").write_bytes(pki.cert_pem("root"))
    (tmp_path / name).write_bytes(data)
    settings.STIPULA_TRUST_ROOTS_DIR = str(tmp_path)
    settings.STIPULA_EU_TRUSTED_LISTS = False
    with pytest.raises(SigningError) as excinfo:
        trust.trust_roots()
    assert excinfo.value.details["reason"] == "TRUST_ROOT_INVALID"
    assert excinfo.value.details["file"] == str(tmp_path / name)
    assert f"{tmp_path / name} in the trust roots folder is not a certificate" in str(excinfo.value)


def test_trust_roots_and_their_summary_come_from_the_settings(settings, pki, tmp_path):
    (tmp_path / "a.pem").write_bytes(pki.cert_pem("root"))
    (tmp_path / "b.pem").write_bytes(pki.cert_pem("root"))  # the same one twice
    settings.STIPULA_TRUST_ROOTS_DIR = str(tmp_path)
    settings.STIPULA_EU_TRUSTED_LISTS = False
    assert trust.trust_roots() == [pki.root_der]
    assert trust.trust_roots_summary() == [
        "Common Name: Stipula Demo Root CA, Organization: Stipula Demo CA, Country: IT"
    ]


def test_a_missing_or_empty_folder_is_a_clear_error(settings, tmp_path):
    settings.STIPULA_EU_TRUSTED_LISTS = False
    settings.STIPULA_TRUST_ROOTS_DIR = str(tmp_path / "nowhere")
    with pytest.raises(SigningError) as excinfo:
        trust.trust_roots()
    assert excinfo.value.details["reason"] == "TRUST_ROOTS_MISSING"
    assert str(tmp_path / "nowhere") in str(excinfo.value)
    settings.STIPULA_TRUST_ROOTS_DIR = str(tmp_path)
    with pytest.raises(SigningError) as excinfo:
        trust.trust_roots()
    assert excinfo.value.details["reason"] == "NO_TRUST_ROOTS"


# The EU trusted lists -----------------------------------------------------------------------


class Operator:
    """A scheme operator: a key and a self-signed certificate that sign a trusted list."""

    def __init__(self, name: str, key):
        self.key = key
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.asn1 = asn1_x509.Certificate.load(self.der)

    def sign(self, xml: bytes) -> bytes:
        """The list with an enveloped XAdES-style signature, computed independently of the
        verifier: the list's digest is taken before the signature is added."""
        root = etree.fromstring(xml)
        list_digest = _digest(etree.tostring(root, method="c14n", exclusive=True))
        ecdsa = isinstance(self.key, ec.EllipticCurvePrivateKey)
        method = "ecdsa-sha256" if ecdsa else "rsa-sha256"
        signature = etree.fromstring(
            f"""<ds:Signature xmlns:ds="{DS}" Id="sig">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>
    <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#{method}"/>
    <ds:Reference URI="">
      <ds:Transforms>
        <ds:Transform Algorithm="{DS}enveloped-signature"/>
        <ds:Transform Algorithm="{EXC_C14N}"/>
      </ds:Transforms>
      <ds:DigestMethod Algorithm="{SHA256}"/>
      <ds:DigestValue>{list_digest}</ds:DigestValue>
    </ds:Reference>
    <ds:Reference URI="#props" Type="http://uri.etsi.org/01903#SignedProperties">
      <ds:Transforms><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>
      <ds:DigestMethod Algorithm="{SHA256}"/>
      <ds:DigestValue>TO-BE-FILLED</ds:DigestValue>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue>TO-BE-FILLED</ds:SignatureValue>
  <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{base64.b64encode(self.der).decode()}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
  <ds:Object>
    <xades:QualifyingProperties xmlns:xades="{XADES}" Target="#sig">
      <xades:SignedProperties Id="props">
        <xades:SignedSignatureProperties>
          <xades:SigningTime>2026-01-01T00:00:00Z</xades:SigningTime>
        </xades:SignedSignatureProperties>
      </xades:SignedProperties>
    </xades:QualifyingProperties>
  </ds:Object>
</ds:Signature>""".encode()
        )
        root.append(signature)
        props = signature.find(f".//{{{XADES}}}SignedProperties")
        references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
        references[1].find(f"{{{DS}}}DigestValue").text = _digest(
            etree.tostring(props, method="c14n", exclusive=True)
        )
        signed_info = signature.find(f"{{{DS}}}SignedInfo")
        data = etree.tostring(signed_info, method="c14n", exclusive=True)
        if ecdsa:
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
            value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            value = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _digest(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return base64.b64encode(digest.finalize()).decode()


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def lotl_xml(national_url: str, national_operator: Operator, lotl_operator: Operator) -> bytes:
    def pointer(location, mime, rules, cert_der):
        return f"""
      <tsl:OtherTSLPointer>
        <tsl:ServiceDigitalIdentities><tsl:ServiceDigitalIdentity><tsl:DigitalId>
          <tsl:X509Certificate>{_b64(cert_der)}</tsl:X509Certificate>
        </tsl:DigitalId></tsl:ServiceDigitalIdentity></tsl:ServiceDigitalIdentities>
        <tsl:TSLLocation>{location}</tsl:TSLLocation>
        <tsl:AdditionalInformation>
          <tsl:OtherInformation><tsl:SchemeTerritory>IT</tsl:SchemeTerritory></tsl:OtherInformation>
          <tsl:OtherInformation><tslx:MimeType>{mime}</tslx:MimeType></tsl:OtherInformation>
          <tsl:OtherInformation><tsl:SchemeTypeCommunityRules>
            <tsl:URI xml:lang="en">http://uri.etsi.org/TrstSvc/TrustedList/schemerules/{rules}</tsl:URI>
          </tsl:SchemeTypeCommunityRules></tsl:OtherInformation>
        </tsl:AdditionalInformation>
      </tsl:OtherTSLPointer>"""

    pointers = "".join(
        [
            # The LOTL's pointer to itself and the national list's PDF copy are not followed.
            pointer(
                "https://example.invalid/lotl.xml",
                "application/vnd.etsi.tsl+xml",
                "EUlistofthelists",
                lotl_operator.der,
            ),
            pointer(
                national_url, "application/vnd.etsi.tsl+xml", "EUcommon", national_operator.der
            ),
            pointer(
                "https://example.invalid/it.pdf", "application/pdf", "EUcommon", lotl_operator.der
            ),
        ]
    )
    return _list(f"""<tsl:SchemeInformation>
    <tsl:TSLVersionIdentifier>6</tsl:TSLVersionIdentifier>
    <tsl:SchemeTerritory>EU</tsl:SchemeTerritory>
    <tsl:PointersToOtherTSL>{pointers}</tsl:PointersToOtherTSL>
  </tsl:SchemeInformation>""")


def service(type_uri, status_uri, cert_der, kinds=()):
    extensions = "".join(
        f"""<tsl:Extension Critical="false"><tsl:AdditionalServiceInformation>
          <tsl:URI xml:lang="en">{kind}</tsl:URI>
        </tsl:AdditionalServiceInformation></tsl:Extension>"""
        for kind in kinds
    )
    return f"""
      <tsl:TSPService><tsl:ServiceInformation>
        <tsl:ServiceTypeIdentifier>{type_uri}</tsl:ServiceTypeIdentifier>
        <tsl:ServiceName><tsl:Name xml:lang="en">Servizio</tsl:Name></tsl:ServiceName>
        <tsl:ServiceDigitalIdentity><tsl:DigitalId>
          <tsl:X509Certificate>{_b64(cert_der)}</tsl:X509Certificate>
        </tsl:DigitalId></tsl:ServiceDigitalIdentity>
        <tsl:ServiceStatus>{status_uri}</tsl:ServiceStatus>
        <tsl:StatusStartingTime>2024-01-01T00:00:00Z</tsl:StatusStartingTime>
        <tsl:ServiceInformationExtensions>{extensions}</tsl:ServiceInformationExtensions>
      </tsl:ServiceInformation></tsl:TSPService>"""


def national_xml(services: str) -> bytes:
    return _list(f"""<tsl:SchemeInformation>
    <tsl:TSLVersionIdentifier>6</tsl:TSLVersionIdentifier>
    <tsl:SchemeTerritory>IT</tsl:SchemeTerritory>
  </tsl:SchemeInformation>
  <tsl:TrustServiceProviderList><tsl:TrustServiceProvider>
    <tsl:TSPInformation>
      <tsl:TSPName><tsl:Name xml:lang="en">Stipula Demo CA</tsl:Name></tsl:TSPName>
    </tsl:TSPInformation>
    <tsl:TSPServices>{services}</tsl:TSPServices>
  </tsl:TrustServiceProvider></tsl:TrustServiceProviderList>""")


def _list(body: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="{trust.TSL}" xmlns:tslx="{trust.TSLX}" Id="tsl" TSLTag="http://uri.etsi.org/19612/TSLTag">
  {body}
</tsl:TrustServiceStatusList>""".encode()


class ListServer:
    """Serves the lists from memory on loopback and counts the requests."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.etsi.tsl+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def operators():
    lotl = Operator("EU LOTL operator (test)", rsa.generate_private_key(65537, 2048))
    national = Operator("IT TL operator (test)", ec.generate_private_key(ec.SECP256R1()))
    return lotl, national


@pytest.fixture
def eu_lists(pki, operators):
    """A LOTL pointing at a national list with a qualified-signature CA (the PKI's intermediate)
    and a qualified TSA, among services that must not be taken: withdrawn, website-only, and a
    CA of non-qualified certificates."""
    lotl_operator, national_operator = operators
    server = ListServer()
    services = "".join(
        [
            service(trust.CA_QC, trust.GRANTED, pki.cert_der("interm"), [trust.FOR_E_SIGNATURES]),
            service(trust.CA_QC, WITHDRAWN, pki.cert_der("rogue-root"), [trust.FOR_E_SIGNATURES]),
            service(trust.CA_QC, trust.GRANTED, pki.cert_der("interm-ocsp"), [FOR_WEB]),
            service(CA_PKC, trust.GRANTED, pki.cert_der("rogue-signer")),
            service(trust.QTST, trust.GRANTED, pki.cert_der("tsa")),
        ]
    )
    server.files["/it.xml"] = national_operator.sign(national_xml(services))
    server.files["/lotl.xml"] = lotl_operator.sign(
        lotl_xml(f"{server.base}/it.xml", national_operator, lotl_operator)
    )
    server.lotl_url = f"{server.base}/lotl.xml"
    yield server
    server.close()


def eu_roots(eu_lists, operators, **kwargs):
    return trust.eu_trusted_list_roots(
        eu_lists.lotl_url, lotl_signers=[operators[0].asn1], **kwargs
    )


def test_the_eu_lists_give_the_granted_qualified_signature_cas_and_tsas(pki, eu_lists, operators):
    assert eu_roots(eu_lists, operators) == [pki.cert_der("interm"), pki.cert_der("tsa")]
    assert eu_lists.hits == {"/lotl.xml": 1, "/it.xml": 1}


def test_trust_roots_adds_the_eu_lists_when_they_are_on(
    settings, pki, eu_lists, operators, tmp_path
):
    folder = tmp_path / "trust"
    folder.mkdir()
    (folder / "root.pem").write_bytes(pki.cert_pem("root"))
    signers_file = tmp_path / "lotl-signers.pem"
    signers_file.write_bytes(operators[0].cert.public_bytes(serialization.Encoding.PEM))
    settings.STIPULA_TRUST_ROOTS_DIR = str(folder)
    settings.STIPULA_EU_TRUSTED_LISTS = True
    settings.STIPULA_EU_LOTL_URL = eu_lists.lotl_url
    settings.STIPULA_EU_LOTL_SIGNER_CERTS = str(signers_file)
    assert trust.trust_roots() == [pki.root_der, pki.cert_der("interm"), pki.cert_der("tsa")]
    assert trust.trust_roots_summary()[1].startswith(
        "Common Name: Stipula Demo Qualified Signature CA"
    )


def test_a_signature_validates_against_the_eu_lists_alone(
    pki, eu_lists, operators, signed_in_sequence
):
    [report] = validate(signed_in_sequence[0][0], trust_roots=eu_roots(eu_lists, operators))
    assert report.indication == PASSED, report.problems
    assert report.trust_roots == [
        "Common Name: Stipula Demo Qualified Signature CA, Organization: Stipula Demo CA, "
        "Country: IT"
    ]


def test_the_eu_lists_are_cached_for_their_ttl(eu_lists, operators, pki):
    eu_roots(eu_lists, operators, ttl=3600)
    eu_roots(eu_lists, operators, ttl=3600)
    assert eu_lists.hits["/lotl.xml"] == 1
    trust.clear_cache()
    eu_roots(eu_lists, operators, ttl=0)  # expired as soon as it is stored
    eu_roots(eu_lists, operators, ttl=0)
    assert eu_lists.hits["/lotl.xml"] == 3
    # A refresh that fails keeps the copy fetched before.
    del eu_lists.files["/lotl.xml"]
    assert eu_roots(eu_lists, operators, ttl=0) == [pki.cert_der("interm"), pki.cert_der("tsa")]
    assert eu_lists.hits["/lotl.xml"] == 4


def test_a_national_list_changed_after_signing_is_left_out(eu_lists, operators, pki):
    signed = eu_lists.files["/it.xml"]
    eu_lists.files["/it.xml"] = signed.replace(
        b"</tsl:TSPServices>",
        service(trust.CA_QC, trust.GRANTED, pki.cert_der("rogue-root")).encode()
        + b"</tsl:TSPServices>",
    )
    assert eu_roots(eu_lists, operators) == []


def test_a_national_list_signed_by_someone_else_is_left_out(eu_lists, operators, pki):
    intruder = Operator("Intruder", ec.generate_private_key(ec.SECP256R1()))
    eu_lists.files["/it.xml"] = intruder.sign(
        national_xml(service(trust.CA_QC, trust.GRANTED, pki.cert_der("rogue-root")))
    )
    assert eu_roots(eu_lists, operators) == []


@pytest.mark.parametrize(
    ("change", "words"),
    [("tamper", "content changed"), ("intruder", "not made by the expected list operator")],
)
def test_a_list_of_the_lists_that_does_not_verify_is_an_error(eu_lists, operators, change, words):
    lotl = eu_lists.files["/lotl.xml"]
    if change == "tamper":
        eu_lists.files["/lotl.xml"] = lotl.replace(
            b"<tsl:TSLVersionIdentifier>6<", b"<tsl:TSLVersionIdentifier>7<"
        )
    else:
        intruder = Operator("Intruder", rsa.generate_private_key(65537, 2048))
        eu_lists.files["/lotl.xml"] = intruder.sign(
            lotl_xml(f"{eu_lists.base}/it.xml", operators[1], intruder)
        )
    with pytest.raises(SigningError) as excinfo:
        eu_roots(eu_lists, operators)
    assert excinfo.value.details["reason"] == "EU_TRUSTED_LISTS_UNAVAILABLE"
    assert words in str(excinfo.value)


def test_an_unreachable_list_of_the_lists_is_an_error(operators):
    with pytest.raises(SigningError) as excinfo:
        trust.eu_trusted_list_roots("http://127.0.0.1:9/lotl.xml", lotl_signers=[operators[0].asn1])
    assert excinfo.value.details["reason"] == "EU_TRUSTED_LISTS_UNAVAILABLE"
    assert "try again later" in str(excinfo.value)


def test_a_list_of_the_lists_can_be_read_from_a_file(pki, eu_lists, operators, tmp_path):
    path = tmp_path / "eu-lotl.xml"
    path.write_bytes(eu_lists.files["/lotl.xml"])
    roots = trust.eu_trusted_list_roots(path.as_uri(), lotl_signers=[operators[0].asn1])
    assert roots == [pki.cert_der("interm"), pki.cert_der("tsa")]
