"""RFC 6962 Merkle trees (audit.merkle) against independent test vectors, and exhaustively.

The vectors are copied from Google's transparency-dev/merkle repository (Apache License 2.0):
``proof/verify_test.go`` (leaves, roots, inclusionProofs, consistencyProofs; the same values as
the certificate-transparency C++ and Go test suites) and ``rfc6962/rfc6962_test.go`` (leaf and
node hashes), https://github.com/transparency-dev/merkle.
"""

import hashlib
import itertools

import pytest

from audit.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    TreeBuilder,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle proof/verify_test.go: `leaves` (hex inputs) and `roots` (the tree hash of
# the first 1, 2, ... 8 leaves).
LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# `inclusionProofs`: (leaf, 1-based; tree size; audit path).
INCLUSION_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# `consistencyProofs`: (size1, size2, proof).
CONSISTENCY_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def hexes(values):
    return [bytes.fromhex(value) for value in values]


@pytest.fixture(scope="module")
def vector_tree():
    return MemoryTree(leaf_hash(bytes.fromhex(leaf)) for leaf in LEAVES)


def test_leaf_node_and_empty_hashes_match_rfc6962_vectors():
    # transparency-dev/merkle rfc6962/rfc6962_test.go
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_roots_of_every_prefix_match_the_vectors(vector_tree):
    leaves = [leaf_hash(bytes.fromhex(leaf)) for leaf in LEAVES]
    for size, expected in enumerate(ROOTS, 1):
        assert vector_tree.root(size).hex() == expected
        assert root(leaves[:size]).hex() == expected
    assert root([]) == EMPTY_ROOT


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_PROOFS)
def test_inclusion_proofs_match_the_vectors_and_verify(vector_tree, leaf, size, proof):
    assert vector_tree.inclusion_proof(leaf - 1, size) == hexes(proof)
    leaf_value = leaf_hash(bytes.fromhex(LEAVES[leaf - 1]))
    verify_inclusion(leaf - 1, size, leaf_value, hexes(proof), bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY_PROOFS)
def test_consistency_proofs_match_the_vectors_and_verify(vector_tree, size1, size2, proof):
    if size1 != size2:
        assert vector_tree.consistency_proof(size1, size2) == hexes(proof)
    verify_consistency(
        size1,
        size2,
        bytes.fromhex(ROOTS[size1 - 1]),
        bytes.fromhex(ROOTS[size2 - 1]),
        hexes(proof),
    )


def corrupted_inclusions(index, size, proof, root_hash, leaf):
    """The probes of transparency-dev's corruptInclusionProof: each must fail."""
    probes = [
        (index - 1, size, leaf, proof, root_hash),
        (index + 1, size, leaf, proof, root_hash),
        (index ^ 2, size, leaf, proof, root_hash),
        (index, size * 2, leaf, proof, root_hash),
        (index, size // 2, leaf, proof, root_hash),
        (index, size, hashlib.sha256(b"WrongLeaf").digest(), proof, root_hash),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root_hash),
        (index, size, leaf, [*proof, root_hash], root_hash),
        (index, size, leaf, [b"", *proof], root_hash),
        (index, size, leaf, [root_hash, *proof], root_hash),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, leaf, flipped, root_hash))
    if proof:
        probes.append((index, size, leaf, proof[:-1], root_hash))
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root_hash))
    return probes


