"""The system's electronic seal (sigillo elettronico): the key the system signs its own documents
with (the segnatura of a registration, and whatever else the system attests).

``system_seal()`` returns the configured seal, a PKCS#12 file named by ``STIPULA_SEAL_PKCS12``
with its password in ``STIPULA_SEAL_PASSWORD`` (the same seal that certifies PDFs, loaded by
``signing.pades.load_seal``). When none is configured, a development seal is created once under
``settings.DATA_DIR / "seal"`` and kept across runs: a self-signed ECDSA P-256 certificate whose
subject says "Stipula development seal - not for production"; a warning is logged when it is
loaded. Loaded seals are kept in memory (decrypting a PKCS#12 file is slow) until the settings
that name them change.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from django.conf import settings

log = logging.getLogger(__name__)

DEVELOPMENT_SUBJECT = "Stipula development seal - not for production"
DEVELOPMENT_FILE = "development-seal.pem"


@dataclass(frozen=True)
class Seal:
    """A seal's private key and certificate chain (``chain[0]`` is the seal's own certificate,
    followed by the intermediates the PKCS#12 file carries)."""

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]
    development: bool = False

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the seal's certificate (DER), hex."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def algorithm(self) -> str:
        """``rsa`` (PKCS#1 v1.5) or ``ecdsa``: what ``sign`` makes."""
        return "rsa" if isinstance(self.private_key, rsa.RSAPrivateKey) else "ecdsa"

    def sign(self, data: bytes, *, raw_ecdsa: bool = False) -> bytes:
        """A SHA-256 signature of ``data``: RSA PKCS#1 v1.5, or ECDSA as DER (or as r || s of the
        curve's size, as XML signatures carry it, with ``raw_ecdsa``)."""
        key = self.private_key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        der = key.sign(data, ec.ECDSA(hashes.SHA256()))
        if not raw_ecdsa:
            return der
        r, s = decode_dss_signature(der)
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def system_seal() -> Seal:
    """The configured seal, or the development seal when none is configured."""
    configured = getattr(settings, "STIPULA_SEAL_PKCS12", "")
    if configured:
        return _configured_seal(configured, getattr(settings, "STIPULA_SEAL_PASSWORD", ""))
    return _development_seal(str(Path(settings.DATA_DIR) / "seal"))


def clear_cache() -> None:
    _configured_seal.cache_clear()
    _development_seal.cache_clear()


@functools.lru_cache(maxsize=4)
def _configured_seal(path: str, password: str) -> Seal:
    from signing.pades import load_seal

    signer = load_seal(path, password)  # raises SigningError naming the file or the password
    key = serialization.load_der_private_key(signer.signing_key.dump(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"The seal in {path} has a key that is neither RSA nor ECDSA.")
    own = x509.load_der_x509_certificate(signer.signing_cert.dump())
    others = [x509.load_der_x509_certificate(c.dump()) for c in signer.cert_registry]
    return Seal(private_key=key, chain=(own, *_issuers_of(own, others)))


def _issuers_of(cert: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """The certificates of ``others`` from ``cert``'s issuer upwards, in order."""
    chain, current = [], cert
    remaining = [c for c in others if c != cert]
    while current.issuer != current.subject:
        issuer = next((c for c in remaining if c.subject == current.issuer), None)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
        current = issuer
    return chain


@functools.lru_cache(maxsize=4)
def _development_seal(folder: str) -> Seal:
    path = Path(folder) / DEVELOPMENT_FILE
    if not path.exists():
        _create_development_seal(path)
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----") :])
    log.warning(
        "No seal is configured (STIPULA_SEAL_PKCS12): the system signs with the development "
        "seal in %s, which is not for production.",
        path,
    )
    return Seal(private_key=key, chain=(cert,), development=True)


def _create_development_seal(path: Path) -> None:
    """Write the key and a self-signed certificate into one file, atomically: when two processes
    race, the first file stays and the other is discarded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stipula"),
            x509.NameAttribute(NameOID.COMMON_NAME, DEVELOPMENT_SUBJECT),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".seal-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
    log.warning("Created the development seal %s (self-signed, not for production).", path)
