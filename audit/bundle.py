"""Audit bundles: the log, or part of it, with everything needed to verify it offline (A4).

A bundle is one ZIP file:

``README.txt``
    What the bundle is and how to verify it.
``events.jsonl``
    The events, one JSON object per line, by sequence number, with every stored column that the
    hash chain covers: ``seq``, ``created_at`` (canonical UTC text), ``actor_id``,
    ``actor_username``, ``actor_role``, ``action``, ``object_type``, ``object_id``,
    ``agreement_id``, ``payload`` and ``documents`` (the stored canonical JSON *text*, as strings,
    so that the bytes hashed are exactly the stored ones), ``reason``, ``request_id``,
    ``prev_hash`` and ``hash``. In a partial bundle each line also has ``proof``: the inclusion
    proof of the event under the anchor checkpoint (hex hashes, RFC 6962 order).
``manifest.json``
    ``format`` ("stipula-audit-bundle"), ``version`` (1), ``created_at``, ``scope`` (``kind``:
    "full", "range" or "agreement", with ``agreement_id``, ``from`` and ``to`` when given),
    ``events`` (file, count, first and last seq), ``anchor`` (the number of the last checkpoint:
    every event in the bundle is covered by it), ``checkpoints`` (every checkpoint up to the
    anchor, in order: ``tree_head``, ``signature``, ``timestamp_token`` in base64,
    ``signature_algorithm``, ``seal_certificate`` and ``seal_chain`` as fingerprints into
    ``certificates``, ``tsa_url``, ``timestamp_error``, and ``consistency``, the proof that it
    extends the checkpoint before it), ``certificates`` (SHA-256 fingerprint -> base64 DER), and
    for a date range ``boundaries``: the events just before and just after the range, with their
    inclusion proofs, which show that the range is complete.

A full bundle holds events 1 to the anchor's tree size: the verifier recomputes the chain and the
root of every checkpoint from them. A partial bundle (one agreement, or a date range) holds the
selected events with their proofs; a range is contiguous, so its chain links are checked too.
Events recorded after the anchor checkpoint are not in the bundle: by default a checkpoint is
made first when the latest one does not cover the whole log.

The offline verifier is ``python -m audit.verify_bundle BUNDLE [--trust-root CERT.pem]``.
"""

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import der, tree
from audit.chain import ROW_COLUMNS, format_time
from audit.checkpoints import chain_head, checkpoint_make, latest_checkpoint
from audit.exports import (
    EventFilter,
    HashingWriter,
    Progress,
    count_events,
    iter_events,
    require_auditor,
)
from audit.models import AuditAction, AuditEvent, Checkpoint
from stipula.errors import NotFound

BUNDLE_FORMAT = "stipula-audit-bundle"
BUNDLE_VERSION = 1
EVENTS_FILE = "events.jsonl"
MANIFEST_FILE = "manifest.json"
README_FILE = "README.txt"
CONTENT_TYPE = "application/zip"

README = """Stipula audit bundle
====================

This file holds events of the Stipula audit log with the checkpoints that cover them: signed,
timestamped Merkle tree heads (RFC 6962 hashing, RFC 3161 timestamps).

events.jsonl   the events, one JSON object per line
manifest.json  the scope, the checkpoints, their timestamp tokens, the seal certificates, and
               the proofs

To verify it, with Python 3.11 and the `cryptography` package, from a copy of Stipula's source:

    python -m audit.verify_bundle THIS_FILE.zip --trust-root ROOT-CA.pem

It recomputes every event's hash and the hash chain, the Merkle roots and the proofs, checks
each checkpoint's seal signature and timestamp token, and prints PASS or the first thing that
fails. Give the certificate of the certification authority you trust for the seal and the
timestamp service as --trust-root (several times if needed); without it, the signatures are
checked with the certificates in the bundle, but nothing says who holds their keys.
"""


def event_record(row: tuple) -> dict:
    """An event (ROW_COLUMNS tuple) as a bundle line: the stored columns, time in canonical text."""
    record = dict(zip(ROW_COLUMNS, row, strict=True))
    record["created_at"] = format_time(row[1])
    return record


