"""Create the local demo PKI (keys, certificates, PKCS#12 files) and optionally run its services."""

import threading
from pathlib import Path

from django.core.management.base import BaseCommand

from signing.pki import BAD_SIGNERS, GOOD_SIGNERS, LocalPKI, default_pki_dir, running_pki

DEMO_PASSWORD = "stipula"  # noqa: S105 - demo-only key material, never used for real signatures


class Command(BaseCommand):
    help = (
        "Create the demo PKI (root CA, intermediate, TSA, OCSP/CRL, Italian-style signer "
        "certificates) in the PKI data directory, export each signer as PKCS#12, and with "
        "--serve run the TSA, OCSP and CRL services on loopback until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help="PKI data directory.")
        parser.add_argument(
            "--password", default=DEMO_PASSWORD, help="Password of the exported PKCS#12 files."
        )
        parser.add_argument(
            "--serve", action="store_true", help="Run the services until interrupted."
        )

    def handle(self, *args, dir=None, password=DEMO_PASSWORD, serve=False, **options):  # noqa: A002
        pki_dir = Path(dir or default_pki_dir())
        if serve:
            with running_pki(pki_dir) as pki:
                self._export(pki, password)
                self.stdout.write(f"Services running at {pki.base_url}")
                self.stdout.write(f"Timestamp authority: {pki.tsa_url}")
                self.stdout.write("Press Ctrl+C to stop.")
                try:
                    threading.Event().wait()
                except KeyboardInterrupt:
                    self.stdout.write("Stopped.")
            return
        # The certificates embed the services' URLs; without --serve they point nowhere useful,
        # but the root (the trust anchor) and the keys are the same as in a served run.
        self._export(LocalPKI(pki_dir=pki_dir, base_url="http://127.0.0.1"), password)

    def _export(self, pki, password):
        certs_dir = pki.write_certs()
        p12_dir = pki.pki_dir / "pkcs12"
        p12_dir.mkdir(parents=True, exist_ok=True)
        for label in GOOD_SIGNERS + BAD_SIGNERS:
            (p12_dir / f"{label}.p12").write_bytes(pki.pkcs12(label, password))
        self.stdout.write(f"Certificates: {certs_dir}")
        self.stdout.write(f"Trust root: {certs_dir / 'root.cert.pem'}")
        self.stdout.write(f"PKCS#12 files (password {password!r}): {p12_dir}")
