"""Verify a Stipula audit bundle offline, without Django and without the database.

    python -m audit.verify_bundle BUNDLE.zip [--trust-root CERT.pem ...]

Needs only the standard library and ``cryptography``, with the Django-free modules of this
package beside it: audit.chain (the canonical serialisation the log is hashed with),
audit.merkle, audit.logcheck, audit.treehead, audit.rfc3161 and audit.der. It checks, in order:

1. every checkpoint, oldest first: numbered 1, 2, 3... with no gap; its tree head well formed; the
   seal's signature over it; the seal certificate valid at the checkpoint's time; its RFC 3161
   token (message imprint over the signed tree head, the TSA's CMS signature over the signed
   attributes, the TSA certificate's timeStamping usage and validity) and that the token's
   time is not before the tree head's; and its consistency proof from the checkpoint before;
2. with ``--trust-root``: that the seal's and the TSA's certificates chain to a trust root;
3. the events: each event's hash recomputed from its canonical bytes and its previous hash.
   A full bundle must hold events 1 to the anchor checkpoint's tree size with no gap, and the
   Merkle root and chain head of every checkpoint are recomputed from them. A partial bundle's
   events must each come with an inclusion proof under the anchor checkpoint; a date range must
   be contiguous, linked by its hashes, and bounded by the events just outside it.

Prints ``PASS: ...`` (exit status 0) or ``FAIL: `` and the first thing that fails (exit status 1;
2 when the bundle cannot be read at all). Notes (``note: ...``) say what was not checked.
Revocation of the certificates is not checked offline.
"""

