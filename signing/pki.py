"""A real local PKI for tests and the demo, built with certomancer.

It has a root CA, an intermediate that issues Italian-style signer certificates (subject
serialNumber ``TINIT-<codice fiscale>``, key usage digitalSignature + nonRepudiation), a timestamp
authority (timeStamping EKU), an OCSP responder and CRLs, plus certificates that must be refused
(expired, not yet valid, revoked, issued by an untrusted CA, without nonRepudiation).

The certificate layout is in ``signing/pki/certomancer.yml``; more signers (the demo's
signatories) can be added when it is loaded (``extra_signers``). The private keys are generated
once into the PKI data directory. Certificates embed the URLs of the services, so they depend on
the loopback address the services run on: get them from the ``LocalPKI`` returned by
``running_pki()``. The root certificate has no URL in it and stays the same across runs.

Tests run the services on a free port. The demo runs them on a fixed port (``demo_pki_port()``:
8180, or ``STIPULA_DEMO_PKI_PORT``), so that its certificates, PKCS#12 files, tokens and signed
PDFs stay valid from one run to the next and in the web interface (``scripts/serve``).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import functools
import hashlib
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import yaml
from asn1crypto import crl, pem, x509
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from .errors import SigningError

CONFIG_PATH = Path(__file__).resolve().parent / "pki" / "certomancer.yml"
ARCH = "stipula"

# Signer certificates that are valid and trusted.
GOOD_SIGNERS = ("rossi", "verdi", "bianchi", "ferrari", "esposito")
# Certificates a signature must be refused with (RULES.md S2).
BAD_SIGNERS = ("expired", "not-yet-valid", "revoked", "no-nonrep", "rogue-signer")
# The signer whose certificate an extra signer's copies (issuer, validity, key usage, URLs).
_MODEL_SIGNER = "rossi"

DEMO_PKI_HOST = "127.0.0.1"
DEMO_PKI_PORT = 8180
# Password of the PKCS#12 files exported for the demo (demo-only keys, never real signatures).
DEMO_PKCS12_PASSWORD = "stipula"  # noqa: S105
TRUST_ROOT_FILENAME = "stipula-demo-root.pem"


class Signer(NamedTuple):
    """A signer certificate to add to the PKI, Italian style (RULES.md S8)."""

    label: str
    common_name: str
    given_name: str
    surname: str
    fiscal_code: str


def default_pki_dir() -> Path:
    return Path(getattr(settings, "STIPULA_PKI_DIR", Path(settings.DATA_DIR) / "pki"))


def demo_pki_port() -> int:
    """The fixed port of the demo PKI's services: ``STIPULA_DEMO_PKI_PORT``, default 8180."""
    return int(os.environ.get("STIPULA_DEMO_PKI_PORT") or DEMO_PKI_PORT)


def demo_base_url(port: int | None = None) -> str:
    return f"http://{DEMO_PKI_HOST}:{port or demo_pki_port()}"


@functools.cache
def _base_config_dict() -> dict:
    return yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))


def _serial_for(label: str) -> int:
    # 63 bits from the label's hash, the top one set: far from certomancer's counters (4096...).
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") >> 1 | 1 << 62


def _load_config_dict(extra_signers: Iterable[Signer] = ()) -> dict:
    """The certomancer configuration, with one entity, key and certificate per extra signer.

    Extra signers come after the configured certificates, so the serial numbers of those stay
    the same whatever is added; an extra signer's serial number comes from its label, so its
    certificate stays the same whatever certomancer.yml or the other extra signers become.
    """
    config = copy.deepcopy(_base_config_dict())
    keys = config["keysets"][ARCH]["keys"]
    arch = config["pki-architectures"][ARCH]
    for signer in map(Signer._make, extra_signers):
        if signer.label in keys or signer.label in arch["certs"]:
            raise ValueError(f"The PKI has a certificate labelled {signer.label!r} already.")
        keys[signer.label] = {"path": f"{signer.label}.key.pem"}
        arch["entities"][signer.label] = {
            "common-name": signer.common_name,
            "given-name": signer.given_name,
            "surname": signer.surname,
            "serial-number": f"TINIT-{signer.fiscal_code.strip().upper()}",
        }
        arch["certs"][signer.label] = {
            "template": _MODEL_SIGNER,
            "subject": signer.label,
            "serial": _serial_for(signer.label),
        }
    return config


