"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification: pure functions, no I/O.

A tree of n leaves is addressed by complete subtrees: `subtree(level, index)` is the hash of
leaves [index * 2**level, (index + 1) * 2**level). Storage supplies that function (one read
per call); everything here works from it, so a proof costs O(log n) reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]
"""(level, index) -> hash of the complete subtree of 2**level leaves starting at leaf index << level."""

_sha256 = hashlib.sha256


class MerkleProofError(ValueError):
    """A proof request or a proof that cannot be right (bad sizes, wrong lengths)."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): where RFC 6962 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


# ---- building levels in memory ----------------------------------------------------------------
def next_level(level: bytes | memoryview) -> bytes:
    """The hashes of the complete parents of a level (concatenated 32-byte hashes); an odd last node has none."""
    view = memoryview(level)
    pairs = len(view) // (2 * HASH_SIZE)
    prefix = NODE_PREFIX
    return b"".join([_sha256(prefix + view[i : i + 2 * HASH_SIZE]).digest() for i in range(0, pairs * 2 * HASH_SIZE, 2 * HASH_SIZE)])


def build_levels(leaves: bytes | Sequence[bytes]) -> list[bytes]:
    """Every level of complete subtree hashes, from the leaf hashes (concatenated or a sequence).

    levels[k] holds (n >> k) hashes of 32 bytes; levels[0] is the leaves; the list stops at the
    highest level that has at least one complete node.
    """
    level = leaves if isinstance(leaves, (bytes, bytearray, memoryview)) else b"".join(leaves)
    level = bytes(level)
    if len(level) % HASH_SIZE:
        raise MerkleProofError("leaf hashes must be 32 bytes each")
    levels = [level]
    while len(levels[-1]) >= 2 * HASH_SIZE:
        levels.append(next_level(levels[-1]))
    return levels


def subtree_from_levels(levels: Sequence[bytes]) -> SubtreeHash:
    """A `SubtreeHash` over in-memory levels (as made by `build_levels`)."""

    def subtree(level: int, index: int) -> bytes:
        data = levels[level]
        start = index * HASH_SIZE
        if start + HASH_SIZE > len(data):
            raise MerkleProofError(f"no complete subtree at level {level}, index {index}")
        return data[start : start + HASH_SIZE]

    return subtree


def extend_levels(size: int, new_leaves: bytes, last_node: Callable[[int], bytes]) -> list[bytes]:
    """The nodes each level gains when leaves are appended to a tree of `size` leaves.

    `new_leaves` are the new leaf hashes, concatenated. `last_node(level)` returns the last
    stored node of a level; it is asked for only where that node pairs with a new one (the
    level had an odd number of nodes). Returns, per level from 0, the concatenated hashes to
    append to that level (level 0 gets `new_leaves` itself).
    """
    if len(new_leaves) % HASH_SIZE:
        raise MerkleProofError("leaf hashes must be 32 bytes each")
    added = [bytes(new_leaves)]
    level, old = 0, size
    while True:
        fresh = added[level]
        if (old & 1) and fresh:
            fresh = last_node(level) + fresh
        parents = next_level(fresh)
        if not parents:
            break
        added.append(parents)
        level += 1
        old >>= 1
    return added


# ---- roots and proofs from complete subtrees ---------------------------------------------------
def range_root(start: int, end: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[start:end]) for a range the RFC 6962 recursion produces (start a multiple of a power
    of two >= end - start): the complete subtrees of the binary digits of end - start, folded
    from the right."""
    size = end - start
    if size <= 0:
        if size == 0 and start == 0:
            return EMPTY_ROOT
        raise MerkleProofError(f"empty or negative range [{start}, {end})")
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        if start & (size - 1):
            raise MerkleProofError(f"range [{start}, {end}) is not aligned")
        return subtree(level, start >> level)
    parts: list[bytes] = []
    position = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            width = 1 << level
            if position & (width - 1):
                raise MerkleProofError(f"range [{start}, {end}) is not aligned")
            parts.append(subtree(level, position >> level))
            position += width
    root = parts[-1]
    for part in reversed(parts[:-1]):
        root = node_hash(part, root)
    return root


def tree_root(size: int, subtree: SubtreeHash) -> bytes:
    """MTH of the first `size` leaves (the empty tree's root for 0)."""
    if size < 0:
        raise MerkleProofError("tree size must be >= 0")
    return EMPTY_ROOT if size == 0 else range_root(0, size, subtree)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (builds every level in memory)."""
    if not leaves:
        return EMPTY_ROOT
    return tree_root(len(leaves), subtree_from_levels(build_levels(leaves)))


def inclusion_path(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]): the audit path of one leaf, leaf side first."""
    if not 0 <= index < size:
        raise MerkleProofError(f"leaf index {index} is not in a tree of size {size}")
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + split_point(end - start)
        if index < middle:
            siblings.append(range_root(middle, end, subtree))
            end = middle
        else:
            siblings.append(range_root(start, middle, subtree))
            start = middle
    siblings.reverse()
    return siblings


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[new_size]); empty when old_size is 0 or equals new_size."""
    if not 0 <= old_size <= new_size:
        raise MerkleProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    nodes: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                nodes.append(range_root(start, end, subtree))
            break
        k = split_point(n)
        if m <= k:
            nodes.append(range_root(start + k, end, subtree))
            end = start + k
        else:
            nodes.append(range_root(start, start + k, subtree))
            start += k
            m -= k
            whole = False
    nodes.reverse()
    return nodes


# ---- verification ------------------------------------------------------------------------------
def _check_hashes(*hashes: bytes) -> None:
    for value in hashes:
        if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
            raise MerkleProofError("every hash must be 32 bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root an audit path leads to from a leaf hash (raises if it cannot be a path)."""
    if not 0 <= index < size:
        raise MerkleProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hashes(leaf, *path)
    fn, sn = index, size - 1
    r = bytes(leaf)
    for p in path:
        if sn == 0:
            raise MerkleProofError("audit path is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleProofError("audit path is shorter than the tree is high")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """Whether `path` proves leaf hash `leaf` at `index` in the tree of `size` leaves with `root`."""
    try:
        _check_hashes(root)
        return root_from_inclusion(index, size, leaf, path) == root
    except MerkleProofError:
        return False


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: whether `proof` shows the tree of `old_size` with `old_root` is a prefix of
    the tree of `new_size` with `new_root` (size 0 is a prefix of anything, with an empty proof)."""
    try:
        _check_hashes(old_root, new_root, *proof)
    except MerkleProofError:
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
