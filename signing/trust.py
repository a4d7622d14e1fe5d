"""The trust roots that signatures are validated against (RULES.md S2, S6).

Two sources:

- ``settings.STIPULA_TRUST_ROOTS_DIR``: every ``*.pem``, ``*.crt``, ``*.cer`` and ``*.der`` file in
  it (not in subfolders), PEM (one or several certificates) or DER; other files are ignored, and a
  file with one of those names that is not a certificate is an error naming it.
- when ``settings.STIPULA_EU_TRUSTED_LISTS`` is on, the EU trusted lists (eIDAS, ETSI TS 119 612):
  the list of the lists at ``settings.STIPULA_EU_LOTL_URL`` points at each member state's trusted
  list; from those, the certificates of the services in status "granted" of type CA/QC (issuing
  qualified certificates) whose qualified certificates are for electronic signatures, and of type
  TSA/QTST (qualified timestamps: without them no signature timestamp would be trusted).

The trusted lists are XML documents with an enveloped XML signature (XAdES). pyHanko has its own
trusted-list support (``pyhanko.sign.validation.qualified``), but it needs the ``etsi`` extra
(xsdata, signxml), which is not installed here; so they are parsed with lxml and their signatures
checked here: the list of the lists against the signer certificates that pyHanko ships
(``lotl-certs/latest.cert.pem``, or a PEM file named by the optional setting
``STIPULA_EU_LOTL_SIGNER_CERTS``), each national list against the certificates the list of the
lists gives for it. A national list that cannot be fetched or verified is left out (logged);
a list of the lists that cannot be is an error. What was built is cached in memory for
``STIPULA_EU_TL_CACHE_SECONDS`` (default 6 hours), and a stale copy is used when a refresh fails.

What the tests exercise (tests/signing/test_trust.py, no internet here): a list of the lists and
a national list built in the test, signed there with the same XML-signature profile as the EU
lists (enveloped, exclusive C14N, a XAdES SignedProperties reference, RSA and ECDSA with SHA-256),
served from a loopback HTTP server. Not exercised: the real EU lists and their signatures (other
algorithms, C14N 1.1, which is not supported and makes a list be left out), pivot lists of the
lists (the bundled signer certificates must be current), and the service history: only each
service's current status counts.
"""

from __future__ import annotations

import base64
import copy
import logging
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from asn1crypto import pem, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509 import load_der_x509_certificate
from django.conf import settings
from django.utils.translation import gettext as _
from lxml import etree

from .errors import SigningError

log = logging.getLogger(__name__)

CERTIFICATE_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})

# ETSI TS 119 612 and XML signature names.
TSL = "http://uri.etsi.org/02231/v2#"
TSLX = "http://uri.etsi.org/02231/v2/additionaltypes#"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"tsl": TSL, "tslx": TSLX, "ds": DS}
TSL_MIME_TYPE = "application/vnd.etsi.tsl+xml"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
LOTL_RULES = "http://uri.etsi.org/TrstSvc/TrustedList/schemerules/EUlistofthelists"
_SVC_INFO_EXT = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
FOR_E_SIGNATURES = _SVC_INFO_EXT + "ForeSignatures"
_QC_TYPES = {_SVC_INFO_EXT + t for t in ("ForeSignatures", "ForeSeals", "ForWebSiteAuthentication")}

_MAX_LIST_BYTES = 50 * 1024 * 1024
_FETCH_TIMEOUT = 30


# The trust roots folder ---------------------------------------------------------------------


