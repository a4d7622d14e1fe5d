"""Merkle trees over the audit log, RFC 6962 / RFC 9162 (RULES.md A4).

Standard library only: the offline verifier (audit.verify_bundle) imports this module without
Django.

- Leaf ``i`` (0-based) is event ``seq = i + 1``; its hash is SHA-256(0x00 || the event's canonical
  bytes), the very bytes the hash chain hashes (audit.chain.canonical_bytes).
- An interior node is SHA-256(0x01 || left || right); the tree of ``n`` leaves splits at the largest
  power of two smaller than ``n`` (RFC 6962 section 2.1), so it has the same shape as a
  Certificate Transparency log and its proofs are the same.
- The root of the empty tree is SHA-256 of nothing.

Proofs are made from any "range root" function ``range_root(start, end) -> bytes`` that returns
the Merkle tree hash of leaves ``[start, end)``: :class:`MemoryTree` answers from leaf hashes in
memory, audit.tree from the stored tiles. Proof generation follows RFC 6962 2.1.1 (PATH) and
2.1.2 (SUBPROOF); verification follows RFC 9162 2.1.3.2 and 2.1.4.2, and raises
:class:`ProofError` saying what did not match.
"""

from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"

RangeRoot = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not verify, or its arguments are impossible."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return sha256(_NODE + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` >= 2): where RFC 6962 splits."""
    return 1 << ((size - 1).bit_length() - 1)


def is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect tree whose leaf level is ``hashes`` (a power of two of them)."""
    level = list(hashes)
    while len(level) > 1:
        level = [sha256(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of a list of leaf hashes."""
    builder = TreeBuilder()
    for leaf in leaf_hashes:
        builder.append(leaf)
    return builder.root()


class TreeBuilder:
    """The root of a growing tree, in constant memory: one subtree root per bit of the size.

    ``append`` takes leaf hashes in order; ``root()`` can be asked at any size. Each append costs
    one interior hash on average.
    """

    __slots__ = ("size", "stack")

    def __init__(self):
        self.size = 0
        # Roots of the perfect subtrees that make up the tree, largest (leftmost) first.
        self.stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        stack = self.stack
        size = self.size
        while size & 1:
            leaf = sha256(_NODE + stack.pop() + leaf).digest()
            size >>= 1
        stack.append(leaf)
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        stack = self.stack
        value = stack[-1]
        for left in reversed(stack[:-1]):
            value = sha256(_NODE + left + value).digest()
        return value


# Proof generation (RFC 6962 2.1.1, 2.1.2) --------------------------------------------------


