"""Merkle tree core: the Certificate Transparency reference vectors, an RFC-literal reference, and properties."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.evidence import merkle

VECTORS = json.loads((Path(__file__).parent / "data" / "rfc6962" / "ct_vectors.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(data)) for data in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(root) for root in VECTORS["roots"]]
H = bytes.fromhex


def subtree_of(leaves: list[bytes]) -> merkle.SubtreeHash:
    return merkle.subtree_from_levels(merkle.build_levels(leaves))


# ---- an RFC 9162 §2.1 reference, written literally from the recursive definitions -------------
def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return merkle.node_hash(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, leaves[:k], whole) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


# ---- reference vectors (transparency-dev/merkle, CT merkle_tree_test.cc) ----------------------
def test_empty_tree_root_is_sha256_of_nothing():
    assert merkle.EMPTY_ROOT == H(VECTORS["empty_root"])
    assert merkle.root_of([]) == H(VECTORS["empty_root"])


def test_leaf_hashes_match_the_reference_nodes():
    assert [h.hex() for h in LEAVES] == VECTORS["node_hashes"][0]


@pytest.mark.parametrize("size", range(1, 9))
def test_root_of_each_prefix_matches_the_reference(size):
    assert merkle.root_of(LEAVES[:size]) == ROOTS[size - 1]
    assert merkle.tree_root(size, subtree_of(LEAVES)) == ROOTS[size - 1]


def test_levels_match_the_reference_node_hashes():
    levels = merkle.build_levels(LEAVES)
    for level, expected in enumerate(VECTORS["node_hashes"]):
        assert [levels[level][i : i + 32].hex() for i in range(0, len(levels[level]), 32)] == expected


@pytest.mark.parametrize("case", VECTORS["inclusion_proofs"], ids=lambda c: f"leaf{c['leaf']}-size{c['size']}")
def test_inclusion_paths_match_the_reference(case):
    index, size = case["leaf"] - 1, case["size"]
    path = merkle.inclusion_path(index, size, subtree_of(LEAVES[:size]))
    assert [node.hex() for node in path] == case["path"]
    assert merkle.verify_inclusion(index, size, LEAVES[index], [H(p) for p in case["path"]], ROOTS[size - 1])


@pytest.mark.parametrize("case", VECTORS["consistency_proofs"], ids=lambda c: f"{c['size1']}-{c['size2']}")
def test_consistency_proofs_match_the_reference(case):
    old, new = case["size1"], case["size2"]
    proof = merkle.consistency_proof(old, new, subtree_of(LEAVES[:new]))
    assert [node.hex() for node in proof] == case["proof"]
    assert merkle.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], [H(p) for p in case["proof"]])


@pytest.mark.parametrize("case", VECTORS["consistency_node_ids"]["cases"], ids=lambda c: f"{c['size1']}-{c['size2']}")
def test_consistency_proofs_hold_the_reference_nodes(case):
    nodes = VECTORS["node_hashes"]
    proof = merkle.consistency_proof(case["size1"], case["size2"], subtree_of(LEAVES))
    assert [node.hex() for node in proof] == [nodes[level][index] for level, index in case["nodes"]]


@pytest.mark.parametrize("case", VECTORS["inclusion_node_ids"]["cases"], ids=lambda c: f"{c['index']}-of-{c['size']}")
def test_inclusion_paths_hold_the_reference_nodes(case):
    nodes = VECTORS["node_hashes"]
    path = merkle.inclusion_path(case["index"], case["size"], subtree_of(LEAVES))
    assert [node.hex() for node in path] == [nodes[level][index] for level, index in case["nodes"]]


def _corrupt_inclusion(index, size, path, root, leaf):
    """The corruptions of transparency-dev/merkle's verify_test.go corruptInclusionProof."""
    some = H("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, root, leaf, path),
        (index + 1, size, root, leaf, path),
        (index ^ 2, size, root, leaf, path),
        (index, size * 2, root, leaf, path),
        (index, size // 2, root, leaf, path),
        (index, size, root, b"WrongLeaf", path),
        (index, size, merkle.EMPTY_ROOT, leaf, path),
        (index, size, some, leaf, path),
        (index, size, root, leaf, [*path, b""]),
        (index, size, root, leaf, [*path, root]),
        (index, size, root, leaf, [b"", *path]),
        (index, size, root, leaf, [root, *path]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([path[i][0] ^ 8]) + path[i][1:]
        probes.append((index, size, root, leaf, flipped))
    if path:
        probes.append((index, size, root, leaf, path[:-1]))
    if len(path) > 1:
        probes.append((index, size, root, leaf, [some, *path]))
    return probes


@pytest.mark.parametrize("case", VECTORS["inclusion_proofs"][1:], ids=lambda c: f"leaf{c['leaf']}-size{c['size']}")
def test_corrupted_inclusion_proofs_fail(case):
    index, size = case["leaf"] - 1, case["size"]
    path = [H(p) for p in case["path"]]
    for probe in _corrupt_inclusion(index, size, path, ROOTS[size - 1], LEAVES[index]):
        assert not merkle.verify_inclusion(*probe[:2], probe[3], probe[4], probe[2]), probe


@pytest.mark.parametrize("case", VECTORS["consistency_proofs"][1:], ids=lambda c: f"{c['size1']}-{c['size2']}")
def test_corrupted_consistency_proofs_fail(case):
    old, new = case["size1"], case["size2"]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    proof = [H(p) for p in case["proof"]]
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for probe in probes:
        assert not merkle.verify_consistency(*probe), probe


def test_edge_cases_of_consistency_verification():
    r1, r2 = merkle.leaf_hash(b"1"), merkle.leaf_hash(b"2")
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, r2, [])
    assert merkle.verify_consistency(3, 3, r1, r1, [])
    assert not merkle.verify_consistency(3, 3, r1, r2, [])
    assert not merkle.verify_consistency(3, 3, r1, r1, [merkle.EMPTY_ROOT])
    assert not merkle.verify_consistency(2, 1, r1, r2, [])
    assert not merkle.verify_consistency(1, 2, r1, r2, [])


def test_bad_requests_are_refused():
    subtree = subtree_of(LEAVES)
    for index, size in [(0, 0), (1, 1), (8, 8), (-1, 4)]:
        with pytest.raises(merkle.MerkleProofError):
            merkle.inclusion_path(index, size, subtree)
    with pytest.raises(merkle.MerkleProofError):
        merkle.consistency_proof(5, 4, subtree)


# ---- against the literal reference, exhaustively for small trees ----------------------------
def test_every_proof_matches_the_literal_rfc_definitions_up_to_40_leaves():
    leaves = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    subtree = subtree_of(leaves)
    for n in range(1, 41):
        root = ref_mth(leaves[:n])
        assert merkle.tree_root(n, subtree) == root
        for m in range(n):
            assert merkle.inclusion_path(m, n, subtree) == ref_path(m, leaves[:n])
        for m in range(1, n + 1):
            expected = ref_subproof(m, leaves[:n], True)
            assert merkle.consistency_proof(m, n, subtree) == expected
            assert merkle.verify_consistency(m, n, ref_mth(leaves[:m]), root, expected)


# ---- properties ---------------------------------------------------------------------------------
def _tree(size: int, seed: int) -> tuple[list[bytes], merkle.SubtreeHash]:
    leaves = [merkle.leaf_hash(seed.to_bytes(8, "big") + i.to_bytes(4, "big")) for i in range(size)]
    return leaves, subtree_of(leaves)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 600), seed=st.integers(0, 2**32), data=st.data())