def trust_roots() -> list[bytes]:
    """Every configured trust root, DER-encoded, without duplicates.

    Raises ``SigningError`` (reasons TRUST_ROOT_INVALID, TRUST_ROOTS_MISSING, NO_TRUST_ROOTS,
    EU_TRUSTED_LISTS_UNAVAILABLE) with a message an administrator can act on.
    """
    directory = Path(settings.STIPULA_TRUST_ROOTS_DIR)
    eu = bool(getattr(settings, "STIPULA_EU_TRUSTED_LISTS", False))
    roots = []
    if directory.is_dir():
        roots.extend(folder_roots(directory))
    elif not eu:
        raise SigningError(
            _(
                "The trust roots folder %(folder)s does not exist. Create it and put the "
                "certificates of the trusted certification authorities in it (PEM or DER), or "
                "set STIPULA_TRUST_ROOTS_DIR."
            )
            % {"folder": directory},
            reason="TRUST_ROOTS_MISSING",
        )
    if eu:
        roots.extend(eu_trusted_list_roots(settings.STIPULA_EU_LOTL_URL))
    unique = list(dict.fromkeys(roots))
    if not unique:
        raise SigningError(
            _(
                "No trust roots are configured: the folder %(folder)s holds no certificate. Put "
                "the certificates of the trusted certification authorities in it, or turn on "
                "the EU trusted lists (STIPULA_EU_TRUSTED_LISTS)."
            )
            % {"folder": directory},
            reason="NO_TRUST_ROOTS",
        )
    return unique


def trust_roots_summary() -> list[str]:
    """The subjects of the trust roots, for reports (in the order of ``trust_roots()``)."""
    return [x509.Certificate.load(der).subject.human_friendly for der in trust_roots()]


def folder_roots(directory: Path | str) -> list[bytes]:
    """The certificates in the ``*.pem``, ``*.crt``, ``*.cer`` and ``*.der`` files of
    ``directory``, in file name order; other files are ignored."""
    roots = []
    for path in sorted(Path(directory).iterdir()):
        if path.is_file() and path.suffix.lower() in CERTIFICATE_SUFFIXES:
            roots.extend(certificates_in_file(path))
    return roots


def certificates_in_file(path: Path) -> list[bytes]:
    """The certificates in one PEM (one or several) or DER file, DER-encoded."""
    data = path.read_bytes()
    try:
        if pem.detect(data):
            ders = [
                der
                for kind, _headers, der in pem.unarmor(data, multiple=True)
                if kind in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")
            ]
            if not ders:
                raise ValueError("it holds no CERTIFICATE block")
        else:
            ders = [data]
        for der in ders:
            _check_certificate(der)
    except (ValueError, TypeError, KeyError) as e:
        raise SigningError(
            _(
                "The file %(file)s in the trust roots folder is not a certificate (PEM or DER): "
                "%(error)s. Replace it with the certification authority's certificate, or "
                "remove it."
            )
            % {"file": path, "error": e},
            reason="TRUST_ROOT_INVALID",
            file=str(path),
        ) from e
    return ders


def _check_certificate(der: bytes) -> x509.Certificate:
    cert = x509.Certificate.load(der, strict=True)
    # asn1crypto parses lazily: touch what validation needs, so garbage fails here.
    cert.subject.human_friendly  # noqa: B018
    cert.public_key.algorithm  # noqa: B018
    return cert


# The EU trusted lists -----------------------------------------------------------------------


@dataclass
class _Cached:
    expires: float
    roots: list[bytes]


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def eu_trusted_list_roots(
    lotl_url: str,
    *,
    lotl_signers: list[x509.Certificate] | None = None,
    ttl: float | None = None,
) -> list[bytes]:
    """The certificates of the granted qualified-signature CAs and qualified TSAs in the EU
    trusted lists (see the module docstring), DER-encoded.

    Fetched from ``lotl_url`` (http, https or file) and cached in memory for ``ttl`` seconds
    (default ``STIPULA_EU_TL_CACHE_SECONDS``, 6 hours). ``lotl_signers`` are the certificates
    that may sign the list of the lists (default: see the module docstring).
    """
    if ttl is None:
        ttl = float(getattr(settings, "STIPULA_EU_TL_CACHE_SECONDS", 6 * 3600))
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(lotl_url)
        if cached is not None and cached.expires > now:
            return list(cached.roots)
        try:
            roots = _load_eu_lists(lotl_url, lotl_signers or _default_lotl_signers())
        except SigningError:
            if cached is None:
                raise
            log.warning("EU trusted lists: refresh failed, keeping the copy fetched before")
            return list(cached.roots)
        _cache[lotl_url] = _Cached(expires=now + ttl, roots=roots)
        return list(roots)


