"""The signed tree head of a checkpoint: its bytes, its signature and what is timestamped.

Standard library and ``cryptography`` only (the offline verifier imports it).

The tree head is canonical JSON (sorted keys, compact, UTF-8), for example::

    {"head_hash":"9f2c...","number":12,"root_hash":"4b1e...","time":"2026-11-25T10:30:00.000005Z",
     "tree_size":5210,"type":"stipula.audit.tree_head/v1"}

``root_hash`` is the RFC 6962 Merkle root over events 1..tree_size (audit.merkle), ``head_hash``
the hash-chain hash of event ``tree_size`` (audit.chain; 64 zeros for an empty log), ``number``
the checkpoint's number (1, 2, 3... with no gaps), ``time`` when it was made (UTC). The ``type``
keeps the seal's signature over a tree head from being mistaken for anything else it signs.

The seal signs these bytes with SHA-256 (RSA PKCS#1 v1.5, ECDSA or Ed25519). The RFC 3161 token
timestamps the signed tree head: its message imprint is the hash of the tree head bytes followed
by the signature bytes (:func:`timestamp_message`).
"""

import json
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from audit.chain import canonical_json, format_time

TREE_HEAD_TYPE = "stipula.audit.tree_head/v1"
RSA_SHA256 = "rsa-pkcs1v15-sha256"
ECDSA_SHA256 = "ecdsa-sha256"
ED25519 = "ed25519"
_HEX = frozenset("0123456789abcdef")


class TreeHeadError(ValueError):
    """A tree head that cannot be read, or a signature that does not verify."""


def tree_head_bytes(
    *, number: int, tree_size: int, root_hash: str, head_hash: str, time: datetime
) -> bytes:
    return canonical_json(
        {
            "head_hash": head_hash,
            "number": number,
            "root_hash": root_hash,
            "time": format_time(time),
            "tree_size": tree_size,
            "type": TREE_HEAD_TYPE,
        }
    ).encode()


def parse_tree_head(data: bytes) -> dict:
    """The tree head's fields, checked for form: it must be exactly what tree_head_bytes makes."""
    try:
        head = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise TreeHeadError(f"the tree head is not JSON ({e})") from e
    if not isinstance(head, dict) or head.get("type") != TREE_HEAD_TYPE:
        raise TreeHeadError(f"the tree head is not of type {TREE_HEAD_TYPE}")
    if set(head) != {"head_hash", "number", "root_hash", "time", "tree_size", "type"}:
        raise TreeHeadError("the tree head has other fields than a v1 tree head")
    for name in ("number", "tree_size"):
        if not isinstance(head[name], int) or isinstance(head[name], bool) or head[name] < 0:
            raise TreeHeadError(f"the tree head's {name} is not a number")
    for name in ("root_hash", "head_hash"):
        value = head[name]
        if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
            raise TreeHeadError(f"the tree head's {name} is not a SHA-256 hash in hex")
    try:
        moment = datetime.fromisoformat(head["time"].replace("Z", "+00:00"))
    except (AttributeError, ValueError) as e:
        raise TreeHeadError("the tree head's time is not an ISO time") from e
    if (
        tree_head_bytes(
            number=head["number"],
            tree_size=head["tree_size"],
            root_hash=head["root_hash"],
            head_hash=head["head_hash"],
            time=moment,
        )
        != data
    ):
        raise TreeHeadError("the tree head is not in canonical form")
    head["time"] = moment
    return head


def timestamp_message(tree_head: bytes, signature: bytes) -> bytes:
    """What the RFC 3161 token's message imprint is the hash of: the signed tree head."""
    return tree_head + signature


def signature_algorithm_for(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSA_SHA256
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ECDSA_SHA256
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ED25519
    raise TreeHeadError(f"unsupported seal key type {type(public_key).__name__}")


def verify_signature(
    certificate: x509.Certificate, algorithm: str, data: bytes, signature: bytes
) -> None:
    """Raise TreeHeadError unless ``signature`` over ``data`` verifies with the certificate's
    key under ``algorithm``."""
    key = certificate.public_key()
    if signature_algorithm_for(key) != algorithm:
        raise TreeHeadError(
            f"the signature algorithm {algorithm!r} does not fit the seal certificate's key"
        )
    try:
        if algorithm == RSA_SHA256:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == ECDSA_SHA256:
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, data)
    except InvalidSignature as e:
        raise TreeHeadError("the seal's signature over the tree head does not verify") from e
