"""Remote signing with a key held in a PKCS#11 token on the server side.

In production the token is an HSM; in development and tests it is SoftHSM2 (Debian package
``softhsm2``), whose tokens live in a directory of ours (``softhsm_conf``), never in the system's
``/etc/softhsm``. The signatory confirms with the token PIN, which is passed to the token to open
the session and never stored or logged.

The PKCS#11 module reads its configuration when it is first loaded in a process: for SoftHSM2,
``SOFTHSM2_CONF`` must point to our configuration by then (``use_softhsm_dir`` sets it, and
``sign_pkcs11`` sets it from ``settings.STIPULA_SOFTHSM_DIR`` when it is not set yet). Tokens are
created in a child process (``init_token``), so creating one never reloads the module here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pkcs11
from asn1crypto import keys, pem
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from pkcs11 import exceptions as p11_exceptions
from pyhanko.sign.pkcs11 import PKCS11Error, PKCS11Signer, TokenCriteria, open_pkcs11_session

from .errors import SigningError, WrongPassword
from .pades import Online, require_empty_field, sign_with_signer

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
KEY_ID = b"\x01"


class WrongPin(WrongPassword):
    code = "wrong_pin"
    default_message = _("The PIN is wrong: the token refused it and nothing was signed.")


class PinLocked(SigningError):
    code = "pin_locked"
    default_message = _(
        "The token's PIN is locked after too many wrong attempts; ask the administrator to "
        "unlock it. Nothing was signed."
    )


class TokenNotFound(SigningError):
    code = "token_not_found"
    default_message = _("The signing token was not found on the server; nothing was signed.")


class TokenError(SigningError):
    code = "token_error"
    default_message = _("The signing token could not be used; nothing was signed.")


def softhsm_conf(directory: Path) -> Path:
    """Write ``directory/softhsm2.conf`` with its token store in ``directory/tokens``."""
    directory = Path(directory)
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n",
        encoding="utf-8",
    )
    return conf


def use_softhsm_dir(directory: Path) -> Path:
    """Point this process's SoftHSM2 at ``directory``; call before the module is first loaded."""
    conf = softhsm_conf(directory)
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf


def default_softhsm_dir() -> Path:
    return Path(getattr(settings, "STIPULA_SOFTHSM_DIR", Path(settings.DATA_DIR) / "softhsm"))


# Run in a child process: it loads the PKCS#11 module with the token's configuration and imports
# the key and certificates. The PIN and key travel on stdin, not on the command line.
_IMPORT_SCRIPT = """
import json, sys
import pkcs11
from pkcs11 import Attribute
from pkcs11.util.rsa import decode_rsa_private_key
from pkcs11.util.x509 import decode_x509_certificate

data = json.load(sys.stdin)
lib = pkcs11.lib(data["module"])
token = lib.get_token(token_label=data["label"])
key_id = bytes.fromhex(data["key_id"])
with token.open(rw=True, user_pin=data["user_pin"]) as session:
    key = decode_rsa_private_key(bytes.fromhex(data["rsa_key"]))
    key.update({Attribute.LABEL: data["label"], Attribute.ID: key_id, Attribute.TOKEN: True,
                Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
    session.create_object(key)
    cert = decode_x509_certificate(bytes.fromhex(data["cert"]))
    cert.update({Attribute.LABEL: data["label"], Attribute.ID: key_id, Attribute.TOKEN: True})
    session.create_object(cert)
    for index, der in enumerate(data["chain"]):
        ca = decode_x509_certificate(bytes.fromhex(der))
        ca.update({Attribute.LABEL: f"ca-{index}", Attribute.TOKEN: True})
        session.create_object(ca)
"""


def _rsa_private_key_der(key_pem_or_der: bytes) -> bytes:
    """PKCS#1 RSAPrivateKey DER from a PKCS#8 or PKCS#1 key, PEM or DER, unencrypted."""
    data = key_pem_or_der
    if pem.detect(data):
        _type, _headers, data = pem.unarmor(data)
    try:
        info = keys.PrivateKeyInfo.load(data)
        if info["private_key_algorithm"]["algorithm"].native != "rsa":
            raise SigningError("Only RSA keys can be imported into the token.")
        return info["private_key"].parsed.dump()
    except ValueError:
        return keys.RSAPrivateKey.load(data).dump()


def _softhsm_util() -> str:
    util = shutil.which("softhsm2-util")
    if util is None:
        raise TokenError("softhsm2-util is not installed (Debian package softhsm2).")
    return util