def corrupted_consistencies(size1, size2, root1, root2, proof):
    """The probes of transparency-dev's corruptConsistencyProof: each must fail."""
    probes = [
        (size1 - 1, size2, root1, root2, proof),
        (size1 + 1, size2, root1, root2, proof),
        (size1 ^ 2, size2, root1, root2, proof),
        (size1, size2 * 2, root1, root2, proof),
        (size1, size2 // 2, root1, root2, proof),
        (size1, size2, SOME_HASH, root2, proof),
        (size1, size2, root1, SOME_HASH, proof),
        (size1, size2, root2, root1, proof),
        (size1, size2, root1, root2, []),
        (size1, size2, root1, root2, [*proof, b""]),
        (size1, size2, root1, root2, [*proof, root1]),
        (size1, size2, root1, root2, [*proof, root2]),
        (size1, size2, root1, root2, [b"", *proof]),
        (size1, size2, root1, root2, [root1, *proof]),
        (size1, size2, root1, root2, [root2, *proof]),
        (size1, size2, root1, root2, [proof[0], *proof]),
        (size1, size2, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((size1, size2, root1, root2, flipped))
    return probes


def fails(check, *args) -> bool:
    try:
        check(*args)
    except ProofError:
        return True
    return False


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_PROOFS[1:])
def test_corrupted_vector_inclusion_proofs_fail(leaf, size, proof):
    probes = corrupted_inclusions(
        leaf - 1,
        size,
        hexes(proof),
        bytes.fromhex(ROOTS[size - 1]),
        leaf_hash(bytes.fromhex(LEAVES[leaf - 1])),
    )
    assert [probe for probe in probes if not fails(verify_inclusion, *probe)] == []


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY_PROOFS[1:])
def test_corrupted_vector_consistency_proofs_fail(size1, size2, proof):
    probes = corrupted_consistencies(
        size1, size2, bytes.fromhex(ROOTS[size1 - 1]), bytes.fromhex(ROOTS[size2 - 1]), hexes(proof)
    )
    assert [probe for probe in probes if not fails(verify_consistency, *probe)] == []


def test_trivial_consistency_cases():
    # transparency-dev TestVerifyConsistency: sizes that are always consistent, and not.
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    verify_consistency(0, 0, a, a, [])
    verify_consistency(0, 1, a, b, [])
    verify_consistency(1, 1, b, b, [])
    for probe in [
        (1, 1, a, b, []),
        (1, 0, a, b, []),
        (2, 1, a, b, []),
        (1, 2, a, b, []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
    ]:
        assert fails(verify_consistency, *probe), probe


def test_single_leaf_and_impossible_indices():
    one = leaf_hash(b"data")
    verify_inclusion(0, 1, one, [], one)
    for index, size in [(0, 0), (1, 0), (2, 1), (1, 1)]:
        assert fails(verify_inclusion, index, size, one, [], one)
    assert fails(verify_inclusion, 0, 1, b"", [], one)


@pytest.fixture(scope="module")
def tree64():
    return MemoryTree(leaf_hash(f"evento {i}".encode()) for i in range(64))


def test_every_inclusion_proof_up_to_64_leaves_verifies_and_any_tampering_fails(tree64):
    leaves = tree64.leaves
    for size in range(1, 65):
        root_hash = tree64.root(size)
        for index in range(size):
            proof = tree64.inclusion_proof(index, size)
            assert root_from_inclusion_proof(index, size, leaves[index], proof) == root_hash
            verify_inclusion(index, size, leaves[index], proof, root_hash)
            probes = corrupted_inclusions(index, size, proof, root_hash, leaves[index])
            survivors = [p for p in probes if not fails(verify_inclusion, *p)]
            assert survivors == [], (index, size)


def test_every_consistency_proof_up_to_64_leaves_verifies_and_any_tampering_fails(tree64):
    for size2, size1 in itertools.combinations_with_replacement(range(1, 65), 2):
        size1, size2 = min(size1, size2), max(size1, size2)
        root1, root2 = tree64.root(size1), tree64.root(size2)
        proof = tree64.consistency_proof(size1, size2)
        verify_consistency(size1, size2, root1, root2, proof)
        if size1 == size2:
            assert proof == []
            continue
        probes = corrupted_consistencies(size1, size2, root1, root2, proof)
        survivors = [p for p in probes if not fails(verify_consistency, *p)]
        assert survivors == [], (size1, size2)


def test_the_builder_gives_the_root_at_every_size(tree64):
    builder = TreeBuilder()
    assert builder.root() == EMPTY_ROOT
    for size, leaf in enumerate(tree64.leaves, 1):
        builder.append(leaf)
        assert builder.root() == tree64.root(size)
        assert builder.size == size
