"""The segnatura di protocollo of a registration (RULES.md P8): an XML document valid against
AgID's ``segnatura_protocollo.xsd`` v3.0 (a copy is in ``registry/xsd/``), with the impronta of
the signed PDF and of each attachment (SHA-256, base64), sealed by the system. It is associated
with the signed PDF, never stamped into it: stamping would change the bytes the signatures cover.

What goes where (the schema's names; the content is in Italian, as the schema's ``lang="it"``
fixes, whatever the interface language):

- ``Intestazione/Identificatore``: the IPA code of the administration and of its AOO that keep
  the register, the register's code, the number (7 digits), the date and the time (Europe/Rome).
- ``Oggetto``: the subject; ``Classifica``: the registration's classification, written as
  ``CODE - Description`` (or just a code), or, when it is empty, the register's default: the
  setting ``STIPULA_DEFAULT_CLASSIFICATION`` maps register codes (or ``"*"``) to such a text, and
  without it ``NC - Non classificato``. The segnatura keeps the classification given at
  registration; later reclassifications are in the registration's history, not here.
- ``Descrizione``: the correspondents are the parties. ``Mittente`` is the administration that
  keeps the register (it registers the agreement), named after the party with its IPA code when
  there is one; every other party is a ``Destinatario``, in order (a public body with an IPA code
  as ``Amministrazione``, anyone else as ``PersonaGiuridica``). Then ``DocumentoPrimario`` (the
  signed PDF: digitally signed, sealed and timestamped inside the file as its signing record
  says) and one ``Allegato`` per attachment.
- ``ds:Signature``: an enveloped XML signature by the system seal (registry.seal), XAdES baseline
  B as the schema's documentation asks (ETSI EN 319 132-1): exclusive C14N, SHA-256, one
  reference to the whole document (enveloped-signature transform) and one to the XAdES
  ``SignedProperties`` (``SigningTime``, ``SigningCertificateV2``, ``DataObjectFormat``), the seal's
  certificate chain in ``KeyInfo``.

``verify_segnatura`` checks a segnatura: the schema, both reference digests, the signing
certificate property and the signature value with the embedded certificate; with a registration
it also checks that the segnatura describes that registration.
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings
from django.utils.translation import gettext as _
from lxml import etree

from registry.models import NUMBER_DIGITS

PROT = "http://www.agid.gov.it/protocollo/"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS = {"prot": PROT, "ds": DS, "xades": XADES}
SCHEMA_PATH = Path(__file__).resolve().parent / "xsd" / "segnatura_protocollo.xsd"

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

ROME = ZoneInfo("Europe/Rome")
DEFAULT_CLASSIFICATION = "NC - Non classificato"
PDF = "application/pdf"
_TIMESTAMPED_LEVELS = {"B-T", "B-LT", "B-LTA"}
# Characters XML 1.0 cannot carry: replaced, so that no subject or name can make a
# registration fail.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PARTITA_IVA = re.compile(r"^[0-9]{11}$")


def _text(value) -> str:
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n")
    return _NOT_XML.sub("\ufffd", text)


def _sub(parent, tag: str, text=None, attrib: dict | None = None, nsmap=None):
    prefix, name = tag.split(":")
    element = etree.SubElement(
        parent,
        f"{{{NS[prefix]}}}{name}",
        {
            (f"{{{NS[k.split(':')[0]]}}}{k.split(':')[1]}" if ":" in k else k): _text(v)
            for k, v in (attrib or {}).items()
        },
        nsmap=nsmap,
    )
    if text is not None:
        element.text = _text(text)
    return element


# Building ------------------------------------------------------------------------------------


def build_segnatura(registration) -> str:
    """The sealed segnatura XML of ``registration`` (its fields set, not necessarily saved)."""
    from registry.seal import system_seal

    root = etree.Element(
        f"{{{PROT}}}SegnaturaInformatica",
        {f"{{{PROT}}}versione": "3.0.0", f"{{{PROT}}}lang": "it"},
        nsmap={"prot": PROT, "ds": DS},
    )
    _intestazione(root, registration)
    _descrizione(root, registration)
    seal = system_seal()
    signature = _signature_skeleton(root, registration, seal)
    etree.indent(root, space="  ")
    _seal(root, signature, seal)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True).decode("utf-8")


def _intestazione(root, registration) -> None:
    register = registration.register
    local = registration.registered_at.astimezone(ROME)
    intestazione = _sub(root, "prot:Intestazione")
    identificatore = _sub(intestazione, "prot:Identificatore")
    _sub(identificatore, "prot:CodiceAmministrazione", register.administration_code)
    _sub(identificatore, "prot:CodiceAOO", register.aoo_code)
    _sub(identificatore, "prot:CodiceRegistro", register.code)
    _sub(identificatore, "prot:NumeroRegistrazione", f"{registration.number:0{NUMBER_DIGITS}d}")
    _sub(identificatore, "prot:DataRegistrazione", registration.registration_date.isoformat())
    _sub(identificatore, "prot:OraRegistrazione", local.isoformat(timespec="seconds")[11:])
    _sub(intestazione, "prot:Oggetto", registration.subject)
    code, description = classification_of(registration)
    classifica = _sub(intestazione, "prot:Classifica")
    _sub(classifica, "prot:Denominazione", description)
    _sub(classifica, "prot:CodiceFlat", code)


def classification_of(registration) -> tuple[str, str]:
    """(code, description) of the classification written in the segnatura."""
    text = (registration.classification or "").strip()
    if not text:
        defaults = getattr(settings, "STIPULA_DEFAULT_CLASSIFICATION", {}) or {}
        text = (
            defaults.get(registration.register.code) or defaults.get("*") or DEFAULT_CLASSIFICATION
        ).strip()
    code, separator, description = text.partition(" - ")
    return code.strip(), (description.strip() if separator else code.strip())


def _is_registering_administration(party: dict, register) -> bool:
    ipa = (party.get("ipa_code") or "").strip().lower()
    return bool(ipa) and ipa == register.administration_code.strip().lower()


def _descrizione(root, registration) -> None:
    register = registration.register
    parties = list(registration.parties or [])
    own = next((p for p in parties if _is_registering_administration(p, register)), None)
    descrizione = _sub(root, "prot:Descrizione")
    mittente = _sub(descrizione, "prot:Mittente")
    amministrazione = _sub(mittente, "prot:Amministrazione")
    _sub(
        amministrazione,
        "prot:DenominazioneAmministrazione",
        own["name"] if own else register.administration_code,
    )
    if own and _PARTITA_IVA.match(own.get("fiscal_code") or ""):
        _sub(amministrazione, "prot:CFAmministrazione", own["fiscal_code"])
    _sub(amministrazione, "prot:CodiceIPAAmministrazione", register.administration_code)
    _sub(amministrazione, "prot:CodiceIPAAOO", register.aoo_code)
    others = [p for p in parties if p is not own] or parties
    if not others:
        # An agreement always has parties; the schema wants at least one Destinatario.
        others = [
            {
                "name": register.administration_code,
                "kind": "public_body",
                "ipa_code": register.administration_code,
            }
        ]
    for party in others:
        _party(_sub(descrizione, "prot:Destinatario"), party)
    primario = _sub(
        descrizione,
        "prot:DocumentoPrimario",
        attrib={"prot:nomeFile": registration.document_name, "prot:mimeType": PDF},
    )
    _sub(primario, "prot:Descrizione", "Documento sottoscritto con firma digitale (PAdES)")
    _impronta(primario, registration.document_sha256)
    certified, level = _signing_record(registration)
    _sub(_sub(primario, "prot:firmatoDigitalmente"), "prot:UnDetached", "true")
    if certified:
        _sub(_sub(primario, "prot:sigillatoElettronicamente"), "prot:UnDetached", "true")
    if level in _TIMESTAMPED_LEVELS:
        _sub(_sub(primario, "prot:marcaturaTemporale"), "prot:UnDetached", "true")
    for attachment in registration.attachments or []:
        allegato = _sub(
            descrizione,
            "prot:Allegato",
            attrib={
                "prot:nomeFile": attachment["name"],
                "prot:mimeType": attachment.get("mime_type") or "application/octet-stream",
            },
        )
        _impronta(allegato, attachment["sha256"])


def _party(destinatario, party: dict) -> None:
    name = party.get("name") or ""
    fiscal_code = (party.get("fiscal_code") or "").strip()
    vat_number = (party.get("vat_number") or "").strip()
    ipa = (party.get("ipa_code") or "").strip()
    if party.get("kind") == "public_body" and ipa:
        amministrazione = _sub(destinatario, "prot:Amministrazione")
        _sub(amministrazione, "prot:DenominazioneAmministrazione", name)
        if _PARTITA_IVA.match(fiscal_code):
            _sub(amministrazione, "prot:CFAmministrazione", fiscal_code)
        _sub(amministrazione, "prot:CodiceIPAAmministrazione", ipa)
        return
    persona = _sub(destinatario, "prot:PersonaGiuridica")
    _sub(persona, "prot:Denominazione", name)
    number = next((n for n in (vat_number, fiscal_code) if _PARTITA_IVA.match(n)), None)
    if number:
        _sub(persona, "prot:PIVAoCF", number)


def _impronta(parent, sha256_hex: str) -> None:
    value = base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")
    _sub(parent, "prot:Impronta", value, {"prot:algoritmo": "SHA-256"})


def _signing_record(registration) -> tuple[bool, str]:
    """Whether the registered PDF carries the seal's certification, and its archival level."""
    from signing.models import SigningDocument

    record = (
        SigningDocument.objects.filter(
            agreement_id=registration.agreement_id,
            current_sha256=registration.document_sha256,
        )
        .values_list("certified", "level")
        .first()
    )
    return record if record is not None else (False, "")


