"""Checkpoints of the audit log: signed, timestamped tree heads, and the proofs under them
(RULES.md A4).

A checkpoint is the RFC 6962 Merkle root over every event so far, with the tree size and the
chain hash of the last event, in a tree head (audit.treehead) signed by the system seal and
timestamped by the RFC 3161 server. With it an auditor can check offline that an event is in the
log (inclusion proof) and that a later checkpoint extends an earlier one (consistency proof).

When checkpoints are made:

- at least daily: ``manage.py audit_checkpoint`` from any scheduler, or the Celery beat entry
  ``audit-checkpoint`` (task ``audit.make_checkpoint``, stipula/settings.py);
- at every registration: the registry calls :func:`checkpoint_after_commit` in (or right after) its
  transaction; once it commits, a checkpoint covering it is made in the web process, or by a
  Celery worker when ``STIPULA_NOTIFY_ASYNC`` is on. Registrations committed close together may
  share one checkpoint: a checkpoint already covering the registration's events is enough.

The seal is ``registry.seal.system_seal()``: the configured PKCS#12 file (``STIPULA_SEAL_PKCS12``,
``STIPULA_SEAL_PASSWORD``), else the development seal generated once under
``DATA_DIR/seal`` (self-signed, labelled "not for production" in its subject; the checkpoint's
audit event says ``development_seal: true``, and the offline verifier refuses it as untrusted
when given a trust root). The timestamp server is ``STIPULA_TSA_URL``: without one, or when it
does not answer, the checkpoint is still made and signed, without a token, and says why
(``timestamp_error``, also in its audit event); the next checkpoint's consistency proof covers it.

A checkpoint is refused (CheckpointRefused, and recorded as a refused action) when the events it
would cover do not verify, or when the log no longer gives the previous checkpoint's root: a
checkpoint never signs a log that was tampered with.
"""