def test_every_inclusion_proof_verifies_and_a_wrong_one_fails(size, seed, data):
    leaves, subtree = _tree(size, seed)
    root = merkle.tree_root(size, subtree)
    for index in data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=8)):
        path = merkle.inclusion_path(index, size, subtree)
        assert merkle.verify_inclusion(index, size, leaves[index], path, root)
        assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"not a leaf"), path, root)
        if size > 1:
            assert not merkle.verify_inclusion(index, size, leaves[(index + 1) % size], path, root)
        if path:
            at = data.draw(st.integers(0, len(path) - 1))
            bit = data.draw(st.integers(0, 255))
            flipped = list(path)
            flipped[at] = bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(path[at]))
            assert not merkle.verify_inclusion(index, size, leaves[index], flipped, root)
        bit = data.draw(st.integers(0, 255))
        bad_root = bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(root))
        assert not merkle.verify_inclusion(index, size, leaves[index], path, bad_root)


@settings(max_examples=60, deadline=None)
@given(new=st.integers(1, 600), seed=st.integers(0, 2**32), data=st.data())
def test_every_consistency_proof_verifies_and_a_tampered_one_fails(new, seed, data):
    leaves, subtree = _tree(new, seed)
    old = data.draw(st.integers(1, new))
    proof = merkle.consistency_proof(old, new, subtree)
    old_root, new_root = merkle.tree_root(old, subtree), merkle.tree_root(new, subtree)
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)
    if old < new:
        at = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = list(proof)
        flipped[at] = bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(proof[at]))
        assert not merkle.verify_consistency(old, new, old_root, new_root, flipped)
        # a different history (one leaf of the old tree changed) is not consistent
        other = list(leaves)
        other[data.draw(st.integers(0, old - 1))] = merkle.leaf_hash(b"rewritten")
        assert not merkle.verify_consistency(old, new, merkle.root_of(other[:old]), new_root, proof)


@settings(max_examples=40, deadline=None)
@given(first=st.integers(0, 300), more=st.lists(st.integers(1, 70), min_size=1, max_size=5))
def test_extending_levels_batch_by_batch_equals_building_them_at_once(first, more):
    total = first + sum(more)
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(total)]
    levels = [bytearray() for _ in range(total.bit_length() + 1)]
    size = 0
    for count in [first, *more]:
        added = merkle.extend_levels(size, b"".join(leaves[size : size + count]), lambda level: bytes(levels[level][-32:]))
        for level, data in enumerate(added):
            levels[level] += data
        size += count
    expected = merkle.build_levels(leaves)
    assert [bytes(level) for level in levels[: len(expected)]] == expected
    assert all(not level for level in levels[len(expected) :])
