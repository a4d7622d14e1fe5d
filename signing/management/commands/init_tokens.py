"""Create one SoftHSM2 token per demo signer, holding the signer's key and certificate."""

from pathlib import Path

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)
from django.core.management.base import BaseCommand, CommandError

from signing.errors import SigningError
from signing.pkcs11 import default_softhsm_dir, init_token, token_labels
from signing.pki import GOOD_SIGNERS, LocalPKI, default_pki_dir

# Demo-only PINs for demo-only keys, never used for real signatures.
DEMO_USER_PIN = "123456"
DEMO_SO_PIN = "12345678"
_TRANSPORT_PASSWORD = "transport"  # noqa: S105 - only wraps the key between two calls here


class Command(BaseCommand):
    help = (
        "Create one SoftHSM2 token per signer of the demo PKI (token label = signer label) in "
        "settings.STIPULA_SOFTHSM_DIR (default DATA_DIR/softhsm), importing the signer's key, "
        "certificate and chain. Existing tokens are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help="SoftHSM2 directory.")
        parser.add_argument("--pki-dir", type=Path, default=None, help="PKI data directory.")
        parser.add_argument("--pin", default=DEMO_USER_PIN, help="User PIN of every token.")
        parser.add_argument("--so-pin", default=DEMO_SO_PIN, help="SO PIN of every token.")
        parser.add_argument(
            "--signer", action="append", default=None, help="Only this signer (repeatable)."
        )

    def handle(self, *args, dir=None, pki_dir=None, pin, so_pin, signer=None, **options):  # noqa: A002
        softhsm_dir = Path(dir or default_softhsm_dir())
        pki = LocalPKI(pki_dir=Path(pki_dir or default_pki_dir()), base_url="http://127.0.0.1")
        labels = signer or list(GOOD_SIGNERS)
        existing = set(token_labels(softhsm_dir))
        for label in labels:
            if label in existing:
                self.stdout.write(f"Token {label!r} exists already; left alone.")
                continue
            key, cert, chain = pkcs12.load_key_and_certificates(
                pki.pkcs12(label, _TRANSPORT_PASSWORD), _TRANSPORT_PASSWORD.encode()
            )
            try:
                init_token(
                    label=label,
                    so_pin=so_pin,
                    user_pin=pin,
                    key_pem_or_der=key.private_bytes(
                        Encoding.DER, PrivateFormat.PKCS8, NoEncryption()
                    ),
                    cert_der=cert.public_bytes(Encoding.DER),
                    chain_der=[c.public_bytes(Encoding.DER) for c in chain],
                    softhsm_conf_dir=softhsm_dir,
                )
            except SigningError as e:
                raise CommandError(str(e)) from e
            self.stdout.write(f"Token {label!r} created.")
        self.stdout.write(f"SoftHSM2 configuration: {softhsm_dir / 'softhsm2.conf'}")
        self.stdout.write(f"Set SOFTHSM2_CONF to it or STIPULA_SOFTHSM_DIR={softhsm_dir}.")
        self.stdout.write(f"Demo user PIN {pin!r}, SO PIN {so_pin!r}.")
