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
    """The event time as canonical text: UTC, microseconds, a "Z" (2026-11-25T10:30:00.000005Z).

    Aware datetimes are converted to UTC; naive ones are taken as UTC already (SQLite hands them
    back so, and the verifier reads PostgreSQL's ``created_at AT TIME ZONE 'UTC'``).
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if value.microsecond and value.year >= 1000:
        # isoformat() is several times faster than strftime() and, for a naive datetime with
        # microseconds and a four-digit year, gives the very same text.
        return value.isoformat() + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    """Canonical serialisation of one event; ``payload`` and ``documents`` are canonical JSON.

    One f-string (a single concatenation in the interpreter), because the verifier runs this once
    per event of the whole log.
    """
    return (
        f'{{"action":{encode_basestring(action)}'
        f',"actor_id":{"null" if actor_id is None else int(actor_id)}'
        f',"actor_role":{encode_basestring(actor_role)}'
        f',"actor_username":{encode_basestring(actor_username)}'
        f',"agreement_id":{"null" if agreement_id is None else int(agreement_id)}'
        f',"created_at":"{format_time(created_at)}"'
        f',"documents":{documents}'
        f',"object_id":{encode_basestring(object_id)}'
        f',"object_type":{encode_basestring(object_type)}'
        f',"payload":{payload}'
        f',"reason":{encode_basestring(reason)}'
        f',"request_id":{encode_basestring(request_id)}'
        f',"seq":{seq}}}'
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
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    # Unpacked in the loop header and passed positionally: this loop runs once per event.
    for (
        seq,
        created_at,
        actor_id,
        actor_username,
        actor_role,
        action,
        object_type,
        object_id,
        agreement_id,
        payload,
        documents,
        reason,
        request_id,
        prev_hash,
        hash_,
    ) in rows:
        if seq != expected_seq:
            raise ChainBroken(
                expected_seq,
                f"missing: found event {seq} where event {expected_seq} was expected",
            )
        if prev_hash != prev:
            raise ChainBroken(
                seq, "its previous hash does not match the hash of the event before it"
            )
        body = canonical_bytes(
            seq,
            created_at,
            actor_id,
            actor_username,
            actor_role,
            action,
            object_type,
            object_id,
            agreement_id,
            payload,
            documents,
            reason,
            request_id,
        )
        computed = sha256(fromhex(prev) + body).hexdigest()
        if computed != hash_:
            raise ChainBroken(
                seq, f"stored hash {hash_} does not match the recomputed hash {computed}"
            )
        prev = computed
        expected_seq += 1
    return expected_seq - start_seq, prev
