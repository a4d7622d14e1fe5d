"""The hash chain of the audit log (RULES.md A1, A2).

Each event's hash is SHA-256 over the previous event's hash (32 raw bytes; 32 zero bytes before
the first event) followed by the event's canonical serialisation: JSON with sorted keys, no
insignificant whitespace, UTF-8, non-ASCII characters unescaped. That is exactly
``json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`` of the
body below, so an offline verifier needs nothing but the standard library. The payload and the
document hashes are stored already in canonical form and are spliced in as they are: the writer
and the verifier both go through :func:`canonical_bytes`, and both hash the stored text.
"""

import hashlib
import json
from datetime import UTC, datetime
from json.encoder import encode_basestring  # the C-accelerated encoder for ensure_ascii=False

GENESIS_HASH = "0" * 64


def canonical_json(value) -> str:
    """Canonical JSON text of a payload: sorted keys, compact, UTF-8, no floats."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _str(value: str) -> str:
    return encode_basestring(value)


def _int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def format_time(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive datetimes, stored in UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Keys in sorted order; canonical_bytes writes them in this order.
FIELDS = (
    "action",
    "actor_id",
    "actor_role",
    "actor_username",
    "agreement_id",
    "created_at",
    "documents",
    "object_id",
    "object_type",
    "payload",
    "reason",
    "request_id",
    "seq",
)


def canonical_bytes(
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    actor_username: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str,
    agreement_id: int | None,
    payload: str,
    documents: str,
    reason: str,
    request_id: str,
) -> bytes:
    """Canonical serialisation of one event; ``payload`` and ``documents`` are canonical JSON."""
    return (
        '{"action":'
        + _str(action)
        + ',"actor_id":'
        + _int(actor_id)
        + ',"actor_role":'
        + _str(actor_role)
        + ',"actor_username":'
        + _str(actor_username)
        + ',"agreement_id":'
        + _int(agreement_id)
        + ',"created_at":'
        + _str(format_time(created_at))
        + ',"documents":'
        + documents
        + ',"object_id":'
        + _str(object_id)
        + ',"object_type":'
        + _str(object_type)
        + ',"payload":'
        + payload
        + ',"reason":'
        + _str(reason)
        + ',"request_id":'
        + _str(request_id)
        + ',"seq":'
        + str(seq)
        + "}"
    ).encode()


def event_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


# The columns, in canonical_bytes' argument order, followed by the stored prev_hash and hash.
ROW_COLUMNS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_username",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "agreement_id",
    "payload",
    "documents",
    "reason",
    "request_id",
    "prev_hash",
    "hash",
)


class ChainBroken(Exception):
    def __init__(self, seq: int, problem: str):
        self.seq = seq
        self.problem = problem
        super().__init__(f"event {seq}: {problem}")


def verify_rows(rows, *, start_seq: int = 1, start_hash: str = GENESIS_HASH):
    """Walk rows (tuples in ROW_COLUMNS order, by seq) and return (count, head hash).

    Raises ChainBroken naming the first event that is missing, out of place or whose hash does not
    match. Works on any iterable, so the caller decides how to stream the rows.
    """
    expected_seq = start_seq
    prev = start_hash
    count = 0
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    for row in rows:
        seq = row[0]
        if seq != expected_seq:
            raise ChainBroken(
                expected_seq,
                f"missing: found event {seq} where event {expected_seq} was expected",
            )
        if row[13] != prev:
            raise ChainBroken(seq, "its previous hash does not match the hash of the event before it")
        computed = sha256(fromhex(prev) + canonical_bytes(*row[:13])).hexdigest()
        if computed != row[14]:
            raise ChainBroken(
                seq, f"stored hash {row[14]} does not match the recomputed hash {computed}"
            )
        prev = computed
        expected_seq += 1
        count += 1
    return count, prev
