"""One walk over the log that checks the hash chain and builds the Merkle tree (RULES.md A2, A4).

Standard library only: the server (audit.checkpoints, audit.tree) and the offline verifier
(audit.verify_bundle) walk events through :func:`walk`, so both recompute the same bytes with the
same code: audit.chain.canonical_bytes for the chain hash and the RFC 6962 leaf hash.
"""

from dataclasses import dataclass
from hashlib import sha256

from audit.chain import GENESIS_HASH, canonical_bytes
from audit.merkle import TreeBuilder


class LogBroken(Exception):
    """The first event (by sequence number) where the log does not check out."""

    def __init__(self, seq: int, problem: str):
        self.seq = seq
        self.problem = problem
        super().__init__(f"event {seq}: {problem}")


class RootMismatch(Exception):
    """The tree built from the events does not have a checkpoint's root or chain head."""

    def __init__(self, size: int, label: str, problem: str):
        self.size = size
        self.label = label
        self.problem = problem
        super().__init__(f"{label}: {problem}")


@dataclass(frozen=True)
class Expected:
    """A tree size at which the walk must find a given Merkle root and chain head hash."""

    size: int
    root: bytes
    head_hash: str
    label: str = ""


def walk(
    rows,
    *,
    start_seq: int = 1,
    start_hash: str = GENESIS_HASH,
    tree: TreeBuilder | None = None,
    leaves: list | None = None,
    expected: list[Expected] = (),
) -> tuple[int, str]:
    """Check rows (tuples in audit.chain.ROW_COLUMNS order, by seq) and return (count, head hash).

    Each event must come in sequence, name the previous event's hash and have the hash its
    canonical bytes give. Its leaf hash goes to ``tree`` (a TreeBuilder at size ``start_seq - 1``)
    and/or ``leaves`` (a list). When the tree reaches an ``expected`` size (ascending; needs
    ``tree``), its root and the chain hash must be the expected ones. Raises LogBroken naming the
    first event that is missing, out of place, or altered, or RootMismatch.
    """
    expected = sorted(expected, key=lambda item: item.size)
    if expected and tree is None:
        raise ValueError("expected roots need a tree")
    if expected and expected[0].size < start_seq - 1:
        raise ValueError("an expected size lies before the start of the walk")
    targets = iter(expected)
    target = next(targets, None)
    while target is not None and target.size == start_seq - 1:
        _check(tree, target, start_hash)
        target = next(targets, None)
    target_size = target.size if target is not None else -1

    expected_seq = start_seq
    prev = start_hash
    prev_bytes = bytes.fromhex(start_hash)
    sha = sha256
    leaf_prefix = b"\x00"
    node_prefix = b"\x01"
    stack = tree.stack if tree is not None else None
    size = tree.size if tree is not None else 0
    append_leaf = leaves.append if leaves is not None else None
    # The loop runs once per event of the whole log: locals only, the tree's stack inlined.
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
            if seq > expected_seq:
                raise LogBroken(
                    expected_seq,
                    f"missing: found event {seq} where event {expected_seq} was expected",
                )
            raise LogBroken(
                seq,
                f"out of order or repeated: found after event {expected_seq - 1}",
            )
        if prev_hash != prev:
            raise LogBroken(seq, "its previous hash does not match the hash of the event before it")
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
        # digest() then hex(): one finalisation of the hash, where hexdigest() and digest()
        # would make two.
        prev_bytes = sha(prev_bytes + body).digest()
        computed = prev_bytes.hex()
        if computed != hash_:
            raise LogBroken(
                seq, f"stored hash {hash_} does not match the recomputed hash {computed}"
            )
        prev = computed
        leaf = sha(leaf_prefix + body).digest()
        if append_leaf is not None:
            append_leaf(leaf)
        if stack is not None:
            bits = size
            while bits & 1:
                leaf = sha(node_prefix + stack.pop() + leaf).digest()
                bits >>= 1
            stack.append(leaf)
            size += 1
            if size == target_size:
                tree.size = size
                while target is not None and target.size == size:
                    _check(tree, target, prev)
                    target = next(targets, None)
                target_size = target.size if target is not None else -1
        expected_seq += 1
    if tree is not None:
        tree.size = size
    return expected_seq - start_seq, prev


def _check(tree: TreeBuilder, target: Expected, head_hash: str) -> None:
    computed = tree.root()
    if computed != target.root:
        raise RootMismatch(
            target.size,
            target.label,
            f"the Merkle root of events 1-{target.size} is {computed.hex()}, but the signed tree "
            f"head says {target.root.hex()}",
        )
    if head_hash != target.head_hash:
        raise RootMismatch(
            target.size,
            target.label,
            f"the chain hash of event {target.size} is {head_hash}, but the signed tree head "
            f"says {target.head_hash}",
        )