# Sealing (XAdES baseline B) ------------------------------------------------------------------


def _ids(registration) -> dict[str, str]:
    base = (
        f"Segnatura-{registration.register.code}-{registration.year}-"
        f"{registration.number:0{NUMBER_DIGITS}d}"
    )
    return {
        "signature": base,
        "document": f"{base}-Documento",
        "properties": f"{base}-SignedProperties",
        "value": f"{base}-SignatureValue",
    }


def _signature_skeleton(root, registration, seal):
    ids = _ids(registration)
    signature = _sub(root, "ds:Signature", attrib={"Id": ids["signature"]})
    signed_info = _sub(signature, "ds:SignedInfo")
    _sub(signed_info, "ds:CanonicalizationMethod", attrib={"Algorithm": EXC_C14N})
    _sub(
        signed_info,
        "ds:SignatureMethod",
        attrib={"Algorithm": RSA_SHA256 if seal.algorithm == "rsa" else ECDSA_SHA256},
    )
    document = _sub(signed_info, "ds:Reference", attrib={"Id": ids["document"], "URI": ""})
    transforms = _sub(document, "ds:Transforms")
    _sub(transforms, "ds:Transform", attrib={"Algorithm": ENVELOPED})
    _sub(transforms, "ds:Transform", attrib={"Algorithm": EXC_C14N})
    _sub(document, "ds:DigestMethod", attrib={"Algorithm": SHA256})
    _sub(document, "ds:DigestValue")
    properties = _sub(
        signed_info,
        "ds:Reference",
        attrib={"Type": SIGNED_PROPERTIES_TYPE, "URI": f"#{ids['properties']}"},
    )
    _sub(_sub(properties, "ds:Transforms"), "ds:Transform", attrib={"Algorithm": EXC_C14N})
    _sub(properties, "ds:DigestMethod", attrib={"Algorithm": SHA256})
    _sub(properties, "ds:DigestValue")
    _sub(signature, "ds:SignatureValue", attrib={"Id": ids["value"]})
    x509_data = _sub(_sub(signature, "ds:KeyInfo"), "ds:X509Data")
    for cert in seal.chain:
        der = cert.public_bytes(serialization.Encoding.DER)
        _sub(x509_data, "ds:X509Certificate", base64.b64encode(der).decode("ascii"))
    qualifying = _sub(
        _sub(signature, "ds:Object"),
        "xades:QualifyingProperties",
        attrib={"Target": f"#{ids['signature']}"},
        nsmap={"xades": XADES},
    )
    signed_properties = _sub(qualifying, "xades:SignedProperties", attrib={"Id": ids["properties"]})
    signature_properties = _sub(signed_properties, "xades:SignedSignatureProperties")
    signing_time = registration.registered_at.astimezone(datetime.UTC)
    _sub(signature_properties, "xades:SigningTime", signing_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
    cert_element = _sub(_sub(signature_properties, "xades:SigningCertificateV2"), "xades:Cert")
    digest = _sub(cert_element, "xades:CertDigest")
    _sub(digest, "ds:DigestMethod", attrib={"Algorithm": SHA256})
    own_der = seal.certificate.public_bytes(serialization.Encoding.DER)
    _sub(digest, "ds:DigestValue", _b64(hashlib.sha256(own_der).digest()))
    _sub(cert_element, "xades:IssuerSerialV2", _b64(_issuer_serial(own_der)))
    data_object = _sub(
        _sub(signed_properties, "xades:SignedDataObjectProperties"),
        "xades:DataObjectFormat",
        attrib={"ObjectReference": f"#{ids['document']}"},
    )
    _sub(data_object, "xades:MimeType", "text/xml")
    return signature


def _seal(root, signature, seal) -> None:
    signed_info = signature.find("ds:SignedInfo", NS)
    document, properties = signed_info.findall("ds:Reference", NS)
    signed_properties = signature.find(
        "ds:Object/xades:QualifyingProperties/xades:SignedProperties", NS
    )
    properties.find("ds:DigestValue", NS).text = _b64(_sha256(_exc_c14n(signed_properties)))
    document.find("ds:DigestValue", NS).text = _b64(_sha256(_exc_c14n(_without(root, signature))))
    value = seal.sign(_exc_c14n(signed_info), raw_ecdsa=True)
    signature.find("ds:SignatureValue", NS).text = _b64(value)


def _issuer_serial(cert_der: bytes) -> bytes:
    """DER of the IssuerSerial (RFC 5035) of a certificate, for ``IssuerSerialV2``."""
    cert = asn1_x509.Certificate.load(cert_der)
    return tsp.IssuerSerial(
        {
            "issuer": [asn1_x509.GeneralName(name="directory_name", value=cert.issuer)],
            "serial_number": cert.serial_number,
        }
    ).dump()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _exc_c14n(node) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def _without(root, signature):
    """A copy of ``root`` without ``signature`` (the enveloped-signature transform)."""
    clone = copy.deepcopy(root)
    clone.remove(clone[root.index(signature)])
    return clone


# Verifying -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), parser))  # noqa: S320 - our own file


@dataclass
class SegnaturaVerification:
    """What ``verify_segnatura`` found: ``valid`` when there is no problem."""

    problems: list[str] = field(default_factory=list)
    schema_errors: list[str] = field(default_factory=list)
    digests_match: bool = False
    signature_valid: bool = False
    signer: str = ""
    certificate_sha256: str = ""
    signing_time: datetime.datetime | None = None
    register_code: str = ""
    number: str = ""
    date: str = ""
    subject: str = ""
    document_impronta: str = ""
    attachment_impronte: list[tuple[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def schema_valid(self) -> bool:
        return not self.schema_errors


def _parse(xml: str | bytes):
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    return etree.fromstring(data, parser)  # noqa: S320 - no entities, no network, no DTD


def verify_segnatura(xml: str | bytes, *, registration=None) -> SegnaturaVerification:
    """Check a segnatura: the AgID schema, the digest of both signature references, that the
    signing certificate property names the embedded certificate, and the signature value. With
    ``registration``, also that the segnatura identifies it and carries its impronte."""
    result = SegnaturaVerification()
    try:
        root = _parse(xml)
    except etree.XMLSyntaxError as error:
        result.problems.append(
            _("The segnatura is not well-formed XML: %(error)s") % {"error": error}
        )
        return result
    if not schema().validate(root):
        result.schema_errors = [f"line {e.line}: {e.message}" for e in schema().error_log][:20]
        result.problems.append(
            _("The segnatura is not valid against the AgID schema: %(error)s")
            % {"error": result.schema_errors[0]}
        )
    _read_content(root, result)
    try:
        _check_signature(root, result)
    except ValueError as error:
        result.problems.append(str(error))
    if registration is not None:
        _check_registration(result, registration)
    return result


def _read_content(root, result: SegnaturaVerification) -> None:
    identificatore = root.find("prot:Intestazione/prot:Identificatore", NS)
    if identificatore is not None:
        result.register_code = identificatore.findtext("prot:CodiceRegistro", "", NS)
        result.number = identificatore.findtext("prot:NumeroRegistrazione", "", NS)
        result.date = identificatore.findtext("prot:DataRegistrazione", "", NS)
    result.subject = root.findtext("prot:Intestazione/prot:Oggetto", "", NS)
    result.document_impronta = root.findtext(
        "prot:Descrizione/prot:DocumentoPrimario/prot:Impronta", "", NS
    )
    result.attachment_impronte = [
        (a.get(f"{{{PROT}}}nomeFile", ""), a.findtext("prot:Impronta", "", NS))
        for a in root.iterfind("prot:Descrizione/prot:Allegato", NS)
    ]


def _check_signature(root, result: SegnaturaVerification) -> None:
    """Raise ValueError with what is wrong, else fill in the signer and mark the result."""
    signatures = root.findall("ds:Signature", NS)
    if len(signatures) != 1 or root.findall(".//ds:Signature", NS) != signatures:
        raise ValueError(_("The segnatura must carry exactly one enveloped signature."))
    [signature] = signatures
    signed_info = signature.find("ds:SignedInfo", NS)
    if signed_info is None:
        raise ValueError(_("The signature of the segnatura has no SignedInfo."))
    c14n = signed_info.find("ds:CanonicalizationMethod", NS)
    c14n_algorithm = c14n.get("Algorithm") if c14n is not None else None
    if c14n_algorithm not in (EXC_C14N, C14N):
        raise ValueError(_("The signature uses an unsupported canonicalization."))
    method_element = signed_info.find("ds:SignatureMethod", NS)
    method = method_element.get("Algorithm") if method_element is not None else None
    if method not in (RSA_SHA256, ECDSA_SHA256):
        raise ValueError(_("The signature uses an unsupported algorithm: %(a)s") % {"a": method})
    references = signed_info.findall("ds:Reference", NS)
    whole = [r for r in references if r.get("URI") == ""]
    props = [r for r in references if r.get("Type") == SIGNED_PROPERTIES_TYPE]
    if len(references) != 2 or len(whole) != 1 or len(props) != 1:
        raise ValueError(
            _("The signature must reference the whole segnatura and its signed properties.")
        )
    qualifying = signature.find("ds:Object/xades:QualifyingProperties", NS)
    signed_properties = (
        qualifying.find("xades:SignedProperties", NS) if qualifying is not None else None
    )
    if signed_properties is None or props[0].get("URI") != f"#{signed_properties.get('Id')}":
        raise ValueError(_("The signature's signed properties (XAdES) are missing."))
    if qualifying.get("Target") != f"#{signature.get('Id')}":
        raise ValueError(_("The signed properties (XAdES) belong to another signature."))
    ids = [
        e
        for e in root.iter()
        if isinstance(e.tag, str) and e.get("Id") == signed_properties.get("Id")
    ]
    if len(ids) != 1:
        raise ValueError(_("The signed properties' identifier is not unique."))
    document_ok = _reference_matches(
        whole[0], _without(root, signature), allowed=[ENVELOPED, EXC_C14N, C14N]
    )
    properties_ok = _reference_matches(props[0], signed_properties, allowed=[EXC_C14N, C14N])
    digests_ok = document_ok and properties_ok
    certificates = [
        base64.b64decode("".join(e.text.split()))
        for e in signature.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
        if e.text
    ]
    if not certificates:
        raise ValueError(_("The signature does not carry its certificate."))
    cert = x509.load_der_x509_certificate(certificates[0])
    result.signer = cert.subject.rfc4514_string()
    result.certificate_sha256 = hashlib.sha256(certificates[0]).hexdigest()
    _check_signing_certificate(signed_properties, certificates[0])
    signing_time = signed_properties.findtext(
        "xades:SignedSignatureProperties/xades:SigningTime", "", NS
    )
    try:
        result.signing_time = datetime.datetime.fromisoformat(signing_time)
    except ValueError:
        raise ValueError(_("The signature has no valid signing time.")) from None
    result.digests_match = digests_ok
    if not digests_ok:
        raise ValueError(
            _("The segnatura was changed after it was sealed: a digest does not match.")
        )
    canonical = etree.tostring(
        signed_info, method="c14n", exclusive=c14n_algorithm == EXC_C14N, with_comments=False
    )
    value = base64.b64decode("".join(signature.findtext("ds:SignatureValue", "", NS).split()))
    if not _signature_verifies(cert, method, value, canonical):
        raise ValueError(_("The seal's signature of the segnatura does not verify."))
    result.signature_valid = True


def _reference_matches(reference, node, *, allowed: list[str]) -> bool:
    transforms = [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", NS)]
    if any(t not in allowed for t in transforms):
        raise ValueError(_("The signature uses an unsupported transform."))
    if allowed[0] == ENVELOPED and ENVELOPED not in transforms:
        raise ValueError(_("The signature does not cover the whole segnatura."))
    digest_method = reference.find("ds:DigestMethod", NS)
    if digest_method is None or digest_method.get("Algorithm") != SHA256:
        raise ValueError(_("The signature's references must use SHA-256."))
    exclusive = EXC_C14N in transforms or C14N not in transforms
    canonical = etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=False)
    expected = base64.b64decode("".join(reference.findtext("ds:DigestValue", "", NS).split()))
    return _sha256(canonical) == expected


def _check_signing_certificate(signed_properties, cert_der: bytes) -> None:
    cert = signed_properties.find(
        "xades:SignedSignatureProperties/xades:SigningCertificateV2/xades:Cert", NS
    )
    if cert is None:
        raise ValueError(_("The signed properties do not name the signing certificate."))
    method = cert.find("xades:CertDigest/ds:DigestMethod", NS)
    digest = cert.findtext("xades:CertDigest/ds:DigestValue", "", NS)
    if method is None or method.get("Algorithm") != SHA256:
        raise ValueError(_("The signing certificate's digest must be SHA-256."))
    if base64.b64decode(digest) != _sha256(cert_der):
        raise ValueError(
            _("The embedded certificate is not the one the segnatura was sealed with.")
        )
    issuer_serial = cert.findtext("xades:IssuerSerialV2", None, NS)
    if issuer_serial is not None and base64.b64decode(issuer_serial) != _issuer_serial(cert_der):
        raise ValueError(_("The signing certificate's issuer and serial number do not match."))


def _signature_verifies(cert: x509.Certificate, method: str, value: bytes, data: bytes) -> bool:
    key = cert.public_key()
    try:
        if method == RSA_SHA256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), hashes.SHA256())
        elif method == ECDSA_SHA256 and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(value) // 2
            der = encode_dss_signature(
                int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big")
            )
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _check_registration(result: SegnaturaVerification, registration) -> None:
    expected = {
        "register": registration.register.code,
        "number": f"{registration.number:0{NUMBER_DIGITS}d}",
        "date": registration.registration_date.isoformat(),
        "document": registration.document_sha256_base64,
        "attachments": [
            (a["name"], base64.b64encode(bytes.fromhex(a["sha256"])).decode("ascii"))
            for a in registration.attachments or []
        ],
    }
    found = {
        "register": result.register_code,
        "number": result.number,
        "date": result.date,
        "document": result.document_impronta,
        "attachments": result.attachment_impronte,
    }
    if expected != found:
        result.problems.append(
            _("The segnatura does not describe %(label)s: its number, date or impronte differ.")
            % {"label": registration.label}
        )
