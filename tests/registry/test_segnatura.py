"""The segnatura of a registration (RULES.md P8) and the system seal that signs it.

Validity is checked against AgID's own schema file in ../shared/specs (the copy in registry/xsd
must be the same bytes); signatures are verified by ``verify_segnatura`` and, as a cross-check, by
the independent XML-signature verifier of the trusted lists (signing.trust).
"""

import base64
import copy
import datetime
import hashlib
import logging
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from agreements.storage import read_bytes
from registry import seal as seal_module
from registry.models import Register, Registration
from registry.seal import DEVELOPMENT_SUBJECT, system_seal
from registry.segnatura import DS, NS, PROT, XADES, build_segnatura, verify_segnatura
from registry.services import Attachment, registration_register
from signing.errors import SigningError
from signing.trust import _verify_signature
from tests.signing.conftest import PASSWORD

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "agid-segnatura"
OWN_COPY = Path(__file__).resolve().parents[2] / "registry" / "xsd"
TRICKY_SUBJECT = 'Patto <per> l\'inclusione & la «coesione» sociale – Forlì "2026"'
TRICKY_PARTIES = ["Comune di Forlì & Unione dei Comuni «Romagna»", "Cooperativa <Aurora> & C."]


@pytest.fixture(scope="module")
def agid_schema():
    folder = SPEC if SPEC.exists() else OWN_COPY
    parser = etree.XMLParser(no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(folder / "segnatura_protocollo.xsd"), parser))


