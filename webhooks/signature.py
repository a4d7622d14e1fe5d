"""Signing a webhook delivery, and checking it on the receiving side.

Standard library only, so that a receiver can copy this file as it is (docs/webhooks.md).

Each delivery carries ``X-Stipula-Timestamp`` (Unix seconds) and ``X-Stipula-Signature``:
``sha256=`` followed by the hex HMAC-SHA256, keyed with the subscription's secret, of the
timestamp, a full stop and the exact bytes of the request body. Signing the timestamp with the
body lets a receiver refuse a captured delivery replayed later.
"""

import hashlib
import hmac
import time

PREFIX = "sha256="
# How far the timestamp may be from the receiver's clock, in seconds, by default.
TOLERANCE_SECONDS = 300


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def sign(secret: str | bytes, timestamp: str | int, body: str | bytes) -> str:
    """The ``X-Stipula-Signature`` header of ``body`` sent at ``timestamp``."""
    message = _bytes(str(timestamp)) + b"." + _bytes(body)
    return PREFIX + hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest()


def verify(
    secret: str | bytes,
    timestamp: str | int,
    body: str | bytes,
    header: str,
    *,
    tolerance: int | None = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True if ``header`` (the ``X-Stipula-Signature`` value) signs ``body`` at ``timestamp``
    with ``secret``, and the timestamp is within ``tolerance`` seconds of ``now`` (None: do not
    check the time). Give the body exactly as received, before parsing it."""
    if not isinstance(header, str) or not header.startswith(PREFIX):
        return False
    try:
        sent = int(str(timestamp))
    except ValueError:
        return False
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - sent) > tolerance:
            return False
    expected = sign(secret, str(timestamp), body).encode()
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))