def _line(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _b64(data) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _chain_ders(data: bytes) -> list[bytes]:
    """The DER certificates stored one after the other in Checkpoint.seal_chain."""
    return [element.raw for element in der.parse_all(data)]


@dataclass(frozen=True)
class BundleResult:
    kind: str
    events: int
    first_seq: int | None
    last_seq: int | None
    checkpoint: int
    tree_size: int
    sha256: str
    size: int
    event_seq: int | None = None  # the AUDIT_BUNDLE_EXPORTED event


def _scope(agreement_id, start: datetime | None, end: datetime | None) -> dict:
    scope: dict = {"kind": "full"}
    if agreement_id is not None:
        scope = {"kind": "agreement", "agreement_id": int(agreement_id)}
    elif start is not None or end is not None:
        scope = {"kind": "range"}
    if start is not None:
        scope["from"] = format_time(start)
    if end is not None:
        scope["to"] = format_time(end)
    return scope


def _range_bounds(start, end, tree_size: int) -> tuple[int, int]:
    """The contiguous events [first, last] of a date range, within the anchor's tree: from the
    first event at or after ``start`` to the last one before ``end``."""
    events = AuditEvent.objects.filter(seq__lte=tree_size)
    first = events
    if start is not None:
        first = first.filter(created_at__gte=start)
    first_seq = first.order_by("seq").values_list("seq", flat=True).first()
    last = events
    if end is not None:
        last = last.filter(created_at__lt=end)
    last_seq = last.order_by("-seq").values_list("seq", flat=True).first()
    if first_seq is None:
        # Nothing at or after the start: an empty range after the last event.
        return tree_size + 1, tree_size
    if last_seq is None or last_seq < first_seq:
        return first_seq, first_seq - 1
    return first_seq, last_seq


def _anchor(actor, make_checkpoint: bool) -> Checkpoint:
    latest = latest_checkpoint()
    head_seq, _hash = chain_head()
    if make_checkpoint and (latest is None or latest.tree_size < head_seq):
        latest = checkpoint_make(actor=actor, reason="audit bundle")
    if latest is None:
        raise NotFound(
            _("There is no audit checkpoint yet: make one with `manage.py audit_checkpoint`.")
        )
    return latest


def _checkpoint_entry(checkpoint: Checkpoint, certificates: dict) -> dict:
    seal = bytes(checkpoint.seal_certificate)
    certificates[_fingerprint(seal)] = _b64(seal)
    chain = []
    for ca in _chain_ders(bytes(checkpoint.seal_chain)):
        certificates[_fingerprint(ca)] = _b64(ca)
        chain.append(_fingerprint(ca))
    return {
        "number": checkpoint.number,
        "tree_head": _b64(checkpoint.tree_head),
        "signature": _b64(checkpoint.signature),
        "signature_algorithm": checkpoint.signature_algorithm,
        "seal_certificate": _fingerprint(seal),
        "seal_chain": chain,
        "tsa_url": checkpoint.tsa_url,
        "timestamp_token": _b64(checkpoint.timestamp_token) if checkpoint.timestamp_token else None,
        "timestamp_error": checkpoint.timestamp_error,
    }


def bundle_write(
    file,
    *,
    actor=None,
    agreement_id: int | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    make_checkpoint: bool = True,
    progress: Progress | None = None,
) -> BundleResult:
    """Write an audit bundle (see the module docstring) to the binary file object ``file``.

    No filter: the whole log up to the anchor checkpoint. ``agreement_id``: that agreement's
    events (within ``date_from``/``date_to`` when given). Only dates: the events of that period
    (inclusive dates in Europe/Rome, or aware datetimes with ``date_to`` exclusive). With
    ``make_checkpoint`` a checkpoint is made first unless the latest covers every event.
    ``progress(done, total)`` is called as events are written. Records AUDIT_BUNDLE_EXPORTED
    (``actor`` None for the command line); ``actor``, when given, must be an auditor or an
    administrator. Runs no transaction while it writes: call it from a background job.
    """
    require_auditor(actor, "audit.bundle")
    filters = EventFilter(agreement_id=agreement_id, date_from=date_from, date_to=date_to)
    anchor = _anchor(actor, make_checkpoint)
    size = anchor.tree_size
    scope = _scope(agreement_id, filters.start, filters.end)
    kind = scope["kind"]
    after_seq = 0
    if kind == "full":
        selection = EventFilter(max_seq=size)
        total = size
    elif kind == "range":
        first, last = _range_bounds(filters.start, filters.end, size)
        selection = EventFilter(max_seq=last)
        after_seq = first - 1
        total = max(0, last - first + 1)
    else:
        selection = EventFilter(
            agreement_id=agreement_id,
            date_from=filters.start,
            date_to=filters.end,
            max_seq=size,
        )
        total = count_events(selection)
    if progress is not None:
        progress(0, total)

    reader = tree.TreeReader()
    out = HashingWriter(file)
    count, first_seq, last_seq = 0, None, None
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(README_FILE, README)
        with archive.open(EVENTS_FILE, "w", force_zip64=True) as events:
            for batch in iter_events(selection, after_seq=after_seq):
                lines = []
                for row in batch:
                    record = event_record(row)
                    if kind != "full":
                        record["proof"] = [
                            node.hex() for node in reader.inclusion_proof(row[0] - 1, size)
                        ]
                    lines.append(_line(record))
                events.write(b"".join(lines))
                first_seq = batch[0][0] if first_seq is None else first_seq
                last_seq = batch[-1][0]
                count += len(batch)
                if progress is not None:
                    progress(min(count, total), total)
        manifest = {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "created_at": format_time(timezone.now()),
            "scope": scope,
            "events": {
                "file": EVENTS_FILE,
                "count": count,
                "first_seq": first_seq,
                "last_seq": last_seq,
            },
            "anchor": anchor.number,
        }
        if kind == "range":
            manifest["boundaries"] = _boundaries(reader, after_seq, last_seq or after_seq, size)
        certificates: dict[str, str] = {}
        entries, previous = [], None
        for checkpoint in Checkpoint.objects.filter(number__lte=anchor.number).order_by("number"):
            entry = _checkpoint_entry(checkpoint, certificates)
            old_size = previous.tree_size if previous is not None else 0
            entry["consistency"] = [
                node.hex() for node in reader.consistency_proof(old_size, checkpoint.tree_size)
            ]
            entries.append(entry)
            previous = checkpoint
        manifest["checkpoints"] = entries
        manifest["certificates"] = certificates
        archive.writestr(
            MANIFEST_FILE, json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True)
        )
    out.flush()
    digest = out.sha256.hexdigest()
    from audit.services import record_event

    with transaction.atomic(durable=not connection.in_atomic_block):
        event = record_event(
            actor=actor,
            action=AuditAction.AUDIT_BUNDLE_EXPORTED,
            object_type="audit.bundle",
            agreement_id=agreement_id,
            payload={
                "scope": scope,
                "events": count,
                "first_seq": first_seq,
                "last_seq": last_seq,
                "checkpoint": anchor.number,
                "tree_size": size,
                "sha256": digest,
                "bytes": out.size,
            },
        )
    return BundleResult(
        kind, count, first_seq, last_seq, anchor.number, size, digest, out.size, event.seq
    )


def _boundaries(reader: tree.TreeReader, before_seq: int, last_seq: int, size: int) -> dict:
    """The events just outside a range [before_seq + 1, last_seq], with their proofs."""
    found = {}
    for name, seq in (("before", before_seq), ("after", last_seq + 1)):
        if not 1 <= seq <= size:
            found[name] = None
            continue
        row = tree.event_rows(seq, seq)[0]
        record = event_record(row)
        record["proof"] = [node.hex() for node in reader.inclusion_proof(seq - 1, size)]
        found[name] = record
    return found


def bundle_filename(result: BundleResult | None = None, when: datetime | None = None) -> str:
    moment = timezone.localtime(when or timezone.now())
    return f"stipula-audit-bundle-{moment:%Y%m%d-%H%M%S}.zip"