@pytest.fixture(autouse=True)
def _fresh_seals(settings, tmp_path):
    """Each test gets the development seal of its own data folder (or the seal it configures)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.STIPULA_SEAL_PKCS12 = ""
    seal_module.clear_cache()
    yield
    seal_module.clear_cache()


@pytest.fixture
def pki_seal(pki, settings, tmp_path):
    """The PKI's seal certificate (RSA, issued by the intermediate CA) configured as production
    configures it."""
    path = tmp_path / "sigillo.p12"
    path.write_bytes(pki.pkcs12("seal", PASSWORD))
    settings.STIPULA_SEAL_PKCS12 = str(path)
    settings.STIPULA_SEAL_PASSWORD = PASSWORD
    seal_module.clear_cache()
    return system_seal()


def _registration(**overrides) -> Registration:
    """An unsaved registration as the service builds it before the segnatura."""
    register = Register(
        code="REP-CONV",
        name="Repertorio delle convenzioni",
        administration_code="c_d704",
        aoo_code="AOO_FORLI",
    )
    values = {
        "register": register,
        "year": 2026,
        "number": 42,
        "registered_at": datetime.datetime(2026, 3, 2, 8, 30, 5, tzinfo=datetime.UTC),
        "registration_date": datetime.date(2026, 3, 2),
        "subject": TRICKY_SUBJECT,
        "parties": [
            {
                "position": 1,
                "name": TRICKY_PARTIES[0],
                "kind": "public_body",
                "fiscal_code": "00606620409",
                "vat_number": "",
                "ipa_code": "c_d704",
            },
            {
                "position": 2,
                "name": TRICKY_PARTIES[1],
                "kind": "private_entity",
                "fiscal_code": "RSSMRA80A01H501U",
                "vat_number": "01234567890",
                "ipa_code": "",
            },
        ],
        "document_name": "agreement-7-signed.pdf",
        "document_file": "signing/ab/ab.pdf",
        "document_sha256": hashlib.sha256(b"signed pdf").hexdigest(),
        "document_size": 10,
        "attachments": [],
    }
    values.update(overrides)
    return Registration(**values)


def _attachments() -> list[dict]:
    return [
        {
            "name": "Allegato «A» & tabella <1>.pdf",
            "file": "registry/attachments/x.pdf",
            "sha256": hashlib.sha256(b"allegato a").hexdigest(),
            "size": 10,
            "mime_type": "application/pdf",
        },
        {
            "name": "piano-finanziario.xlsx",
            "file": "registry/attachments/y.xlsx",
            "sha256": hashlib.sha256(b"allegato b").hexdigest(),
            "size": 10,
            "mime_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    ]


def _root(xml: str):
    return etree.fromstring(xml.encode("utf-8"))


def _text(xml: str) -> str:
    return etree.tostring(_root(xml), encoding="unicode")


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _embedded_certificate(xml: str) -> asn1_x509.Certificate:
    der = base64.b64decode(_root(xml).findtext(".//ds:X509Certificate", namespaces=NS))
    return asn1_x509.Certificate.load(der)


# The schema ------------------------------------------------------------------------------------


def test_the_schema_in_the_repository_is_agids(agid_schema):
    if not SPEC.exists():
        pytest.skip("the shared specification folder is not here")
    for name in ["segnatura_protocollo.xsd", "import_schemas/xmldsig-core-schema.xsd"]:
        assert (OWN_COPY / name).read_bytes() == (SPEC / name).read_bytes()


@pytest.mark.django_db
@pytest.mark.parametrize("attachments", [[], _attachments()], ids=["alone", "with-attachments"])
def test_the_segnatura_is_valid_against_agids_schema(agid_schema, attachments):
    registration = _registration(attachments=attachments)

    xml = build_segnatura(registration)

    root = _root(xml)
    assert agid_schema.validate(root), agid_schema.error_log
    identificatore = root.find("prot:Intestazione/prot:Identificatore", NS)
    assert [child.text for child in identificatore] == [
        "c_d704",
        "AOO_FORLI",
        "REP-CONV",
        "0000042",
        "2026-03-02",
        "09:30:05+01:00",  # Europe/Rome
    ]
    allegati = root.findall("prot:Descrizione/prot:Allegato", NS)
    assert [
        (a.get(f"{{{PROT}}}nomeFile"), a.findtext("prot:Impronta", None, NS)) for a in allegati
    ] == [(a["name"], base64.b64encode(bytes.fromhex(a["sha256"])).decode()) for a in attachments]
    assert all(
        a.find("prot:Impronta", NS).get(f"{{{PROT}}}algoritmo") == "SHA-256" for a in allegati
    )


@pytest.mark.django_db
def test_special_characters_survive_exactly(agid_schema):
    xml = build_segnatura(_registration())

    root = _root(xml)
    assert root.findtext("prot:Intestazione/prot:Oggetto", None, NS) == TRICKY_SUBJECT
    mittente = root.find("prot:Descrizione/prot:Mittente/prot:Amministrazione", NS)
    assert mittente.findtext("prot:DenominazioneAmministrazione", None, NS) == TRICKY_PARTIES[0]
    assert mittente.findtext("prot:CodiceIPAAmministrazione", None, NS) == "c_d704"
    assert mittente.findtext("prot:CodiceIPAAOO", None, NS) == "AOO_FORLI"
    [destinatario] = root.findall("prot:Descrizione/prot:Destinatario", NS)
    assert (
        destinatario.findtext("prot:PersonaGiuridica/prot:Denominazione", None, NS)
        == (TRICKY_PARTIES[1])
    )
    assert destinatario.findtext("prot:PersonaGiuridica/prot:PIVAoCF", None, NS) == "01234567890"
    # Escaped in the text, never raw.
    assert "&lt;per&gt; l'inclusione &amp; la «coesione»" in xml
    assert "<per>" not in xml
    assert verify_segnatura(xml).valid


@pytest.mark.django_db
def test_control_characters_cannot_break_the_xml(agid_schema):
    xml = build_segnatura(_registration(subject="Oggetto\x00con\x1b caratteri\r\nstrani"))

    assert agid_schema.validate(_root(xml))
    assert (
        _root(xml).findtext(".//prot:Oggetto", None, NS)
        == "Oggetto\ufffdcon\ufffd caratteri\nstrani"
    )
    assert verify_segnatura(xml).valid


@pytest.mark.django_db
def test_the_classification_is_the_registrations_or_the_registers_default(settings):
    def classifica(registration):
        element = _root(build_segnatura(registration)).find(".//prot:Classifica", NS)
        return element.findtext("prot:CodiceFlat", None, NS), element.findtext(
            "prot:Denominazione", None, NS
        )

    assert classifica(_registration()) == ("NC", "Non classificato")
    assert classifica(_registration(classification="I.6 - Contratti e convenzioni")) == (
        "I.6",
        "Contratti e convenzioni",
    )
    assert classifica(_registration(classification="VI.2")) == ("VI.2", "VI.2")
    settings.STIPULA_DEFAULT_CLASSIFICATION = {"REP-CONV": "I.6 - Convenzioni", "*": "X - Altro"}
    assert classifica(_registration()) == ("I.6", "Convenzioni")
    assert classifica(
        _registration(register=Register(code="PROT", administration_code="c_d704", aoo_code="A"))
    ) == (
        "X",
        "Altro",
    )


# The seal's signature --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_development_seal_signs_xades_baseline_b():
    registration = _registration(attachments=_attachments())

    xml = build_segnatura(registration)

    result = verify_segnatura(xml, registration=registration)
    assert result.valid, result.problems
    assert (result.digests_match, result.signature_valid, result.schema_valid) == (True,) * 3
    assert DEVELOPMENT_SUBJECT in result.signer
    assert result.certificate_sha256 == system_seal().fingerprint
    assert result.signing_time == registration.registered_at
    root = _root(xml)
    signature = root.find("ds:Signature", NS)
    assert (
        signature.find("ds:SignedInfo/ds:SignatureMethod", NS)
        .get("Algorithm")
        .endswith("ecdsa-sha256")
    )
    properties = signature.find(".//xades:SignedProperties", NS)
    cert_digest = properties.findtext(
        "xades:SignedSignatureProperties/xades:SigningCertificateV2/xades:Cert/"
        "xades:CertDigest/ds:DigestValue",
        None,
        NS,
    )
    own_der = system_seal().certificate.public_bytes(serialization.Encoding.DER)
    assert cert_digest == _b64_sha256(own_der)
    assert properties.findtext(".//xades:DataObjectFormat/xades:MimeType", None, NS) == "text/xml"
    # An independent verifier (the trusted lists') agrees.
    _verify_signature(root, [_embedded_certificate(xml)])


@pytest.mark.django_db
def test_the_configured_seal_signs_with_rsa_and_its_chain(pki, pki_seal):
    xml = build_segnatura(_registration())

    result = verify_segnatura(xml)
    assert result.valid, result.problems
    assert "Sigillo elettronico di Stipula" in result.signer
    assert pki_seal.development is False
    root = _root(xml)
    assert root.find(".//ds:SignatureMethod", NS).get("Algorithm").endswith("rsa-sha256")
    embedded = [
        base64.b64decode(e.text) for e in root.iterfind(".//ds:X509Data/ds:X509Certificate", NS)
    ]
    assert embedded[0] == pki.cert("seal").dump()
    assert len(embedded) >= 2  # the seal and its issuing CA
    _verify_signature(root, [pki.cert("seal")])


def _tampered(xml: str, change) -> str:
    root = _root(xml)
    change(root)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True).decode("utf-8")


@pytest.mark.django_db
def test_a_changed_subject_or_impronta_fails_verification():
    registration = _registration(attachments=_attachments())
    xml = build_segnatura(registration)

    def change_subject(root):
        root.find(".//prot:Oggetto", NS).text = "Convenzione di comodo"

    def change_impronta(root):
        root.find(".//prot:DocumentoPrimario/prot:Impronta", NS).text = _b64_sha256(b"another")

    def drop_attachment(root):
        allegato = root.find(".//prot:Allegato", NS)
        allegato.getparent().remove(allegato)

    for change in (change_subject, change_impronta, drop_attachment):
        result = verify_segnatura(_tampered(xml, change))
        assert not result.valid, change.__name__
        assert result.digests_match is False
        assert result.signature_valid is False
        assert "changed after it was sealed" in " ".join(result.problems)
        with pytest.raises(ValueError, match="does not match"):
            _verify_signature(_root(_tampered(xml, change)), [_embedded_certificate(xml)])


@pytest.mark.django_db
def test_a_recomputed_digest_without_the_key_fails_verification():
    """A forger who changes the subject and recomputes the document digest cannot sign."""
    xml = build_segnatura(_registration())

    def forge(root):
        root.find(".//prot:Oggetto", NS).text = "Convenzione di comodo"
        signature = root.find("ds:Signature", NS)
        clone = copy.deepcopy(root)
        clone.remove(clone.find("ds:Signature", NS))
        digest = hashlib.sha256(etree.tostring(clone, method="c14n", exclusive=True)).digest()
        signature.find("ds:SignedInfo/ds:Reference/ds:DigestValue", NS).text = base64.b64encode(
            digest
        ).decode()

    result = verify_segnatura(_tampered(xml, forge))

    assert result.digests_match is True
    assert result.signature_valid is False
    assert result.problems == ["The seal's signature of the segnatura does not verify."]


@pytest.mark.django_db
def test_a_signature_by_another_key_or_a_swapped_certificate_fails(pki, tmp_path, settings):
    xml = build_segnatura(_registration())
    # The same segnatura sealed by another key (the PKI's seal), then its certificate swapped in.
    pki_path = tmp_path / "other.p12"
    pki_path.write_bytes(pki.pkcs12("seal", PASSWORD))
    settings.STIPULA_SEAL_PKCS12 = str(pki_path)
    settings.STIPULA_SEAL_PASSWORD = PASSWORD
    other_xml = build_segnatura(_registration())
    foreign_cert = _root(other_xml).findtext(".//ds:X509Certificate", None, NS)

    def swap_certificate(root):
        root.find(".//ds:X509Certificate", NS).text = foreign_cert

    result = verify_segnatura(_tampered(xml, swap_certificate))
    assert not result.valid
    assert "not the one the segnatura was sealed with" in " ".join(result.problems)

    def swap_signature_value(root):
        root.find(".//ds:SignatureValue", NS).text = _root(other_xml).findtext(
            ".//ds:SignatureValue", None, NS
        )

    result = verify_segnatura(_tampered(xml, swap_signature_value))
    assert result.signature_valid is False
    assert not result.valid


@pytest.mark.django_db
def test_verification_against_another_registration_says_so():
    xml = build_segnatura(_registration())

    result = verify_segnatura(xml, registration=_registration(number=43))

    assert result.signature_valid is True
    [problem] = result.problems
    assert problem == (
        "The segnatura does not describe REP-CONV 0000043/2026: its number, date or impronte "
        "differ."
    )


def test_garbage_is_reported_not_raised():
    assert "not well-formed" in verify_segnatura("<prot:Segnatura").problems[0]
    unsigned = (
        f'<prot:SegnaturaInformatica xmlns:prot="{PROT}" xmlns:ds="{DS}" '
        'prot:versione="3.0.0" prot:lang="it"/>'
    )
    result = verify_segnatura(unsigned)
    assert not result.valid
    assert result.schema_errors
    assert "exactly one enveloped signature" in " ".join(result.problems)
    assert XADES  # the namespace the signed properties use


# The development seal --------------------------------------------------------------------------


def test_the_development_seal_is_created_once_and_kept(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="registry.seal"):
        first = system_seal()
    assert first.development is True
    assert DEVELOPMENT_SUBJECT in first.subject
    path = Path(settings.DATA_DIR) / "seal" / "development-seal.pem"
    assert path.exists()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert any("not for production" in r.getMessage() for r in caplog.records)

    seal_module.clear_cache()  # as a new process would
    again = system_seal()

    assert again.fingerprint == first.fingerprint
    assert again.private_key.private_numbers() == first.private_key.private_numbers()


def test_a_configured_seal_with_a_wrong_password_says_what_to_check(pki, settings, tmp_path):
    path = tmp_path / "sigillo.p12"
    path.write_bytes(pki.pkcs12("seal", PASSWORD))
    settings.STIPULA_SEAL_PKCS12 = str(path)
    settings.STIPULA_SEAL_PASSWORD = "sbagliata"

    with pytest.raises(SigningError, match="STIPULA_SEAL_PASSWORD"):
        system_seal()


# A real registration ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_registration_stores_a_valid_sealed_segnatura_with_the_stored_impronte(
    agid_schema, signed_agreement, registrar, register
):
    agreement = signed_agreement(subject=TRICKY_SUBJECT, parties=TRICKY_PARTIES)
    plain = signed_agreement(subject="Convenzione semplice")

    registration = registration_register(
        actor=registrar,
        agreement=agreement,
        register=register,
        attachments=[
            Attachment("Allegato «A» & <B>.pdf", b"%PDF-1.4 allegato A", "application/pdf"),
            Attachment("relazione.txt", "Relazione tecnica – più righe".encode(), "text/plain"),
        ],
        classification="I.6 - Contratti e convenzioni",
    )
    alone = registration_register(actor=registrar, agreement=plain, register=register)

    for saved in (registration, alone):
        saved.refresh_from_db()
        root = _root(saved.segnatura)
        assert agid_schema.validate(root), agid_schema.error_log
        stored = read_bytes(saved.document_file)
        assert root.findtext(".//prot:DocumentoPrimario/prot:Impronta", None, NS) == (
            _b64_sha256(stored)
        )
        assert root.findtext(".//prot:NumeroRegistrazione", None, NS) == saved.formatted_number
        result = verify_segnatura(saved.segnatura, registration=saved)
        assert result.valid, result.problems
        # Signed and timestamped inside the PDF (B-LTA after the last signature).
        primario = root.find(".//prot:DocumentoPrimario", NS)
        assert primario.findtext("prot:firmatoDigitalmente/prot:UnDetached", None, NS) == "true"
        assert primario.findtext("prot:marcaturaTemporale/prot:UnDetached", None, NS) == "true"
    root = _root(registration.segnatura)
    assert root.findtext(".//prot:Oggetto", None, NS) == TRICKY_SUBJECT
    names = [e.text for e in root.iterfind(".//prot:Denominazione", NS)] + [
        e.text for e in root.iterfind(".//prot:DenominazioneAmministrazione", NS)
    ]
    assert set(TRICKY_PARTIES) <= set(names)
    assert root.findtext(".//prot:Classifica/prot:CodiceFlat", None, NS) == "I.6"
    allegati = root.findall(".//prot:Allegato", NS)
    assert [
        (a.get(f"{{{PROT}}}nomeFile"), a.findtext("prot:Impronta", None, NS)) for a in allegati
    ] == [(a["name"], _b64_sha256(read_bytes(a["file"]))) for a in registration.attachments]
    assert [a.get(f"{{{PROT}}}nomeFile") for a in allegati] == [
        "Allegato «A» & <B>.pdf",
        "relazione.txt",
    ]
    assert not _root(alone.segnatura).findall(".//prot:Allegato", NS)
