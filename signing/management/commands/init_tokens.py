"""Create one SoftHSM2 token per demo signer, holding the signer's key and certificate."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from certomancer.registry.common import CertomancerObjectNotFoundError
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)
from django.core.management.base import BaseCommand, CommandError

from agreements.demo_data import REMOTE_SIGNING_USERS, pki_signers
from signing.errors import SigningError
from signing.pkcs11 import (
    TokenError,
    default_softhsm_dir,
    init_token,
    softhsm_conf,
    token_labels,
)
from signing.pki import GOOD_SIGNERS, LocalPKI, default_pki_dir, demo_base_url, demo_pki_port

# Demo-only PINs for demo-only keys, never used for real signatures.
DEMO_USER_PIN = "123456"
DEMO_SO_PIN = "12345678"
_TRANSPORT_PASSWORD = "transport"  # noqa: S105 - only wraps the key between two calls here
# SHA-256 of the certificate put in each token, by token label: tells whether a token still
# holds the certificate the PKI gives now (it embeds the services' port).
_MANIFEST = "certificates.json"


def _read_manifest(softhsm_dir: Path) -> dict:
    try:
        return json.loads((softhsm_dir / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _delete_token(softhsm_dir: Path, label: str) -> None:
    util = shutil.which("softhsm2-util")
    if util is None:
        raise TokenError("softhsm2-util is not installed (Debian package softhsm2).")
    result = subprocess.run(  # noqa: S603 - fixed executable, arguments are not shell-parsed
        [util, "--delete-token", "--token", label],
        env={**os.environ, "SOFTHSM2_CONF": str(softhsm_conf(softhsm_dir))},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TokenError(f"The token {label!r} could not be deleted: {result.stderr.strip()}")


def ensure_tokens(
    pki: LocalPKI,
    labels,
    *,
    softhsm_dir: Path,
    pin: str = DEMO_USER_PIN,
    so_pin: str = DEMO_SO_PIN,
    replace_stale: bool = False,
) -> list[tuple[str, str]]:
    """Make sure there is a token per signer label in ``softhsm_dir`` with the signer's key,
    certificate and chain from ``pki``. Returns (label, outcome) pairs, outcome being "created",
    "kept" (it holds this certificate), "replaced" (it held another one and ``replace_stale``
    is on) or "exists" (left alone: it may hold another certificate)."""
    softhsm_dir = Path(softhsm_dir)
    existing = set(token_labels(softhsm_dir))
    manifest = _read_manifest(softhsm_dir)
    outcomes = []
    for label in labels:
        fingerprint = hashlib.sha256(pki.cert_der(label)).hexdigest()
        outcome = "created"
        if label in existing:
            if manifest.get(label) == fingerprint:
                outcomes.append((label, "kept"))
                continue
            if not replace_stale:
                outcomes.append((label, "exists"))
                continue
            _delete_token(softhsm_dir, label)
            outcome = "replaced"
        key, cert, chain = pkcs12.load_key_and_certificates(
            pki.pkcs12(label, _TRANSPORT_PASSWORD), _TRANSPORT_PASSWORD.encode()
        )
        init_token(
            label=label,
            so_pin=so_pin,
            user_pin=pin,
            key_pem_or_der=key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()),
            cert_der=cert.public_bytes(Encoding.DER),
            chain_der=[c.public_bytes(Encoding.DER) for c in chain],
            softhsm_conf_dir=softhsm_dir,
        )
        manifest[label] = fingerprint
        (softhsm_dir / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        outcomes.append((label, outcome))
    return outcomes


class Command(BaseCommand):
    help = (
        "Create one SoftHSM2 token per signer of the demo PKI (token label = signer label) in "
        "settings.STIPULA_SOFTHSM_DIR (default DATA_DIR/softhsm), importing the signer's key, "
        "certificate and chain. With --demo-signatories, the tokens of the demo's remote "
        "signatories (the first five parties' signatories of the Patto). Existing tokens are left "
        "alone unless --replace is given and they hold another certificate."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help="SoftHSM2 directory.")
        parser.add_argument("--pki-dir", type=Path, default=None, help="PKI data directory.")
        parser.add_argument("--pin", default=DEMO_USER_PIN, help="User PIN of every token.")
        parser.add_argument("--so-pin", default=DEMO_SO_PIN, help="SO PIN of every token.")
        parser.add_argument(
            "--signer", action="append", default=None, help="Only this signer (repeatable)."
        )
        parser.add_argument(
            "--demo-signatories",
            action="store_true",
            help="The tokens of the demo's remote signatories ("
            + ", ".join(REMOTE_SIGNING_USERS)
            + ").",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port of the PKI services the certificates point at (default: "
            "STIPULA_DEMO_PKI_PORT or 8180).",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Create again a token that holds another certificate than the PKI's.",
        )

    def handle(  # noqa: A002 - "dir" is the option's name
        self,
        *args,
        dir=None,
        pki_dir=None,
        pin,
        so_pin,
        signer=None,
        demo_signatories=False,
        port=None,
        replace=False,
        **options,
    ):
        softhsm_dir = Path(dir or default_softhsm_dir())
        labels = list(signer or [])
        if demo_signatories:
            labels += [label for label in REMOTE_SIGNING_USERS if label not in labels]
        labels = labels or list(GOOD_SIGNERS)
        demo_signers = pki_signers()
        # The demo signatories' certificates only when asked for: they add keys to the PKI.
        wanted = {s[0] for s in demo_signers} & set(labels)
        pki = LocalPKI(
            pki_dir=Path(pki_dir or default_pki_dir()),
            base_url=demo_base_url(port or demo_pki_port()),
            extra_signers=demo_signers if wanted else (),
        )
        try:
            outcomes = ensure_tokens(
                pki, labels, softhsm_dir=softhsm_dir, pin=pin, so_pin=so_pin, replace_stale=replace
            )
        except (SigningError, CertomancerObjectNotFoundError) as e:
            raise CommandError(str(e)) from e
        messages = {
            "created": "Token {label!r} created.",
            "replaced": "Token {label!r} created again with the PKI's current certificate.",
            "kept": "Token {label!r} exists already; left alone.",
            "exists": "Token {label!r} exists already; left alone (use --replace to create it "
            "again if it holds an older certificate).",
        }
        for label, outcome in outcomes:
            self.stdout.write(messages[outcome].format(label=label))
        self.stdout.write(f"SoftHSM2 configuration: {softhsm_dir / 'softhsm2.conf'}")
        self.stdout.write(f"Set SOFTHSM2_CONF to it or STIPULA_SOFTHSM_DIR={softhsm_dir}.")
        self.stdout.write(f"Demo user PIN {pin!r}, SO PIN {so_pin!r}.")