import logging
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import rfc3161, tree
from audit.chain import GENESIS_HASH, canonical_bytes, format_time
from audit.logcheck import Expected, LogBroken
from audit.merkle import (
    ProofError,
    TreeBuilder,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from audit.models import AuditAction, AuditChainHead, AuditEvent, Checkpoint
from audit.services import record_event, record_refusal
from audit.treehead import signature_algorithm_for, timestamp_message, tree_head_bytes
from stipula.errors import DomainError, NotFound
from stipula.transactions import after_commit

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key that serialises checkpoint makers ("STIPAUDT").
_LOCK_KEY = 0x5354495041554454


class CheckpointRefused(DomainError):
    code = "checkpoint_refused"


def chain_head() -> tuple[int, str]:
    """(seq, hash) of the last committed event (0 and the genesis hash for an empty log)."""
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    if head is not None:
        return head
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return last if last is not None else (0, GENESIS_HASH)


def _lock() -> None:
    """One checkpoint maker at a time. PostgreSQL: a transaction-level advisory lock, so writers
    of events are not held up; SQLite: the IMMEDIATE transaction holds the write lock already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def _timestamp(message: bytes) -> tuple[str, bytes, object, str]:
    """(TSA URL, token, time, problem): the token over ``message`` from STIPULA_TSA_URL."""
    url = settings.STIPULA_TSA_URL
    if not url:
        return "", b"", None, "no timestamp server is configured (STIPULA_TSA_URL)"
    try:
        token, info = rfc3161.request_token(
            url, message, timeout=getattr(settings, "STIPULA_AUDIT_TSA_TIMEOUT", 10)
        )
    except rfc3161.TimestampError as error:
        log.warning("Audit checkpoint made without a timestamp: %s", error)
        return url, b"", None, str(error)
    return url, token, info.gen_time, ""


def _refuse(actor, error: DomainError) -> None:
    record_refusal(
        actor=actor,
        attempted="audit.checkpoint_make",
        error=error,
        object_type="audit.checkpoint",
    )
    raise error


def checkpoint_make(*, actor=None, reason: str = "", covering: int | None = None) -> Checkpoint:
    """Make a checkpoint over every event committed so far, and record CHECKPOINT_MADE.

    ``covering``: when the latest checkpoint already covers this event number, return it instead
    of making another (what registrations committed close together share). ``actor`` is None for
    the daily job and after registrations. Raises CheckpointRefused (recorded as a refused
    action) when the log does not verify, or SigningError when the seal cannot be loaded.
    """
    from registry.seal import system_seal

    try:
        with transaction.atomic(durable=True):
            _lock()
            latest = Checkpoint.objects.order_by("-number").first()
            if covering is not None and latest is not None and latest.tree_size >= covering:
                return latest
            seal = system_seal()
            size, head_hash = chain_head()
            trailing = tree.extend(size)
            reader = tree.TreeReader(trailing=trailing, tiled=size - len(trailing))
            root = reader.root(size).hex()
            if latest is not None and reader.root(latest.tree_size).hex() != latest.root_hash:
                raise CheckpointRefused(
                    _(
                        "The audit log no longer gives the root of checkpoint #%(number)d: "
                        "events it covers were changed. No checkpoint was made; run `manage.py "
                        "audit_verify` and report it."
                    )
                    % {"number": latest.number}
                )
            number = latest.number + 1 if latest is not None else 1
            now = timezone.now()
            head = tree_head_bytes(
                number=number, tree_size=size, root_hash=root, head_hash=head_hash, time=now
            )
            signature = seal.sign(head)
            url, token, stamped_at, problem = _timestamp(timestamp_message(head, signature))
            checkpoint = Checkpoint.objects.create(
                number=number,
                tree_size=size,
                root_hash=root,
                head_hash=head_hash,
                created_at=now,
                tree_head=head,
                signature=signature,
                signature_algorithm=signature_algorithm_for(seal.certificate.public_key()),
                seal_certificate=_der(seal.certificate),
                seal_chain=b"".join(_der(cert) for cert in seal.chain[1:]),
                tsa_url=url,
                timestamp_token=token,
                timestamp_time=stamped_at,
                timestamp_error=problem,
                reason=reason[:200],
            )
            record_event(
                actor=actor,
                action=AuditAction.CHECKPOINT_MADE,
                obj=checkpoint,
                object_type="audit.checkpoint",
                payload={
                    "number": number,
                    "tree_size": size,
                    "root_hash": root,
                    "head_hash": head_hash,
                    "seal": seal.subject,
                    "seal_fingerprint": seal.fingerprint,
                    "development_seal": seal.development,
                    "timestamped": bool(token),
                    "tsa_url": url,
                    "timestamp_time": format_time(stamped_at) if stamped_at else None,
                    "timestamp_error": problem,
                },
                reason=reason,
            )
            return checkpoint
    except LogBroken as broken:
        _refuse(
            actor,
            CheckpointRefused(
                _(
                    "The audit log does not verify at event %(seq)d (%(problem)s). No checkpoint "
                    "was made; run `manage.py audit_verify` and report it."
                )
                % {"seq": broken.seq, "problem": broken.problem},
                seq=broken.seq,
            ),
        )
    except DomainError as error:
        _refuse(actor, error)


def _der(certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.DER)


def checkpoint_after_commit(reason: str) -> None:
    """Once the current transaction commits, make a checkpoint covering the events recorded so
    far (call it after recording the events to cover).

    For the registry (a checkpoint at every registration, RULES.md A4). Called inside the
    transaction, or right after it (outside any transaction it runs at once). The checkpoint
    is made in this process, or by a Celery worker with ``STIPULA_NOTIFY_ASYNC``; a failure is
    logged and never undoes the committed change (the daily checkpoint covers it then). When a
    checkpoint made meanwhile covers these events already, none is made: registrations committed
    close together share one.
    """
    covering, _hash = chain_head()
    after_commit(_checkpoint_now, reason, covering)


def _checkpoint_now(reason: str, covering: int) -> None:
    if settings.STIPULA_NOTIFY_ASYNC:
        from audit.tasks import make_checkpoint

        make_checkpoint.delay(reason=reason, covering=covering)
    else:
        checkpoint_make(actor=None, reason=reason, covering=covering)


# Reads -------------------------------------------------------------------------------------


def latest_checkpoint() -> Checkpoint | None:
    """The most recent checkpoint, or None before the first."""
    return Checkpoint.objects.order_by("-number").first()


def checkpoint_get(number: int) -> Checkpoint:
    """Checkpoint ``number``; NotFound (a DomainError) when there is none."""
    checkpoint = Checkpoint.objects.filter(number=number).first()
    if checkpoint is None:
        raise NotFound(_("There is no audit checkpoint #%(number)d.") % {"number": number})
    return checkpoint


def _as_checkpoint(checkpoint: Checkpoint | int | None) -> Checkpoint:
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    if checkpoint is None:
        latest = latest_checkpoint()
        if latest is None:
            raise NotFound(
                _("There is no audit checkpoint yet: make one with `manage.py audit_checkpoint`.")
            )
        return latest
    return checkpoint_get(checkpoint)


@dataclass(frozen=True)
class InclusionProof:
    """Event ``seq`` is leaf ``seq - 1`` of checkpoint ``checkpoint``'s tree: hashing
    ``leaf_hash`` up with ``path`` (hex, bottom-up, RFC 6962) gives ``root_hash``."""

    seq: int
    checkpoint: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    path: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConsistencyProof:
    """Checkpoint ``new_checkpoint``'s tree extends ``old_checkpoint``'s (RFC 6962 2.1.2)."""

    old_checkpoint: int
    new_checkpoint: int
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def event_leaf_hash(seq: int) -> bytes:
    rows = tree.event_rows(seq, seq)
    if not rows:
        raise NotFound(_("There is no audit event %(seq)d.") % {"seq": seq})
    return leaf_hash(canonical_bytes(*rows[0][:13]))


def inclusion_proof(
    seq: int,
    *,
    checkpoint: Checkpoint | int | None = None,
    reader: tree.TreeReader | None = None,
) -> InclusionProof:
    """Proof that event ``seq`` is in the tree of ``checkpoint`` (a Checkpoint, its number, or
    None for the latest). The proof is checked against the checkpoint's root before it is
    returned: CheckpointRefused says so when the stored log no longer matches the checkpoint.
    Pass one ``reader`` (audit.tree.TreeReader) for many proofs: it keeps the tiles it read.
    """
    checkpoint = _as_checkpoint(checkpoint)
    if not 1 <= seq <= checkpoint.tree_size:
        raise DomainError(
            _(
                "Event %(seq)d is not covered by checkpoint #%(number)d, which covers events 1 to "
                "%(size)d: use a later checkpoint, or make one."
            )
            % {"seq": seq, "number": checkpoint.number, "size": checkpoint.tree_size}
        )
    reader = reader or tree.TreeReader()
    leaf = event_leaf_hash(seq)
    path = reader.inclusion_proof(seq - 1, checkpoint.tree_size)
    try:
        verify_inclusion(
            seq - 1, checkpoint.tree_size, leaf, path, bytes.fromhex(checkpoint.root_hash)
        )
    except ProofError as error:
        raise CheckpointRefused(
            _(
                "Event %(seq)d as stored is not the event checkpoint #%(number)d signed "
                "(%(problem)s): the log was changed."
            )
            % {"seq": seq, "number": checkpoint.number, "problem": error}
        ) from error
    return InclusionProof(
        seq=seq,
        checkpoint=checkpoint.number,
        tree_size=checkpoint.tree_size,
        leaf_hash=leaf.hex(),
        root_hash=checkpoint.root_hash,
        path=[node.hex() for node in path],
    )


def consistency_proof(
    old: Checkpoint | int,
    new: Checkpoint | int | None = None,
    *,
    reader: tree.TreeReader | None = None,
) -> ConsistencyProof:
    """Proof that checkpoint ``new`` (default: the latest) extends checkpoint ``old``; checked
    against both roots before it is returned."""
    old, new = _as_checkpoint(old), _as_checkpoint(new)
    if old.tree_size > new.tree_size:
        old, new = new, old
    reader = reader or tree.TreeReader()
    path = reader.consistency_proof(old.tree_size, new.tree_size)
    try:
        verify_consistency(
            old.tree_size,
            new.tree_size,
            bytes.fromhex(old.root_hash),
            bytes.fromhex(new.root_hash),
            path,
        )
    except ProofError as error:
        raise CheckpointRefused(
            _(
                "Checkpoint #%(new)d does not extend checkpoint #%(old)d as stored "
                "(%(problem)s): the log or the checkpoints were changed."
            )
            % {"new": new.number, "old": old.number, "problem": error}
        ) from error
    return ConsistencyProof(
        old_checkpoint=old.number,
        new_checkpoint=new.number,
        old_size=old.tree_size,
        new_size=new.tree_size,
        old_root=old.root_hash,
        new_root=new.root_hash,
        path=[node.hex() for node in path],
    )


@dataclass(frozen=True)
class LogStatus:
    """Result of :func:`verify_log`."""

    ok: bool
    count: int
    head_hash: str
    root_hash: str
    checkpoints: int
    first_bad_seq: int | None = None
    problem: str = ""
    processes: int = 1  # how many processes walked the log


def verify_log(*, parallel: bool | None = None) -> LogStatus:
    """Recompute the hash chain and the Merkle tree from the first event, and check the root and
    chain head of every checkpoint on the way (RULES.md A2, A4).

    Like audit.selectors.verify_chain, stops at the chain head read first. A large log on
    PostgreSQL is walked by two processes (audit.fullcheck) unless ``parallel`` is False; call
    it outside a transaction for that. What the benchmark (bench/audit.py) times as full
    verification.
    """
    from audit import fullcheck

    stored_seq, stored_hash = chain_head()
    checkpoints = [
        Expected(size, bytes.fromhex(root), head, f"checkpoint #{number}")
        for number, size, root, head in Checkpoint.objects.order_by("number").values_list(
            "number", "tree_size", "root_hash", "head_hash"
        )
        if size <= stored_seq
    ]
    walked = None
    if parallel is not False and fullcheck.can_split(stored_seq):
        walked = fullcheck.split_walk(stored_seq, checkpoints)
    if walked is None:
        walked = fullcheck.walk_range(0, stored_seq, TreeBuilder(), GENESIS_HASH, checkpoints)
    if walked.broken is not None:
        broken = walked.broken
        return LogStatus(False, broken.seq - 1, "", "", 0, broken.seq, broken.problem)
    if walked.mismatch is not None:
        mismatch = walked.mismatch
        return LogStatus(False, mismatch.size, "", "", 0, None, str(mismatch))
    count, head_hash = walked.count, walked.head_hash
    root = walked.builder.root().hex()
    if (stored_seq, stored_hash) != (count, head_hash):
        return LogStatus(
            False,
            count,
            head_hash,
            root,
            len(checkpoints),
            count + 1,
            f"the log ends at event {count} but the chain head records event {stored_seq} "
            f"with hash {stored_hash}: events at the end are missing",
        )
    return LogStatus(True, count, head_hash, root, len(checkpoints), processes=walked.processes)