import argparse
import base64
import binascii
import hashlib
import json
import sys
import zipfile
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from audit import rfc3161
from audit.chain import GENESIS_HASH, ROW_COLUMNS, canonical_bytes, format_time
from audit.logcheck import Expected, LogBroken, RootMismatch, walk
from audit.merkle import (
    EMPTY_ROOT,
    ProofError,
    TreeBuilder,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from audit.treehead import TreeHeadError, parse_tree_head, timestamp_message, verify_signature

BUNDLE_FORMAT = "stipula-audit-bundle"
SUPPORTED_VERSIONS = {1}
# How far a token's time may precede the tree head's time (clocks of two machines).
CLOCK_SKEW = timedelta(minutes=5)
_HEX = frozenset("0123456789abcdef")
_STRING_FIELDS = (
    "actor_username",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "payload",
    "documents",
    "reason",
    "request_id",
)


class Failure(Exception):
    """The first thing in the bundle that does not verify."""


class Unreadable(Exception):
    """The bundle cannot be read at all."""


def _decode(text, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError) as e:
        raise Failure(f"{what} is not valid base64") from e


def _hex_hash(value, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise Failure(f"{what} is not a SHA-256 hash in hex")
    return bytes.fromhex(value)


def _proof(value, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise Failure(f"{what} is missing")
    return [_hex_hash(node, f"{what}, element {i}") for i, node in enumerate(value)]


def load_trust_roots(paths) -> list[x509.Certificate]:
    roots = []
    for path in paths:
        with open(path, "rb") as file:
            data = file.read()
        if b"-----BEGIN CERTIFICATE-----" in data:
            roots.extend(x509.load_pem_x509_certificates(data))
        else:
            roots.append(x509.load_der_x509_certificate(data))
    return roots


def _valid_at(certificate: x509.Certificate, moment: datetime) -> bool:
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


def chain_to_root(
    certificate: x509.Certificate,
    pool: list[x509.Certificate],
    roots: list[x509.Certificate],
    moment: datetime,
) -> list[x509.Certificate]:
    """The path from ``certificate`` to one of ``roots`` through ``pool``, each certificate
    signed by the next and valid at ``moment``; raises Failure saying where it breaks."""
    path = [certificate]
    current = certificate
    for _depth in range(10):
        if not _valid_at(current, moment):
            raise Failure(
                f"the certificate {current.subject.rfc4514_string()} was not valid at {moment}"
            )
        if current in roots:
            return path
        for issuer in [*roots, *pool]:
            if issuer.subject != current.issuer or issuer == current:
                continue
            try:
                current.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                continue
            if issuer not in roots:
                try:
                    constraints = issuer.extensions.get_extension_for_class(
                        x509.BasicConstraints
                    ).value
                except x509.ExtensionNotFound:
                    constraints = None
                if constraints is None or not constraints.ca:
                    continue
            path.append(issuer)
            if issuer in roots:
                if not _valid_at(issuer, moment):
                    raise Failure(
                        f"the trust root {issuer.subject.rfc4514_string()} was not valid at "
                        f"{moment}"
                    )
                return path
            current = issuer
            break
        else:
            raise Failure(
                f"the certificate {certificate.subject.rfc4514_string()} does not chain to a "
                f"trust root (no trusted issuer for {current.subject.rfc4514_string()})"
            )
    raise Failure(f"the chain of {certificate.subject.rfc4514_string()} is too long")


class Report:
    def __init__(self, out=None):
        self.notes: list[str] = []
        self.out = out or sys.stdout

    def note(self, text: str) -> None:
        self.notes.append(text)


def _read_manifest(archive: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
    except KeyError as e:
        raise Unreadable("the bundle has no manifest.json") from e
    except (UnicodeDecodeError, ValueError) as e:
        raise Unreadable(f"manifest.json is not JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise Unreadable("this is not a Stipula audit bundle (manifest format)")
    if manifest.get("version") not in SUPPORTED_VERSIONS:
        raise Unreadable(f"unsupported bundle version {manifest.get('version')!r}")
    return manifest


def _certificates(manifest: dict) -> dict[str, x509.Certificate]:
    found = {}
    for fingerprint, encoded in (manifest.get("certificates") or {}).items():
        der = _decode(encoded, f"certificate {fingerprint}")
        if hashlib.sha256(der).hexdigest() != fingerprint:
            raise Failure(f"certificate {fingerprint}: its fingerprint does not match its bytes")
        try:
            found[fingerprint] = x509.load_der_x509_certificate(der)
        except ValueError as e:
            raise Failure(f"certificate {fingerprint} is not a certificate ({e})") from e
    return found


def _check_checkpoints(manifest, certificates, roots, report) -> list[dict]:
    entries = manifest.get("checkpoints")
    if not isinstance(entries, list) or not entries:
        raise Failure("the bundle has no checkpoint")
    heads: list[dict] = []
    for position, entry in enumerate(entries, 1):
        where = f"checkpoint entry {position}"
        if not isinstance(entry, dict):
            raise Failure(f"{where} is malformed")
        head_bytes = _decode(entry.get("tree_head"), f"{where}: tree head")
        try:
            head = parse_tree_head(head_bytes)
        except TreeHeadError as e:
            raise Failure(f"{where}: {e}") from e
        label = f"checkpoint #{head['number']}"
        if head["number"] != position:
            raise Failure(
                f"{where} is {label} where checkpoint #{position} was expected: checkpoints were "
                "removed, inserted, reordered or swapped"
            )
        if entry.get("number") not in (None, head["number"]):
            raise Failure(
                f"{where} is listed as checkpoint #{entry.get('number')} but signed as {label}"
            )
        fingerprint = entry.get("seal_certificate")
        seal = certificates.get(fingerprint)
        if seal is None:
            raise Failure(f"{label}: its seal certificate is not in the bundle")
        signature = _decode(entry.get("signature"), f"{label}: signature")
        try:
            verify_signature(seal, entry.get("signature_algorithm", ""), head_bytes, signature)
        except TreeHeadError as e:
            raise Failure(f"{label}: {e}") from e
        if not _valid_at(seal, head["time"]):
            raise Failure(
                f"{label}: the seal certificate was not valid at the checkpoint's time "
                f"({format_time(head['time'])})"
            )
        chain = [certificates[fp] for fp in entry.get("seal_chain") or [] if fp in certificates]
        if roots:
            try:
                chain_to_root(seal, chain, roots, head["time"])
            except Failure as e:
                raise Failure(f"{label}: seal: {e}") from e
        token = entry.get("timestamp_token")
        head["timestamp"] = None
        if token:
            try:
                info = rfc3161.verify_token(
                    _decode(token, f"{label}: timestamp token"),
                    timestamp_message(head_bytes, signature),
                )
            except rfc3161.TimestampError as e:
                raise Failure(f"{label}: timestamp token: {e}") from e
            if info.gen_time < head["time"] - CLOCK_SKEW:
                raise Failure(
                    f"{label}: the timestamp ({format_time(info.gen_time)}) is earlier than the "
                    f"tree head's time ({format_time(head['time'])})"
                )
            if roots:
                try:
                    chain_to_root(info.tsa_certificate, info.certificates, roots, info.gen_time)
                except Failure as e:
                    raise Failure(f"{label}: timestamp authority: {e}") from e
            head["timestamp"] = info
        else:
            report.note(
                f"{label} has no timestamp token"
                + (f" ({entry['timestamp_error']})" if entry.get("timestamp_error") else "")
            )
        previous = heads[-1] if heads else None
        old_size = previous["tree_size"] if previous else 0
        old_root = bytes.fromhex(previous["root_hash"]) if previous else EMPTY_ROOT
        if head["tree_size"] < old_size:
            raise Failure(
                f"{label} covers {head['tree_size']} events, fewer than checkpoint "
                f"#{previous['number']} ({old_size}): the log shrank"
            )
        try:
            verify_consistency(
                old_size,
                head["tree_size"],
                old_root,
                bytes.fromhex(head["root_hash"]),
                _proof(entry.get("consistency"), f"{label}: consistency proof"),
            )
        except ProofError as e:
            raise Failure(
                f"{label} does not extend the checkpoint before it (consistency proof: {e})"
            ) from e
        head["seal"] = seal
        heads.append(head)
    if not roots:
        report.note(
            "the seal and timestamp certificates were not checked against a trust root "
            "(--trust-root): the signatures verify, but nothing here says who holds the keys"
        )
    return heads


def _row(record, line_number: int) -> tuple:
    """A bundle line as a tuple in ROW_COLUMNS order (created_at parsed), checked for form."""
    if not isinstance(record, dict):
        raise Failure(f"events.jsonl line {line_number} is not a JSON object")
    try:
        values = [record[name] for name in ROW_COLUMNS]
    except KeyError as e:
        raise Failure(f"events.jsonl line {line_number} has no {e.args[0]}") from e
    seq = values[0]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise Failure(f"events.jsonl line {line_number}: seq is not a positive number")
    where = f"event {seq}"
    for name in ("actor_id", "agreement_id"):
        value = record[name]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise Failure(f"{where}: {name} is not a number")
    for name in _STRING_FIELDS:
        if not isinstance(record[name], str):
            raise Failure(f"{where}: {name} is not text")
    text = record["created_at"]
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as e:
        raise Failure(f"{where}: created_at is not a time") from e
    if format_time(moment) != text:
        raise Failure(f"{where}: created_at is not in canonical form ({text})")
    values[1] = moment
    for index in (13, 14):
        _hex_hash(values[index], f"{where}: {ROW_COLUMNS[index]}")
    return tuple(values)


def _lines(archive: zipfile.ZipFile, name: str):
    try:
        handle = archive.open(name)
    except KeyError as e:
        raise Failure(f"the bundle has no {name}") from e
    with handle:
        for line_number, raw in enumerate(handle, 1):
            try:
                record = json.loads(raw)
            except ValueError as e:
                raise Failure(f"{name} line {line_number} is not JSON") from e
            yield line_number, record


def _locate(archive, name: str, missing_seq: int, found_seq: int) -> str:
    """Tell a missing event from one out of order: is it further down the file?"""
    for _line_number, record in _lines(archive, name):
        if isinstance(record, dict) and record.get("seq") == missing_seq:
            return (
                f"event {missing_seq} is out of order: it comes after event {found_seq} "
                "(events were reordered)"
            )
    return (
        f"event {missing_seq} is missing: the bundle goes from event {missing_seq - 1} to "
        f"{found_seq}"
    )


def _explain(archive, broken: LogBroken) -> str:
    """Name what happened at the first broken event: missing, out of order, repeated, altered."""
    problem = broken.problem
    if problem.startswith("missing: found event "):
        found = int(problem.removeprefix("missing: found event ").split(" ")[0])
        return _locate(archive, "events.jsonl", broken.seq, found)
    if problem.startswith("out of order or repeated: found after event "):
        after = int(problem.removeprefix("out of order or repeated: found after event "))
        if after == broken.seq:
            return f"event {broken.seq} appears twice: an event was inserted or repeated"
        return f"event {broken.seq} is out of order: it comes after event {after}"
    return f"event {broken.seq}: {problem}"


def _check_full(archive, manifest, heads, report) -> tuple[int, str]:
    anchor = heads[-1]
    size = anchor["tree_size"]
    expected = [
        Expected(
            head["tree_size"],
            bytes.fromhex(head["root_hash"]),
            head["head_hash"],
            f"checkpoint #{head['number']}",
        )
        for head in heads
    ]
    rows = (_row(record, number) for number, record in _lines(archive, "events.jsonl"))
    builder = TreeBuilder()
    try:
        count, head_hash = walk(rows, tree=builder, expected=expected)
    except LogBroken as broken:
        raise Failure(_explain(archive, broken)) from broken
    except RootMismatch as mismatch:
        raise Failure(
            f"{mismatch.label}: {mismatch.problem}: events 1-{mismatch.size} are not the events "
            "it signed (an event was inserted, removed or changed and the chain rewritten)"
        ) from mismatch
    if count < size:
        raise Failure(
            f"the events end at event {count}, but checkpoint #{anchor['number']} covers events 1 "
            f"to {size}: events {count + 1} to {size} are missing (the bundle was truncated)"
        )
    if count > size:
        raise Failure(
            f"the bundle has {count} events, more than checkpoint #{anchor['number']} covers "
            f"({size}): events after {size} are not covered by any checkpoint"
        )
    return count, head_hash


def _event_hash(row: tuple) -> tuple[bytes, str]:
    body = canonical_bytes(*row[:13])
    return leaf_hash(body), hashlib.sha256(bytes.fromhex(row[13]) + body).hexdigest()


def _check_included(row, record, anchor, what: str) -> None:
    seq = row[0]
    leaf, computed = _event_hash(row)
    if computed != row[14]:
        raise Failure(
            f"{what} {seq}: stored hash {row[14]} does not match the recomputed hash {computed}"
        )
    if seq > anchor["tree_size"]:
        raise Failure(
            f"{what} {seq} is not covered by checkpoint #{anchor['number']} "
            f"(events 1 to {anchor['tree_size']})"
        )
    try:
        verify_inclusion(
            seq - 1,
            anchor["tree_size"],
            leaf,
            _proof(record.get("proof"), f"{what} {seq}: inclusion proof"),
            bytes.fromhex(anchor["root_hash"]),
        )
    except ProofError as e:
        raise Failure(
            f"{what} {seq} is not in checkpoint #{anchor['number']}'s tree: {e} (the event was "
            "changed, or the proof is wrong)"
        ) from e


def _check_partial(archive, manifest, heads, report) -> tuple[int, str]:
    anchor = heads[-1]
    scope = manifest.get("scope") or {}
    contiguous = scope.get("kind") == "range"
    count, previous, first = 0, None, None
    for line_number, record in _lines(archive, "events.jsonl"):
        row = _row(record, line_number)
        seq = row[0]
        if previous is not None:
            if seq <= previous[0]:
                raise Failure(
                    f"event {seq} comes after event {previous[0]}: events were reordered or "
                    "repeated"
                )
            if contiguous and seq != previous[0] + 1:
                raise Failure(
                    f"event {previous[0] + 1} is missing: the range goes from event "
                    f"{previous[0]} to {seq}"
                )
            if contiguous and row[13] != previous[14]:
                raise Failure(
                    f"event {seq}: its previous hash does not match the hash of the event before it"
                )
        _check_included(row, record, anchor, "event")
        first = first or row
        previous = row
        count += 1
    if contiguous:
        # Before the count: the boundaries prove completeness, the manifest's count does not.
        _check_boundaries(manifest, scope, anchor, first, previous, report)
    declared = (manifest.get("events") or {}).get("count")
    if declared is not None and declared != count:
        raise Failure(
            f"the manifest lists {declared} events but events.jsonl holds {count}: events were "
            "removed or added"
        )
    if not contiguous:
        report.note(
            "a partial bundle proves that each of its events is in the signed log, not that "
            "no event of the selection was left out: use a full bundle for that"
        )
    return count, previous[14] if previous else GENESIS_HASH


def _check_boundaries(manifest, scope, anchor, first, last, report) -> None:
    """A range is complete when the events just outside it are outside its period and linked
    to its first and last events."""
    boundaries = manifest.get("boundaries") or {}
    start = datetime.fromisoformat(scope["from"]) if scope.get("from") else None
    end = datetime.fromisoformat(scope["to"]) if scope.get("to") else None
    before, after = boundaries.get("before"), boundaries.get("after")
    if before is not None:
        row = _row(before, 0)
        _check_included(row, before, anchor, "boundary event")
        if start is not None and row[1] >= start:
            raise Failure(f"the event before the range ({row[0]}) is inside the period")
        following_prev = first[13] if first is not None else None
        if first is not None and (first[0] != row[0] + 1 or following_prev != row[14]):
            raise Failure(
                f"the range does not start right after event {row[0]}: events at its start are "
                "missing"
            )
    elif first is not None and first[0] != 1:
        raise Failure(
            f"the range starts at event {first[0]} but the event before it is not in the bundle"
        )
    if after is not None:
        row = _row(after, 0)
        _check_included(row, after, anchor, "boundary event")
        if end is not None and row[1] < end:
            raise Failure(f"the event after the range ({row[0]}) is inside the period")
        if last is not None and (row[0] != last[0] + 1 or row[13] != last[14]):
            raise Failure(
                f"the range does not end right before event {row[0]}: events at its end are "
                "missing (the bundle was truncated)"
            )
        if last is None and before is not None and row[0] != _row(before, 0)[0] + 1:
            raise Failure("the empty range's boundary events are not consecutive")
    elif last is not None and last[0] != anchor["tree_size"]:
        raise Failure(
            f"the range ends at event {last[0]} but the event after it is not in the bundle: "
            "events at its end are missing (the bundle was truncated)"
        )
    elif last is not None:
        report.note(
            f"the range reaches the end of checkpoint #{anchor['number']}'s tree (event "
            f"{anchor['tree_size']}); later events are not in this bundle"
        )


def verify(path, trust_roots: list[x509.Certificate] = (), report: Report | None = None) -> str:
    """Verify the bundle at ``path``; return the PASS summary or raise Failure / Unreadable."""
    report = report if report is not None else Report()
    roots = list(trust_roots)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise Unreadable(f"cannot open the bundle as a ZIP file ({e})") from e
    with archive:
        manifest = _read_manifest(archive)
        certificates = _certificates(manifest)
        heads = _check_checkpoints(manifest, certificates, roots, report)
        anchor = heads[-1]
        if manifest.get("anchor") not in (None, anchor["number"]):
            raise Failure(
                f"the manifest's anchor is checkpoint #{manifest.get('anchor')}, but the last "
                f"checkpoint in the bundle is #{anchor['number']}"
            )
        kind = (manifest.get("scope") or {}).get("kind")
        if kind == "full":
            count, _head = _check_full(archive, manifest, heads, report)
            what = f"all {count} events of the log up to checkpoint #{anchor['number']}"
        elif kind in ("range", "agreement"):
            count, _head = _check_partial(archive, manifest, heads, report)
            what = f"{count} events ({kind}), each included in checkpoint #{anchor['number']}"
        else:
            raise Failure(f"unknown bundle scope {kind!r}")
    stamp = anchor.get("timestamp")
    stamped = (
        f"timestamped {format_time(stamp.gen_time)} by "
        f"{stamp.tsa_certificate.subject.rfc4514_string()}"
        if stamp is not None
        else "not timestamped"
    )
    seal = anchor["seal"].subject.rfc4514_string()
    for head in heads:
        if head["seal"].issuer == head["seal"].subject:
            report.note(
                f"checkpoint #{head['number']} is sealed with a self-signed certificate ({seal})"
            )
            break
    return (
        f"{what}; {len(heads)} checkpoints, signatures, timestamps and proofs verify. "
        f"Checkpoint #{anchor['number']}: {anchor['tree_size']} events, root "
        f"{anchor['root_hash']}, sealed by {seal}, {stamped}."
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify_bundle",
        description="Verify a Stipula audit bundle offline: PASS, or the first thing that fails.",
    )
    parser.add_argument("bundle", help="the bundle (.zip) made by `manage.py audit_bundle`")
    parser.add_argument(
        "--trust-root",
        action="append",
        default=[],
        metavar="CERT",
        help="a trusted CA certificate (PEM or DER) for the seal and the timestamp authority; "
        "may be given more than once",
    )
    args = parser.parse_args(argv)
    try:
        roots = load_trust_roots(args.trust_root)
    except (OSError, ValueError) as e:
        print(f"FAIL: cannot read the trust root: {e}", file=sys.stdout)
        return 2
    report = Report()
    try:
        summary = verify(args.bundle, roots, report)
    except Unreadable as e:
        print(f"FAIL: {e}")
        return 2
    except Failure as e:
        for note in report.notes:
            print(f"note: {note}")
        print(f"FAIL: {e}")
        return 1
    for note in report.notes:
        print(f"note: {note}")
    print(f"PASS: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
