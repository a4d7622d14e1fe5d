"""RFC 3161 timestamps for audit checkpoints: asking a TSA, and checking a token offline.

Standard library and ``cryptography`` only: the same :func:`verify_token` checks the token when
the checkpoint is made (audit.checkpoints) and in the offline verifier (audit.verify_bundle).

A token is a CMS SignedData (RFC 5652) whose content is a TSTInfo. Checking it means:
the content is a TSTInfo whose message imprint is the hash of the timestamped message; the
signer's ``messageDigest`` attribute is the hash of that TSTInfo and its ``contentType``
attribute says TSTInfo; the TSA's signature over the signed attributes verifies with the
certificate that the signer identifier names (carried in the token, or given); that certificate
is for timestamping (extended key usage timeStamping) and was valid at the time the token states;
and, when the token carries an ESS signing-certificate attribute, it names that certificate.
Whether the TSA's certificate is trusted (its path to a root) is for the caller to decide.
"""

import hashlib
import secrets
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from audit import der

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"

HASH_OIDS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
HASH_OID_OF = {name: dotted for dotted, name in HASH_OIDS.items()}
_CRYPTO_HASHES = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
OID_RSA = "1.2.840.113549.1.1.1"
OID_RSA_PSS = "1.2.840.113549.1.1.10"
OID_MGF1 = "1.2.840.113549.1.1.8"
_RSA_WITH = {
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
_ECDSA_WITH = {
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
OID_ED25519 = "1.3.101.112"

# PKIStatus values (RFC 3161 2.4.2) that come with a token.
_GRANTED = {0: "granted", 1: "granted with modifications"}
_STATUS = {2: "rejection", 3: "waiting", 4: "revocation warning", 5: "revocation notification"}


class TimestampError(ValueError):
    """The timestamp could not be had, or the token does not check out."""


@dataclass
class TimestampInfo:
    """What a checked token says."""

    gen_time: datetime
    hash_name: str
    imprint: bytes
    serial_number: int
    policy: str
    nonce: int | None
    tsa_certificate: x509.Certificate
    # Every certificate the token carries (the TSA's and possibly its chain).
    certificates: list[x509.Certificate] = field(default_factory=list)


def digest(hash_name: str, data: bytes) -> bytes:
    if hash_name not in _CRYPTO_HASHES:
        raise TimestampError(f"unsupported hash algorithm {hash_name}")
    return hashlib.new(hash_name, data).digest()


# Asking a TSA ------------------------------------------------------------------------------


def build_request(message_digest: bytes, *, hash_name: str = "sha256", nonce: int) -> bytes:
    """A DER TimeStampReq for ``message_digest``, asking for the TSA's certificate."""
    algorithm = der.encode_sequence(der.encode_oid(HASH_OID_OF[hash_name]), der.NULL_VALUE)
    return der.encode_sequence(
        der.encode_integer(1),
        der.encode_sequence(algorithm, der.encode_octets(message_digest)),
        der.encode_integer(nonce),
        der.encode_boolean(True),
    )


def parse_response(data: bytes) -> bytes:
    """The token (DER ContentInfo) from a DER TimeStampResp, or TimestampError with the TSA's
    status and text."""
    try:
        response = der.parse(data).expect(der.SEQUENCE, what="TimeStampResp").children()
        status_info = response[0].expect(der.SEQUENCE, what="PKIStatusInfo").children()
        status = der.integer(status_info[0])
        texts = []
        if len(status_info) > 1 and status_info[1].is_(der.SEQUENCE):
            texts = [
                item.content.decode("utf-8", "replace")
                for item in status_info[1].children()
                if item.is_(der.UTF8_STRING)
            ]
    except (der.DerError, IndexError) as e:
        raise TimestampError(f"the TSA's answer is not a timestamp response ({e})") from e
    if status not in _GRANTED:
        detail = "; ".join(texts) or _STATUS.get(status, f"status {status}")
        raise TimestampError(f"the TSA refused the request: {detail}")
    if len(response) < 2:
        raise TimestampError("the TSA granted the request but sent no token")
    return response[1].raw


def request_token(
    url: str, message: bytes, *, hash_name: str = "sha256", timeout: float = 10
) -> tuple[bytes, TimestampInfo]:
    """Timestamp ``message`` at the TSA at ``url``: returns the raw token and what it says,
    checked with :func:`verify_token` and against the nonce sent."""
    nonce = secrets.randbits(63)
    body = build_request(digest(hash_name, message), hash_name=hash_name, nonce=nonce)
    request = urllib.request.Request(  # noqa: S310 - the configured TSA (STIPULA_TSA_URL)
        url,
        data=body,
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            data = answer.read()
    except OSError as e:
        raise TimestampError(f"the TSA at {url} did not answer ({e})") from e
    token = parse_response(data)
    info = verify_token(token, message)
    if info.nonce != nonce:
        raise TimestampError("the TSA's token carries the nonce of another request")
    return token, info


# Checking a token --------------------------------------------------------------------------


def _algorithm(element: der.Element) -> tuple[str, list[der.Element]]:
    parts = element.expect(der.SEQUENCE, what="AlgorithmIdentifier").children()
    return der.oid(parts[0]), parts[1:]


def _attributes(signed_attrs: der.Element) -> dict[str, list[der.Element]]:
    found: dict[str, list[der.Element]] = {}
    for attribute in signed_attrs.children():
        kind, values = attribute.expect(der.SEQUENCE, what="Attribute").children()
        name = der.oid(kind)
        if name in found:
            raise TimestampError(f"the signed attribute {name} appears twice")
        found[name] = values.expect(der.SET, what="attribute values").children()
    return found


def _issuer_and_serial(certificate_der: bytes) -> tuple[bytes, int]:
    tbs = der.parse(certificate_der).children()[0].children()
    if tbs[0].is_(0, der.CONTEXT):  # [0] version
        tbs = tbs[1:]
    return tbs[2].raw, der.integer(tbs[0])


def _pss_padding(parameters: list[der.Element], default_hash: str):
    hash_name, salt = "sha1", 20
    fields = parameters[0].children() if parameters and parameters[0].is_(der.SEQUENCE) else []
    mgf_hash = None
    for item in fields:
        inner = item.children()[0]
        if item.is_(0, der.CONTEXT):
            hash_name = HASH_OIDS.get(_algorithm(inner)[0], "")
        elif item.is_(1, der.CONTEXT):
            kind, params = _algorithm(inner)
            if kind != OID_MGF1 or not params:
                raise TimestampError("unsupported RSASSA-PSS mask generation function")
            mgf_hash = HASH_OIDS.get(_algorithm(params[0])[0], "")
        elif item.is_(2, der.CONTEXT):
            salt = der.integer(inner)
    if hash_name not in _CRYPTO_HASHES:
        raise TimestampError("unsupported RSASSA-PSS hash algorithm")
    mgf_hash = mgf_hash or hash_name
    if mgf_hash not in _CRYPTO_HASHES:
        raise TimestampError("unsupported RSASSA-PSS mask hash algorithm")
    del default_hash
    return (
        padding.PSS(mgf=padding.MGF1(_CRYPTO_HASHES[mgf_hash]()), salt_length=salt),
        hash_name,
    )


def verify_signature(
    public_key, algorithm_oid: str, parameters, digest_name: str, signature: bytes, data: bytes
) -> None:
    """Verify a CMS signer's signature; raises InvalidSignature or TimestampError."""
    if algorithm_oid == OID_RSA or algorithm_oid in _RSA_WITH:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise TimestampError("an RSA signature with a key that is not RSA")
        hash_name = _RSA_WITH.get(algorithm_oid, digest_name)
        if hash_name not in _CRYPTO_HASHES:
            raise TimestampError(f"unsupported hash algorithm {hash_name}")
        public_key.verify(signature, data, padding.PKCS1v15(), _CRYPTO_HASHES[hash_name]())
    elif algorithm_oid == OID_RSA_PSS:
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise TimestampError("an RSA-PSS signature with a key that is not RSA")
        pss, hash_name = _pss_padding(parameters, digest_name)
        public_key.verify(signature, data, pss, _CRYPTO_HASHES[hash_name]())
    elif algorithm_oid in _ECDSA_WITH:
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise TimestampError("an ECDSA signature with a key that is not EC")
        hash_name = _ECDSA_WITH[algorithm_oid]
        public_key.verify(signature, data, ec.ECDSA(_CRYPTO_HASHES[hash_name]()))
    elif algorithm_oid == OID_ED25519:
        if not isinstance(public_key, ed25519.Ed25519PublicKey):
            raise TimestampError("an Ed25519 signature with a key that is not Ed25519")
        public_key.verify(signature, data)
    else:
        raise TimestampError(f"unsupported signature algorithm {algorithm_oid}")


def _signer_certificate(sid: der.Element, candidates: list[tuple[bytes, x509.Certificate]]):
    if sid.is_(der.SEQUENCE):  # IssuerAndSerialNumber
        issuer, serial = sid.children()
        wanted = (issuer.raw, der.integer(serial))
        for raw, certificate in candidates:
            if _issuer_and_serial(raw) == wanted:
                return raw, certificate
    elif sid.is_(0, der.CONTEXT):  # [0] SubjectKeyIdentifier
        for raw, certificate in candidates:
            try:
                ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.content:
                return raw, certificate
    raise TimestampError("the token does not carry the certificate of the TSA that signed it")


def _check_ess(attributes: dict[str, list[der.Element]], certificate_der: bytes) -> None:
    """The ESS signing-certificate attribute, when present, must name the signer's certificate."""
    if OID_SIGNING_CERTIFICATE_V2 in attributes:
        signing = attributes[OID_SIGNING_CERTIFICATE_V2][0].children()
        first = signing[0].children()[0].children()
        hash_name = "sha256"
        if first[0].is_(der.SEQUENCE):
            hash_name = HASH_OIDS.get(_algorithm(first[0])[0], "")
            first = first[1:]
        if hash_name not in _CRYPTO_HASHES:
            raise TimestampError("unsupported hash in the ESS signing-certificate attribute")
        if der.octets(first[0]) != digest(hash_name, certificate_der):
            raise TimestampError(
                "the ESS signing-certificate attribute names another certificate than the TSA's"
            )
    elif OID_SIGNING_CERTIFICATE in attributes:
        signing = attributes[OID_SIGNING_CERTIFICATE][0].children()
        first = signing[0].children()[0].children()
        if der.octets(first[0]) != hashlib.sha1(certificate_der).digest():  # noqa: S324 - ESS v1
            raise TimestampError(
                "the ESS signing-certificate attribute names another certificate than the TSA's"
            )


def verify_token(
    token: bytes, message: bytes, *, extra_certificates: list[bytes] = ()
) -> TimestampInfo:
    """Check an RFC 3161 token over ``message`` (see the module docstring); raise TimestampError
    naming what is wrong, or return what it says."""
    try:
        return _verify_token(token, message, list(extra_certificates))
    except (der.DerError, IndexError, ValueError, UnicodeDecodeError) as e:
        if isinstance(e, TimestampError):
            raise
        raise TimestampError(f"the timestamp token is malformed ({e})") from e


def _verify_token(token: bytes, message: bytes, extra: list[bytes]) -> TimestampInfo:
    content_info = der.parse(token).expect(der.SEQUENCE, what="ContentInfo").children()
    if der.oid(content_info[0]) != OID_SIGNED_DATA:
        raise TimestampError("the timestamp token is not a CMS SignedData")
    signed_data = content_info[1].expect(0, der.CONTEXT).children()[0].children()
    encap = signed_data[2].expect(der.SEQUENCE, what="EncapsulatedContentInfo").children()
    if der.oid(encap[0]) != OID_TST_INFO:
        raise TimestampError("the timestamp token's content is not a TSTInfo")
    tst_bytes = der.octets(encap[1].expect(0, der.CONTEXT).children()[0])
    rest = signed_data[3:]
    certificates: list[tuple[bytes, x509.Certificate]] = []
    signer_infos = None
    for item in rest:
        if item.is_(0, der.CONTEXT):
            for choice in item.children():
                if choice.is_(der.SEQUENCE):
                    certificates.append((choice.raw, x509.load_der_x509_certificate(choice.raw)))
        elif item.is_(der.SET):
            signer_infos = item.children()
    for raw in extra:
        certificates.append((raw, x509.load_der_x509_certificate(raw)))
    if not signer_infos or len(signer_infos) != 1:
        raise TimestampError("the timestamp token must have exactly one signer")

    # TSTInfo: the imprint and the time.
    tst = der.parse(tst_bytes).expect(der.SEQUENCE, what="TSTInfo").children()
    policy = der.oid(tst[1])
    imprint_algorithm, imprint_value = tst[2].expect(der.SEQUENCE).children()
    hash_name = HASH_OIDS.get(_algorithm(imprint_algorithm)[0])
    if hash_name is None:
        raise TimestampError("the token's message imprint uses an unsupported hash algorithm")
    imprint = der.octets(imprint_value)
    serial_number = der.integer(tst[3])
    gen_time = der.time(tst[4])
    nonce = None
    for item in tst[5:]:
        if item.is_(der.INTEGER):
            nonce = der.integer(item)
    if imprint != digest(hash_name, message):
        raise TimestampError(
            "the token's message imprint does not match: it timestamps something else"
        )

    # The signer: signed attributes, then the signature over them.
    signer = signer_infos[0].expect(der.SEQUENCE, what="SignerInfo").children()
    sid, digest_algorithm = signer[1], signer[2]
    digest_name = HASH_OIDS.get(_algorithm(digest_algorithm)[0])
    if digest_name is None:
        raise TimestampError("the TSA's signature uses an unsupported digest algorithm")
    position = 3
    if not signer[position].is_(0, der.CONTEXT):
        raise TimestampError("the TSA's signature has no signed attributes")
    signed_attrs = signer[position]
    attributes = _attributes(signed_attrs)
    signature_oid, signature_params = _algorithm(signer[position + 1])
    signature = der.octets(signer[position + 2])
    content_types = attributes.get(OID_CONTENT_TYPE, [])
    if len(content_types) != 1 or der.oid(content_types[0]) != OID_TST_INFO:
        raise TimestampError("the TSA's signed content-type attribute is not TSTInfo")
    message_digests = attributes.get(OID_MESSAGE_DIGEST, [])
    if len(message_digests) != 1 or der.octets(message_digests[0]) != digest(
        digest_name, tst_bytes
    ):
        raise TimestampError(
            "the TSA's signed message digest does not match the token's content (TSTInfo): "
            "the token was altered"
        )
    certificate_der, certificate = _signer_certificate(sid, certificates)
    # The signature covers the DER of the attributes with the SET OF tag, not the [0] tag.
    signed_bytes = b"\x31" + signed_attrs.raw[1:]
    try:
        verify_signature(
            certificate.public_key(),
            signature_oid,
            signature_params,
            digest_name,
            signature,
            signed_bytes,
        )
    except InvalidSignature as e:
        raise TimestampError("the TSA's signature over the token does not verify") from e
    _check_ess(attributes, certificate_der)

    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.TIME_STAMPING not in usages:
        raise TimestampError(
            f"the certificate that signed the token ({certificate.subject.rfc4514_string()}) "
            "is not for timestamping (no extended key usage timeStamping)"
        )
    if not (certificate.not_valid_before_utc <= gen_time <= certificate.not_valid_after_utc):
        raise TimestampError(
            f"the TSA's certificate was not valid at the time the token states ({gen_time})"
        )
    return TimestampInfo(
        gen_time=gen_time,
        hash_name=hash_name,
        imprint=imprint,
        serial_number=serial_number,
        policy=policy,
        nonce=nonce,
        tsa_certificate=certificate,
        certificates=[cert for _raw, cert in certificates],
    )