def inclusion_proof(index: int, size: int, range_root: RangeRoot) -> list[bytes]:
    """Audit path of leaf ``index`` in the tree of the first ``size`` leaves: PATH(m, D[n])."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    proof: list[bytes] = []
    start, end = 0, size
    # Walk down from the root, then list the siblings bottom-up (the RFC's recursion order).
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            proof.append(range_root(start + k, end))
            end = start + k
        else:
            proof.append(range_root(start, start + k))
            start += k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, range_root: RangeRoot) -> list[bytes]:
    """Proof that the tree of ``new_size`` leaves extends the tree of ``old_size``: PROOF(m, D[n]).

    Empty when ``old_size`` is 0 or equal to ``new_size`` (nothing to prove)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} leaves cannot extend one of {old_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        if m == end - start:
            if not whole:
                proof.append(range_root(start, end))
            break
        k = split_point(end - start)
        if m <= k:
            proof.append(range_root(start + k, end))
            end = start + k
        else:
            proof.append(range_root(start, start + k))
            start += k
            m -= k
            whole = False
    proof.reverse()
    return proof


# Verification (RFC 9162 2.1.3.2, 2.1.4.2) -------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` at ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    _check_hash(leaf, "the leaf hash")
    fn, sn = index, size - 1
    value = leaf
    for position, sibling in enumerate(proof):
        _check_hash(sibling, f"proof element {position}")
        if sn == 0:
            raise ProofError(f"the proof is too long: {len(proof)} elements")
        if fn & 1 or fn == sn:
            value = sha256(_NODE + sibling + value).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            value = sha256(_NODE + value + sibling).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the proof is too short: {len(proof)} elements")
    return value


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows ``leaf`` at ``index`` under ``expected_root``."""
    _check_hash(expected_root, "the root hash")
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != expected_root:
        raise ProofError(
            f"the inclusion proof of leaf {index} leads to root {computed.hex()}, "
            f"not {bytes(expected_root).hex()}"
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Raise ProofError unless ``proof`` shows that the tree (new_size, new_root) extends
    (old_size, old_root)."""
    if old_size > new_size:
        raise ProofError(f"a tree of {new_size} leaves cannot extend one of {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("the proof between two trees of the same size must be empty")
        if old_root != new_root:
            raise ProofError(
                f"two trees of {old_size} leaves with different roots: "
                f"{bytes(old_root).hex()} and {bytes(new_root).hex()}"
            )
        return
    if old_size == 0:
        if proof:
            raise ProofError("the proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    _check_hash(old_root, "the old root")
    _check_hash(new_root, "the new root")
    for position, element in enumerate(proof):
        _check_hash(element, f"proof element {position}")
    path = list(proof)
    if is_power_of_two(old_size):
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError(f"the consistency proof is too long: {len(proof)} elements")
        if fn & 1 or fn == sn:
            fr = sha256(_NODE + element + fr).digest()
            sr = sha256(_NODE + element + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha256(_NODE + sr + element).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the consistency proof is too short: {len(proof)} elements")
    if fr != old_root:
        raise ProofError(
            f"the consistency proof leads to old root {fr.hex()}, not {bytes(old_root).hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"the consistency proof leads to new root {sr.hex()}, not {bytes(new_root).hex()}"
        )


# An in-memory tree -----------------------------------------------------------------------


class MemoryTree:
    """A tree over leaf hashes held in memory; ``range_root`` is what the proof functions take.

    Roots of perfect aligned subtrees are cached, so proofs over a large tree cost only the
    hashes along their path once the cache is warm.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()):
        self.leaves: list[bytes] = list(leaf_hashes)
        self._perfect: dict[tuple[int, int], bytes] = {}

    def append(self, leaf: bytes) -> None:
        self.leaves.append(leaf)

    def __len__(self) -> int:
        return len(self.leaves)

    def _node(self, level: int, index: int) -> bytes:
        if level == 0:
            return self.leaves[index]
        key = (level, index)
        cached = self._perfect.get(key)
        if cached is None:
            cached = node_hash(
                self._node(level - 1, 2 * index), self._node(level - 1, 2 * index + 1)
            )
            self._perfect[key] = cached
        return cached

    def range_root(self, start: int, end: int) -> bytes:
        return range_root_from_nodes(start, end, self._node)

    def root(self, size: int | None = None) -> bytes:
        size = len(self.leaves) if size is None else size
        return self.range_root(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = len(self.leaves) if size is None else size
        return inclusion_proof(index, size, self.range_root)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = len(self.leaves) if new_size is None else new_size
        return consistency_proof(old_size, new_size, self.range_root)


def range_root_from_nodes(start: int, end: int, node: Callable[[int, int], bytes]) -> bytes:
    """MTH of leaves ``[start, end)`` from ``node(level, index)``, the root of the perfect subtree
    of leaves ``[index << level, (index + 1) << level)``.

    The ranges a proof asks for start at a multiple of a power of two at least as large as the
    range, so they split into perfect aligned subtrees exactly as RFC 6962 splits them.
    """
    if end <= start:
        raise ProofError(f"empty range of leaves [{start}, {end})")
    size = end - start
    if is_power_of_two(size) and start % size == 0:
        return node(size.bit_length() - 1, start // size)
    k = split_point(size)
    return node_hash(
        range_root_from_nodes(start, start + k, node), range_root_from_nodes(start + k, end, node)
    )