def _default_lotl_signers() -> list[x509.Certificate]:
    configured = getattr(settings, "STIPULA_EU_LOTL_SIGNER_CERTS", "")
    if configured:
        return [x509.Certificate.load(der) for der in certificates_in_file(Path(configured))]
    data = (
        resources.files("pyhanko.sign.validation.qualified")
        .joinpath("lotl-certs", "latest.cert.pem")
        .read_bytes()
    )
    return [x509.Certificate.load(der) for _kind, _h, der in pem.unarmor(data, multiple=True)]


def _load_eu_lists(lotl_url: str, lotl_signers: list[x509.Certificate]) -> list[bytes]:
    try:
        lotl = _parse(_fetch(lotl_url))
        _verify_signature(lotl, lotl_signers)
        pointers = _national_list_pointers(lotl)
    except (OSError, ValueError, etree.XMLSyntaxError) as e:
        raise SigningError(
            _(
                "The EU list of trusted lists could not be used (%(url)s: %(error)s). Validation "
                "cannot trust qualified certificates from it; try again later, or turn "
                "STIPULA_EU_TRUSTED_LISTS off and put the CA certificates in the trust roots "
                "folder."
            )
            % {"url": lotl_url, "error": e},
            reason="EU_TRUSTED_LISTS_UNAVAILABLE",
        ) from e
    roots = []
    for pointer in pointers:
        try:
            national = _parse(_fetch(urllib.parse.urljoin(lotl_url, pointer.location)))
            _verify_signature(national, pointer.signers)
            services = _qualified_services(national)
        except (OSError, ValueError, etree.XMLSyntaxError) as e:
            log.warning(
                "EU trusted lists: the list of %s (%s) is left out: %s",
                pointer.territory,
                pointer.location,
                e,
            )
            continue
        roots.extend(services)
    return list(dict.fromkeys(roots))


@dataclass
class _Pointer:
    territory: str
    location: str
    signers: list[x509.Certificate]


def _national_list_pointers(lotl: etree._Element) -> list[_Pointer]:
    pointers = []
    for pointer in lotl.iterfind(
        "tsl:SchemeInformation/tsl:PointersToOtherTSL/tsl:OtherTSLPointer", NS
    ):
        info = pointer.find("tsl:AdditionalInformation", NS)
        if info is None:
            continue
        mime = info.findtext(".//tslx:MimeType", default="", namespaces=NS).strip()
        rules = {
            uri.text.strip()
            for uri in info.iterfind(".//tsl:SchemeTypeCommunityRules/tsl:URI", NS)
            if uri.text
        }
        location = (pointer.findtext("tsl:TSLLocation", default="", namespaces=NS)).strip()
        if mime != TSL_MIME_TYPE or LOTL_RULES in rules or not location:
            continue  # the PDF copies, and the list of the lists' own pointer
        signers = [
            x509.Certificate.load(base64.b64decode(node.text))
            for node in pointer.iterfind(".//tsl:DigitalId/tsl:X509Certificate", NS)
            if node.text
        ]
        territory = info.findtext(".//tsl:SchemeTerritory", default="?", namespaces=NS).strip()
        pointers.append(_Pointer(territory=territory, location=location, signers=signers))
    return pointers