def ensure_keys(pki_dir: Path, extra_signers: Iterable[Signer] = ()) -> list[Path]:
    """Generate the missing private keys of the PKI into ``pki_dir/keys``; return the new ones."""
    config = _load_config_dict(extra_signers)
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
    # More signer certificates, e.g. the demo's signatories: Signer tuples
    # (label, common name, given name, surname, codice fiscale).
    extra_signers: tuple[Signer, ...] = ()

    def __post_init__(self):
        self.pki_dir = Path(self.pki_dir)
        self.extra_signers = tuple(map(Signer._make, self.extra_signers))
        ensure_keys(self.pki_dir, self.extra_signers)
        config = CertomancerConfig(
            _load_config_dict(self.extra_signers),
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

    def export_pkcs12(
        self, labels: Iterable[str], password: str, target: Path | None = None
    ) -> Path:
        """Write ``<label>.p12`` for each signer into ``target`` (default ``<pki_dir>/pkcs12``)."""
        target = Path(target or self.pki_dir / "pkcs12")
        target.mkdir(parents=True, exist_ok=True)
        for label in labels:
            path = target / f"{label}.p12"
            # Owner-only, like the keys it holds.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.pkcs12(label, password))
        return target

    def write_trust_root(self, directory: Path) -> Path:
        """Write the root certificate (PEM) into ``directory``, the folder of trusted roots
        (settings.STIPULA_TRUST_ROOTS_DIR), so that validation trusts this PKI."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / TRUST_ROOT_FILENAME
        data = self.cert_pem("root")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        return path

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

    # Services answering 503 Service Unavailable, as a responder that is down does ("ocsp",
    # "crls", "tsa"): only the server made by running_pki() honours it.
    offline_services: set = field(default_factory=set)

    @contextlib.contextmanager
    def offline(self, *services: str) -> Iterator[None]:
        """Take some services down for a while (e.g. the OCSP responder and the CRLs)."""
        self.offline_services.update(services)
        try:
            yield
        finally:
            self.offline_services.difference_update(services)


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


class _CachedCRLs:
    """Serve each CRL from memory until its nextUpdate.

    Certomancer builds and signs a CRL at every request, the same one for a whole update period
    (thisUpdate and nextUpdate follow its simulated schedule); a validation fetches a CRL for
    every certificate of every signature, so the cache keeps a fifteen-signature document from
    waiting seconds on identical CRLs. Requests that ask for another time are not cached.
    """

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.cache: dict[str, tuple[datetime, str, list, bytes]] = {}

    def __call__(self, environ, start_response):
        key = environ.get("PATH_INFO", "")
        cacheable = environ.get("REQUEST_METHOD") == "GET" and not any(
            name.startswith("HTTP_X_CERTOMANCER") for name in environ
        )
        now = datetime.now(tz=UTC)
        with self.lock:
            hit = self.cache.get(key) if cacheable else None
        if hit is not None and hit[0] > now:
            start_response(hit[1], list(hit[2]))
            return [hit[3]]
        answer: dict = {}

        def capture(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        body = b"".join(self.app(environ, capture))
        if cacheable and answer.get("status", "").startswith("200"):
            try:
                data = pem.unarmor(body)[2] if pem.detect(body) else body
                next_update = crl.CertificateList.load(data)["tbs_cert_list"]["next_update"]
                expires = next_update.native
            except (ValueError, TypeError, KeyError):
                expires = None
            if expires is not None:
                with self.lock:
                    self.cache[key] = (expires, answer["status"], list(answer["headers"]), body)
        return [body]


@contextlib.contextmanager
def running_pki(
    pki_dir: Path | None = None,
    host: str = "127.0.0.1",
    *,
    port: int = 0,
    extra_signers: Iterable[Signer] = (),
) -> Iterator[LocalPKI]:
    """Run the TSA, OCSP responder, CRL and certificate repositories on loopback, on ``port``
    (0: a free port, as the tests do; the demo's fixed port keeps its certificates valid)."""
    pki_dir = Path(pki_dir or default_pki_dir())
    holder: dict = {}

    def app(environ, start_response):
        parts = environ.get("PATH_INFO", "").strip("/").split("/")
        if len(parts) > 1 and parts[1] in holder["pki"].offline_services:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"service offline"]
        if len(parts) > 1 and parts[1] == "crls":
            return holder["crls"](environ, start_response)
        return holder["app"](environ, start_response)

    server = make_server(
        host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    try:
        pki = LocalPKI(
            pki_dir=pki_dir,
            base_url=f"http://{host}:{server.server_port}",
            extra_signers=tuple(extra_signers),
        )
        holder["app"], holder["pki"] = pki.wsgi_app(), pki
        holder["crls"] = _CachedCRLs(holder["app"])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield pki
        finally:
            server.shutdown()
            thread.join(timeout=5)
    finally:
        server.server_close()


def serves(pki: LocalPKI, *, timeout: float = 5) -> bool:
    """Whether the services at ``pki.base_url`` are this very PKI (same keys, URLs and signers):
    its intermediate CA and its last signer are what they publish."""
    last = pki.extra_signers[-1].label if pki.extra_signers else _MODEL_SIGNER
    expected = {
        f"{pki.base_url}/{ARCH}/certs/interm/ca.crt": pki.cert_der("interm"),
        f"{pki.base_url}/{ARCH}/certs/interm/issued/{last}.crt": pki.cert_der(last),
    }
    for url, der in expected.items():
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
                if response.read() != der:
                    return False
        except (OSError, urllib.error.URLError):
            return False
    return True


@contextlib.contextmanager
def demo_pki_services(
    pki_dir: Path | None = None,
    *,
    port: int | None = None,
    extra_signers: Iterable[Signer] = (),
) -> Iterator[tuple[LocalPKI, bool]]:
    """The demo PKI's services on their fixed port: ``(pki, True)`` when started here (stopped on
    exit), ``(pki, False)`` when the same PKI already runs there (``scripts/serve`` runs it)."""
    port = port or demo_pki_port()
    pki_dir = Path(pki_dir or default_pki_dir())
    with contextlib.ExitStack() as stack:
        try:
            pki = stack.enter_context(
                running_pki(pki_dir, DEMO_PKI_HOST, port=port, extra_signers=extra_signers)
            )
            started = True
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            pki = LocalPKI(
                pki_dir=pki_dir, base_url=demo_base_url(port), extra_signers=tuple(extra_signers)
            )
            if not serves(pki):
                raise SigningError(
                    f"Port {port} is taken by something other than this demo PKI: stop it, or "
                    f"choose another port with STIPULA_DEMO_PKI_PORT (the same for every run, "
                    f"since the certificates contain it)."
                ) from e
            started = False
        yield pki, started