def token_labels(softhsm_conf_dir: Path) -> list[str]:
    """Labels of the initialised SoftHSM2 tokens in ``softhsm_conf_dir``."""
    conf = softhsm_conf(softhsm_conf_dir)
    result = subprocess.run(  # noqa: S603 - fixed executable, arguments are not shell-parsed
        [_softhsm_util(), "--show-slots"],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TokenError(f"The tokens could not be listed: {result.stderr.strip()}")
    labels = []
    initialised = False
    for line in result.stdout.splitlines():
        key, _sep, value = line.strip().partition(":")
        if key == "Initialized":
            initialised = value.strip() == "yes"
        elif key == "Label" and initialised:
            labels.append(value.strip())
    return labels


def init_token(
    *,
    label: str,
    so_pin: str,
    user_pin: str,
    key_pem_or_der: bytes,
    cert_der: bytes,
    softhsm_conf_dir: Path,
    chain_der: list[bytes] = (),
    module_path: str = DEFAULT_MODULE,
) -> Path:
    """Create a SoftHSM2 token ``label`` in ``softhsm_conf_dir`` holding the signer's key and cert.

    The key and certificate get the token's label as label and ``KEY_ID`` as id; the chain
    certificates are stored too, so the signature can embed them. Returns the configuration file.
    Development and test tool: the SO and user PINs reach ``softhsm2-util`` on its command line.
    """
    util = _softhsm_util()
    if label in token_labels(softhsm_conf_dir):
        raise TokenError(f"A token labelled {label!r} exists already.")
    conf = softhsm_conf(softhsm_conf_dir)
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    result = subprocess.run(  # noqa: S603 - fixed executable, arguments are not shell-parsed
        [util, "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TokenError(f"The token {label!r} could not be created: {result.stderr.strip()}")
    payload = {
        "module": module_path,
        "label": label,
        "user_pin": user_pin,
        "key_id": KEY_ID.hex(),
        "rsa_key": _rsa_private_key_der(key_pem_or_der).hex(),
        "cert": cert_der.hex(),
        "chain": [der.hex() for der in chain_der],
    }
    result = subprocess.run(  # noqa: S603 - our interpreter and our script
        [sys.executable, "-c", _IMPORT_SCRIPT],
        input=json.dumps(payload),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or [""])[-1]
        raise TokenError(f"The key could not be imported into the token {label!r}: {last_line}")
    return conf


def _ensure_softhsm_conf(module_path: str) -> None:
    if "softhsm" not in module_path or "SOFTHSM2_CONF" in os.environ:
        return
    directory = getattr(settings, "STIPULA_SOFTHSM_DIR", None)
    if directory:
        use_softhsm_dir(Path(directory))


def _open_session(module_path: str, token_label: str, pin: str):
    _ensure_softhsm_conf(module_path)
    try:
        try:
            return _open(module_path, token_label, pin)
        except TokenNotFound:
            # The module lists its tokens when it is loaded: reload it once to see a token
            # created since (SoftHSM2 tokens made by init_token in another process).
            pkcs11.unload(module_path)
            return _open(module_path, token_label, pin)
    except (p11_exceptions.PinIncorrect, p11_exceptions.PinLenRange) as e:
        raise WrongPin() from e
    except p11_exceptions.PinLocked as e:
        raise PinLocked() from e
    except (OSError, RuntimeError, p11_exceptions.PKCS11Error) as e:
        # The message names the kind of failure, never the PIN.
        raise TokenError(
            _("The PKCS#11 module could not open the token: %(error)s.")
            % {"error": type(e).__name__}
        ) from e


def _open(module_path: str, token_label: str, pin: str):
    try:
        lib = pkcs11.lib(module_path)
        found = any(
            slot.get_token().label == token_label for slot in lib.get_slots(token_present=True)
        )
    except p11_exceptions.PKCS11Error:
        found = False
    if not found:
        raise TokenNotFound(token=token_label)
    return open_pkcs11_session(
        module_path, token_criteria=TokenCriteria(label=token_label), user_pin=pin
    )


def sign_pkcs11(
    pdf: bytes,
    *,
    field_name: str,
    token_label: str,
    pin: str,
    module_path: str | None = None,
    key_label: str | None = None,
    timestamper_url: str | None = None,
    party: str = "",
    reason: str | None = None,
    location: str | None = None,
    trust_roots: list[bytes] | None = None,
    online: Online | None = None,
) -> bytes:
    """Sign the empty field ``field_name`` with the key in token ``token_label``.

    Like ``signing.pades.sign_pkcs12``: PAdES B-B, B-T with a TSA URL, B-LT with trust roots too,
    in a new incremental update with the same visible appearance. The key and certificate are
    looked up by ``key_label`` (default: the token label). The PIN opens the session and is
    dropped with it. ``online``: the operation it is part of (``signing.pades.Online``).
    """
    module_path = module_path or getattr(settings, "STIPULA_PKCS11_MODULE", DEFAULT_MODULE)
    require_empty_field(pdf, field_name)
    session = _open_session(module_path, token_label, pin)
    try:
        signer = PKCS11Signer(
            session,
            key_label=key_label or token_label,
            cert_label=key_label or token_label,
            other_certs_to_pull=None,
        )
        try:
            signer.signing_cert  # noqa: B018 - loads the certificate, or fails for a wrong label
        except PKCS11Error as e:
            raise TokenError(
                _("The token holds no signing key and certificate with this label.")
            ) from e
        return sign_with_signer(
            pdf,
            signer=signer,
            field_name=field_name,
            timestamper_url=timestamper_url,
            party=party,
            reason=reason,
            location=location,
            trust_roots=trust_roots,
            online=online,
        )
    finally:
        session.close()