def _qualified_services(trusted_list: etree._Element) -> list[bytes]:
    """Certificates of the services in status granted: CA/QC ones that issue qualified
    certificates for electronic signatures (or do not narrow down the kind of certificate), and
    TSA/QTST ones."""
    roots = []
    for info in trusted_list.iterfind(
        "tsl:TrustServiceProviderList/tsl:TrustServiceProvider/tsl:TSPServices/tsl:TSPService/"
        "tsl:ServiceInformation",
        NS,
    ):
        service_type = info.findtext("tsl:ServiceTypeIdentifier", "", NS).strip()
        if service_type not in (CA_QC, QTST):
            continue
        if info.findtext("tsl:ServiceStatus", "", NS).strip() != GRANTED:
            continue
        kinds = {
            uri.text.strip()
            for uri in info.iterfind(
                "tsl:ServiceInformationExtensions/tsl:Extension/"
                "tsl:AdditionalServiceInformation/tsl:URI",
                NS,
            )
            if uri.text
        } & _QC_TYPES
        if kinds and FOR_E_SIGNATURES not in kinds:
            continue
        for node in info.iterfind(
            "tsl:ServiceDigitalIdentity/tsl:DigitalId/tsl:X509Certificate", NS
        ):
            if node.text:
                der = base64.b64decode("".join(node.text.split()))
                _check_certificate(der)
                roots.append(der)
    return roots


def _fetch(url: str) -> bytes:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"unsupported address {url!r}")
    request = urllib.request.Request(url, headers={"Accept": f"{TSL_MIME_TYPE}, text/xml"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT) as response:  # noqa: S310
        data = response.read(_MAX_LIST_BYTES + 1)
    if len(data) > _MAX_LIST_BYTES:
        raise ValueError("the list is too large")
    return data


def _parse(data: bytes) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    root = etree.fromstring(data, parser)  # noqa: S320 - entities and network are off
    if root.tag != f"{{{TSL}}}TrustServiceStatusList":
        raise ValueError("not an ETSI TS 119 612 trusted list")
    return root


# Enveloped XML signature of a trusted list (XMLDSig, as profiled by ETSI TS 119 612) --------

_C14N = {
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
}
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
}
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_MORE_2007 = "http://www.w3.org/2007/05/xmldsig-more#"
_SIGNATURES = {
    _MORE + "rsa-sha256": ("rsa", hashes.SHA256),
    _MORE + "rsa-sha384": ("rsa", hashes.SHA384),
    _MORE + "rsa-sha512": ("rsa", hashes.SHA512),
    _MORE + "ecdsa-sha256": ("ecdsa", hashes.SHA256),
    _MORE + "ecdsa-sha384": ("ecdsa", hashes.SHA384),
    _MORE + "ecdsa-sha512": ("ecdsa", hashes.SHA512),
    _MORE_2007 + "sha256-rsa-MGF1": ("rsa-pss", hashes.SHA256),
    _MORE_2007 + "sha384-rsa-MGF1": ("rsa-pss", hashes.SHA384),
    _MORE_2007 + "sha512-rsa-MGF1": ("rsa-pss", hashes.SHA512),
}


def _verify_signature(root: etree._Element, signers: list[x509.Certificate]) -> None:
    """Raise ``ValueError`` unless ``root`` carries an enveloped signature over the whole list
    that one of ``signers`` made (digests of every reference, then the signature value)."""
    signatures = root.findall("ds:Signature", NS)
    if len(signatures) != 1:
        raise ValueError("the list must carry exactly one enveloped signature")
    [signature] = signatures
    signed_info = signature.find("ds:SignedInfo", NS)
    if signed_info is None:
        raise ValueError("the signature has no SignedInfo")
    covers_list = False
    for reference in signed_info.iterfind("ds:Reference", NS):
        uri = reference.get("URI")
        transforms = reference.findall("ds:Transforms/ds:Transform", NS)
        algorithms = [t.get("Algorithm") for t in transforms]
        if uri == "" or (uri and uri[1:] == _id_of(root)):
            covers_list = covers_list or _ENVELOPED in algorithms
            target = root
        elif uri and uri.startswith("#"):
            target = _element_by_id(root, uri[1:])
        else:
            raise ValueError(f"unsupported reference {uri!r}")
        digest_method = reference.find("ds:DigestMethod", NS).get("Algorithm")
        if digest_method not in _DIGESTS:
            raise ValueError(f"unsupported digest {digest_method}")
        digest = hashes.Hash(_DIGESTS[digest_method]())
        digest.update(_transform(target, signature, transforms))
        expected = base64.b64decode(reference.findtext("ds:DigestValue", "", NS))
        if digest.finalize() != expected:
            raise ValueError(f"the digest of reference {uri!r} does not match: content changed")
    if not covers_list:
        raise ValueError("the signature does not cover the whole list")
    c14n = signed_info.find("ds:CanonicalizationMethod", NS)
    signed_octets = _canonical(signed_info, c14n)
    method = signed_info.find("ds:SignatureMethod", NS).get("Algorithm")
    if method not in _SIGNATURES:
        raise ValueError(f"unsupported signature algorithm {method}")
    value = base64.b64decode(signature.findtext("ds:SignatureValue", "", NS))
    for cert in signers:
        if _signature_verifies(cert, method, value, signed_octets):
            return
    raise ValueError("the signature was not made by the expected list operator")


