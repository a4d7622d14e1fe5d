"""Create the local demo PKI (keys, certificates, PKCS#12 files) and optionally run its services."""

import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agreements.demo_data import pki_signers
from signing.errors import SigningError
from signing.pki import (
    BAD_SIGNERS,
    DEMO_PKCS12_PASSWORD,
    GOOD_SIGNERS,
    LocalPKI,
    default_pki_dir,
    demo_base_url,
    demo_pki_port,
    demo_pki_services,
    running_pki,
)

DEMO_PASSWORD = DEMO_PKCS12_PASSWORD


class Command(BaseCommand):
    help = (
        "Create the demo PKI (root CA, intermediate, TSA, OCSP/CRL, Italian-style signer "
        "certificates, including one per signatory of the demo) in the PKI data directory, export "
        "each signer as PKCS#12, and with --serve run the TSA, OCSP and CRL services on loopback "
        "until interrupted. The certificates contain the services' address, so the port is fixed: "
        "8180, or STIPULA_DEMO_PKI_PORT, or --port."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help="PKI data directory.")
        parser.add_argument(
            "--password", default=DEMO_PASSWORD, help="Password of the exported PKCS#12 files."
        )
        parser.add_argument(
            "--serve", action="store_true", help="Run the services until interrupted."
        )
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port of the services on 127.0.0.1 (default: STIPULA_DEMO_PKI_PORT or 8180; "
            "0 for any free port, whose certificates are good for that run only).",
        )

    def handle(  # noqa: A002 - "dir" is the option's name
        self, *args, dir=None, password=DEMO_PASSWORD, serve=False, port=None, **options
    ):
        pki_dir = Path(dir or default_pki_dir())
        port = demo_pki_port() if port is None else port
        signers = pki_signers()
        if serve:
            if port:
                services = demo_pki_services(pki_dir, port=port, extra_signers=signers)
            else:
                services = running_pki(pki_dir, port=0, extra_signers=signers)
            try:
                with services as running:
                    pki, started = running if port else (running, True)
                    self._export(pki, password)
                    if not started:
                        self.stdout.write(f"The services already run at {pki.base_url}.")
                        return
                    self._serve(pki)
            except SigningError as e:
                raise CommandError(str(e)) from e
            return
        # The same certificates as the services on that port give, whether they run or not.
        base_url = demo_base_url(port) if port else "http://127.0.0.1"
        self._export(LocalPKI(pki_dir=pki_dir, base_url=base_url, extra_signers=signers), password)

    def _serve(self, pki):
        self.stdout.write(f"Services running at {pki.base_url}")
        self.stdout.write(f"Timestamp authority: {pki.tsa_url}")
        self.stdout.write("Press Ctrl+C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")

    def _export(self, pki, password):
        certs_dir = pki.write_certs()
        labels = GOOD_SIGNERS + BAD_SIGNERS + tuple(s.label for s in pki.extra_signers)
        p12_dir = pki.export_pkcs12(labels, password)
        self.stdout.write(f"Certificates: {certs_dir}")
        self.stdout.write(f"Trust root: {certs_dir / 'root.cert.pem'}")
        self.stdout.write(f"PKCS#12 files (password {password!r}): {p12_dir}")
