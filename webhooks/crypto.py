"""The subscriptions' secrets, kept encrypted at rest.

A delivery's HMAC needs the secret itself, so it cannot be stored as a hash like an API token.
It is encrypted with AES-256-GCM under a key derived from ``SECRET_KEY`` (HKDF-SHA256), so a
copy of the database alone (a backup, a dump) does not give it away. Rotating ``SECRET_KEY`` is
possible as for Django's own signing: put the old key in ``SECRET_KEY_FALLBACKS``.
"""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

VERSION = "v1"
_INFO = b"stipula.webhooks.subscription-secret.v1"


def _key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )


def encrypt(secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(settings.SECRET_KEY)).encrypt(nonce, secret.encode(), None)
    return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(stored: str) -> str:
    version, _sep, text = stored.partition(":")
    if version != VERSION:
        raise ValueError("unknown secret format")
    raw = base64.urlsafe_b64decode(text)
    nonce, sealed = raw[:12], raw[12:]
    for secret_key in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        try:
            return AESGCM(_key(secret_key)).decrypt(nonce, sealed, None).decode()
        except InvalidTag:
            continue
    raise ValueError("the secret was encrypted with another SECRET_KEY")
