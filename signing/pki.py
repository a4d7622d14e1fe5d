"""A real local PKI for tests and the demo, built with certomancer.

It has a root CA, an intermediate that issues Italian-style signer certificates (subject
serialNumber ``TINIT-<codice fiscale>``, key usage digitalSignature + nonRepudiation), a timestamp
authority (timeStamping EKU), an OCSP responder and CRLs, plus certificates that must be refused
(expired, not yet valid, revoked, issued by an untrusted CA, without nonRepudiation).

The certificate layout is in ``signing/pki/certomancer.yml``; the private keys are generated once
into the PKI data directory. Certificates embed the URLs of the services, so they depend on the
loopback address the services run on: get them from the ``LocalPKI`` returned by
``running_pki()``. The root certificate has no URL in it and stays the same across runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import yaml
from asn1crypto import pem, x509
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

CONFIG_PATH = Path(__file__).resolve().parent / "pki" / "certomancer.yml"
ARCH = "stipula"

# Signer certificates that are valid and trusted.
GOOD_SIGNERS = ("rossi", "verdi", "bianchi", "ferrari", "esposito")
# Certificates a signature must be refused with (RULES.md S2).
BAD_SIGNERS = ("expired", "not-yet-valid", "revoked", "no-nonrep", "rogue-signer")


def default_pki_dir() -> Path:
    return Path(getattr(settings, "STIPULA_PKI_DIR", Path(settings.DATA_DIR) / "pki"))


def _load_config_dict() -> dict:
    return yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))


def ensure_keys(pki_dir: Path) -> list[Path]:
    """Generate the missing private keys of the PKI into ``pki_dir/keys``; return the new ones."""
    config = _load_config_dict()
    keyset = config["keysets"][ARCH]
    key_dir = Path(pki_dir) / keyset["path-prefix"]
    key_dir.mkdir(parents=True, exist_ok=True)
    created = []
    for entry in keyset["keys"].values():
        path = key_dir / entry["path"]
        if path.exists():
            continue
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written with owner-only permissions from the start: these are private keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        created.append(path)
    return created


@dataclass
class LocalPKI:
    """The certomancer architecture, its certificates and the URLs of its services."""

    pki_dir: Path
    base_url: str

    def __post_init__(self):
        ensure_keys(self.pki_dir)
        config = CertomancerConfig(
            _load_config_dict(),
            key_search_dir=str(self.pki_dir),
            external_url_prefix=self.base_url,
        )
        self.arch = config.get_pki_arch(ArchLabel(ARCH))

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/{ARCH}/tsa/tsa"

    def cert(self, label: str) -> x509.Certificate:
        return self.arch.get_cert(CertLabel(label))

    def cert_der(self, label: str) -> bytes:
        return self.cert(label).dump()

    def cert_pem(self, label: str) -> bytes:
        return pem.armor("CERTIFICATE", self.cert_der(label))

    @property
    def root_der(self) -> bytes:
        return self.cert_der("root")

    def pkcs12(self, label: str, password: str) -> bytes:
        """The signer's key, certificate and chain as PKCS#12 bytes protected by ``password``."""
        return self.arch.package_pkcs12(CertLabel(label), password=password.encode("utf-8"))

    def write_certs(self, target: Path | None = None) -> Path:
        """Write every certificate as PEM into ``target`` (default ``<pki_dir>/certs``)."""
        target = Path(target or self.pki_dir / "certs")
        target.mkdir(parents=True, exist_ok=True)
        for _issuer, cert_specs in self.arch.enumerate_certs_by_issuer():
            for cert_spec in cert_specs:
                (target / f"{cert_spec.label}.cert.pem").write_bytes(
                    self.cert_pem(str(cert_spec.label))
                )
        return target

    def wsgi_app(self) -> Animator:
        return Animator(AnimatorArchStore({self.arch.arch_label: self.arch}), with_web_ui=False)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the stdlib
        pass


class _ThreadingWSGIServer(WSGIServer):
    # One thread per request: pyHanko fetches OCSP and CRLs concurrently.
    def process_request(self, request, client_address):
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


@contextlib.contextmanager
def running_pki(pki_dir: Path | None = None, host: str = "127.0.0.1") -> Iterator[LocalPKI]:
    """Run the TSA, OCSP responder, CRL and certificate repositories on a free loopback port."""
    pki_dir = Path(pki_dir or default_pki_dir())
    holder: dict = {}

    def app(environ, start_response):
        return holder["app"](environ, start_response)

    server = make_server(
        host, 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    try:
        pki = LocalPKI(pki_dir=pki_dir, base_url=f"http://{host}:{server.server_port}")
        holder["app"] = pki.wsgi_app()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield pki
        finally:
            server.shutdown()
            thread.join(timeout=5)
    finally:
        server.server_close()
