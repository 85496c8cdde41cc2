"""RFC 6962 Merkle tree (SHA-256) over settlement-snapshot leaves, and inclusion proofs.

Hashing follows RFC 6962 §2.1 (Certificate Transparency), restated in RFC 9162 §2.1:

- leaf hash  = SHA-256(0x00 || leaf bytes)
- node hash  = SHA-256(0x01 || left hash || right hash)
- a tree of n > 1 leaves splits at k, the largest power of two smaller than n: the left
  subtree holds leaves [0, k), the right subtree leaves [k, n). A lone last node is never
  duplicated (so no two leaf lists share a root, unlike Bitcoin's tree).
- the empty tree's root is SHA-256 of the empty string.

Building bottom-up (pair neighbours, carry an unpaired last node up unchanged) gives
exactly the RFC's recursive split, which is what ``MerkleTree`` does; the tests check it
against a literal transcription of the RFC's recursive definition.

An inclusion proof ("audit path") lists sibling hashes from the leaf's level up to the
root, as RFC 6962 §2.1.1 defines ``PATH(m, D[n])``. ``verify_inclusion`` checks one with
nothing but ``hashlib``: it is written so it can be copied out of this repository and run
by anyone who holds a proof and a published root (see docs/snapshots.md).

Pure: no I/O, no clock; the same leaves always give the same root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """Return the RFC 6962 hash of one leaf: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class MerkleTree:
    """An immutable RFC 6962 tree over a list of leaves, with every level kept for proofs.

    Memory is about two hashes per leaf; building costs one SHA-256 per node.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaves: Sequence[bytes]) -> None:
        level = [leaf_hash(bytes(leaf)) for leaf in leaves]
        levels = [level]
        while len(level) > 1:
            nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            levels.append(nxt)
            level = nxt
        self._levels: list[list[bytes]] = levels

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def root(self) -> bytes:
        """The tree head: the root hash (``EMPTY_ROOT`` for no leaves)."""
        if not self._levels[0]:
            return EMPTY_ROOT
        return self._levels[-1][0]

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf ``index``."""
        return self._levels[0][self._check_index(index)]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """Return the audit path of leaf ``index``: sibling hashes from the bottom up.

        Raises ``IndexError`` when ``index`` is not a leaf of this tree.
        """
        i = self._check_index(index)
        path: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            i >>= 1
        return path

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"leaf index must be an int, received {type(index).__name__}")
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} is outside a tree of {self.size} leaves")
        return index


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Return the RFC 6962 root of ``leaves`` (raw leaf bytes, not yet hashed)."""
    return MerkleTree(leaves).root()


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, audit_path: list[bytes], root: bytes
) -> bool:
    """Return True when ``leaf`` is leaf number ``index`` of the tree of ``tree_size``
    leaves whose RFC 6962 / SHA-256 root is ``root``, as proven by ``audit_path``.

    Standalone on purpose: it uses only ``hashlib`` and no other name from this module,
    so it can be copied as is to check a crossbook inclusion proof anywhere.

    ``leaf`` is the raw leaf bytes (it is hashed here with the 0x00 prefix); ``index``
    counts from 0; ``audit_path`` holds the 32-byte sibling hashes from the leaf's level up
    to the root, as printed by ``crossbook snapshot proof`` (hex-decode them first). The
    walk is the one of RFC 9162 §2.1.3.2: the bits of ``index`` say on which side each
    sibling sits, and the bits of ``tree_size - 1`` say where a right-edge node was carried
    up without a sibling. Anything malformed (wrong types, index out of range, a path that
    is too short or too long, hashes that are not 32 bytes) returns False.
    """
    import hashlib

    if not isinstance(leaf, bytes | bytearray) or not isinstance(root, bytes | bytearray):
        return False
    if isinstance(index, bool) or isinstance(tree_size, bool):
        return False
    if not isinstance(index, int) or not isinstance(tree_size, int):
        return False
    if not 0 <= index < tree_size or len(root) != 32:
        return False
    if not isinstance(audit_path, list | tuple):
        return False
    node = index  # position of the running hash at the current level
    last = tree_size - 1  # position of the last node at the current level
    running = hashlib.sha256(b"\x00" + bytes(leaf)).digest()
    for sibling in audit_path:
        if not isinstance(sibling, bytes | bytearray) or len(sibling) != 32:
            return False
        if last == 0:
            return False  # the path is longer than the tree is tall
        if node & 1 or node == last:
            # The sibling is on the left.
            running = hashlib.sha256(b"\x01" + bytes(sibling) + running).digest()
            if not node & 1:
                # The running node sat at the right edge of a ragged level with nothing to
                # its right, so it was carried up unchanged until it became a right child;
                # skip those levels.
                while node and not node & 1:
                    node >>= 1
                    last >>= 1
        else:
            running = hashlib.sha256(b"\x01" + running + bytes(sibling)).digest()
        node >>= 1
        last >>= 1
    return last == 0 and running == bytes(root)