def _id_of(element: etree._Element) -> str | None:
    return element.get("Id") or element.get("ID") or element.get("id")


def _element_by_id(root: etree._Element, value: str) -> etree._Element:
    found = [e for e in root.iter() if isinstance(e.tag, str) and _id_of(e) == value]
    if len(found) != 1:
        raise ValueError(f"reference #{value} matches {len(found)} elements")
    return found[0]


def _transform(target, signature, transforms) -> bytes:
    node = target
    c14n = None
    for transform in transforms:
        algorithm = transform.get("Algorithm")
        if algorithm == _ENVELOPED:
            node = _without(target, signature)
        elif algorithm in _C14N:
            c14n = transform
        else:
            raise ValueError(f"unsupported transform {algorithm}")
    # Without an explicit canonicalization, a node-set is serialised with inclusive C14N 1.0.
    return _canonical(node, c14n)


def _without(target: etree._Element, signature: etree._Element) -> etree._Element:
    """A copy of ``target`` without ``signature`` (the enveloped-signature transform)."""
    path = []
    node = signature
    while node is not target:
        parent = node.getparent()
        if parent is None:
            raise ValueError("the signature is not inside the referenced element")
        path.append(parent.index(node))
        node = parent
    clone = copy.deepcopy(target)
    node = clone
    for index in reversed(path):
        node = node[index]
    node.getparent().remove(node)
    return clone


def _canonical(node: etree._Element, c14n) -> bytes:
    algorithm = c14n.get("Algorithm") if c14n is not None else None
    if algorithm is None:
        exclusive, comments = False, False
    elif algorithm in _C14N:
        exclusive, comments = _C14N[algorithm]
    else:
        raise ValueError(f"unsupported canonicalization {algorithm}")
    prefixes = None
    if exclusive and c14n is not None:
        inclusive = c14n.find("{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces")
        if inclusive is not None:
            prefixes = (inclusive.get("PrefixList") or "").split() or None
    return etree.tostring(
        node,
        method="c14n",
        exclusive=exclusive,
        with_comments=comments,
        inclusive_ns_prefixes=prefixes,
    )


def _signature_verifies(cert: x509.Certificate, method: str, value: bytes, data: bytes) -> bool:
    kind, hash_class = _SIGNATURES[method]
    key = load_der_x509_certificate(cert.dump()).public_key()
    try:
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), hash_class())
        elif kind == "rsa-pss" and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hash_class()), salt_length=hash_class.digest_size)
            key.verify(value, data, pss, hash_class())
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            # XML signatures carry ECDSA as r || s, each of the curve's size.
            half = len(value) // 2
            der = encode_dss_signature(
                int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big")
            )
            key.verify(der, data, ec.ECDSA(hash_class()))
        else:
            return False
    except InvalidSignature:
        return False
    return True
