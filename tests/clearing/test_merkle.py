"""RFC 6962 Merkle tree: published known answers, a literal reference, proofs, tampering."""

from __future__ import annotations

import hashlib
import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)

# The test inputs and tree heads published with the Certificate Transparency reference
# implementations of RFC 6962 (leaves D[0..7]; ROOTS[n] is the head of the first n leaves).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# (leaf index from 0, tree size, audit path) from the same published test data.
CT_PATHS = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


# -- a literal transcription of RFC 6962 §2.1 / §2.1.1, the reference model -------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 §2.1 defines it, recursively."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = _split(len(data))
    return hashlib.sha256(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:])).digest()


def ref_path(m: int, data: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) exactly as RFC 6962 §2.1.1 defines it, recursively."""
    if len(data) == 1:
        return []
    k = _split(len(data))
    if m < k:
        return [*ref_path(m, data[:k]), ref_mth(data[k:])]
    return [*ref_path(m - k, data[k:]), ref_mth(data[:k])]


# -- known answers ------------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert MerkleTree([]).root() == EMPTY_ROOT
    assert MerkleTree([]).size == 0


def test_one_leaf_root_is_its_prefixed_hash() -> None:
    assert merkle_root([b""]).hex() == CT_ROOTS[1]
    assert merkle_root([b"abc"]) == hashlib.sha256(b"\x00abc").digest()
    assert MerkleTree([b"abc"]).inclusion_proof(0) == []


def test_node_and_leaf_hash_prefixes() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle_root([b"a", b"b"]) == node_hash(a, b)


@pytest.mark.parametrize("n", range(1, 9))
def test_published_tree_heads(n: int) -> None:
    assert merkle_root(CT_LEAVES[:n]).hex() == CT_ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), CT_PATHS)
def test_published_audit_paths(index: int, size: int, path: list[str]) -> None:
    tree = MerkleTree(CT_LEAVES[:size])
    assert [h.hex() for h in tree.inclusion_proof(index)] == path
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(CT_LEAVES[index], index, size, [bytes.fromhex(h) for h in path], root)


def test_structure_matches_the_rfc_recursion_for_every_size_up_to_70() -> None:
    data = [i.to_bytes(2, "big") for i in range(70)]
    for n in range(0, 71):
        tree = MerkleTree(data[:n])
        assert tree.root() == ref_mth(data[:n]), n
        for m in range(n):
            assert tree.inclusion_proof(m) == ref_path(m, data[:n]), (m, n)


def test_no_duplicate_last_leaf_ambiguity() -> None:
    # Bitcoin-style trees give [a, b, c] and [a, b, c, c] the same root; RFC 6962 does not.
    assert merkle_root([b"a", b"b", b"c"]) != merkle_root([b"a", b"b", b"c", b"c"])


def test_proof_of_index_outside_the_tree_raises() -> None:
    tree = MerkleTree([b"a", b"b"])
    with pytest.raises(IndexError):
        tree.inclusion_proof(2)
    with pytest.raises(IndexError):
        tree.inclusion_proof(-1)
    with pytest.raises(TypeError):
        tree.inclusion_proof(True)  # type: ignore[arg-type]


# -- the standalone verifier --------------------------------------------------------------


def test_verify_inclusion_runs_when_copied_out_alone() -> None:
    source = inspect.getsource(verify_inclusion)
    namespace: dict[str, object] = {}
    exec(compile(source, "<copied>", "exec"), namespace)  # a fresh module: nothing else
    copied = namespace["verify_inclusion"]
    tree = MerkleTree(CT_LEAVES)
    for i in range(8):
        path = tree.inclusion_proof(i)
        assert copied(CT_LEAVES[i], i, 8, path, tree.root())  # type: ignore[operator]
        assert not copied(CT_LEAVES[i] + b"!", i, 8, path, tree.root())  # type: ignore[operator]


def test_verify_inclusion_refuses_malformed_input() -> None:
    tree = MerkleTree(CT_LEAVES[:5])
    root, path = tree.root(), tree.inclusion_proof(1)
    leaf = CT_LEAVES[1]
    assert verify_inclusion(leaf, 1, 5, path, root)
    assert not verify_inclusion(leaf, 1, 5, path[:-1], root)  # too short
    assert not verify_inclusion(leaf, 1, 5, [*path, path[0]], root)  # too long
    assert not verify_inclusion(leaf, 5, 5, path, root)  # index == size
    assert not verify_inclusion(leaf, -1, 5, path, root)
    assert not verify_inclusion(leaf, 1, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, True, 5, path, root)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf, 1, 5, path, root[:31])
    assert not verify_inclusion(leaf, 1, 5, [path[0][:31], *path[1:]], root)
    assert not verify_inclusion("text", 1, 5, path, root)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf, 1, 5, ["ab" * 32, *path[1:]], root)  # type: ignore[list-item]
    assert not verify_inclusion(leaf, 0, 5, path, root)  # right path, wrong index
    assert not verify_inclusion(leaf, 1, 5, None, root)  # type: ignore[arg-type]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


leaf_lists = st.lists(st.binary(min_size=0, max_size=12), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists)
def test_every_proof_of_every_leaf_verifies(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    root = tree.root()
    assert root == ref_mth(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_inclusion(leaf, i, len(leaves), tree.inclusion_proof(i), root)


@settings(max_examples=150, deadline=None)
@given(
    leaves=st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=40),
    data=st.data(),
)
def test_any_bit_flip_in_leaf_path_or_root_fails(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree(leaves)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1), label="index")
    leaf, path, root = leaves[i], tree.inclusion_proof(i), tree.root()
    assert verify_inclusion(leaf, i, n, path, root)

    bit = data.draw(st.integers(0, len(leaf) * 8 - 1), label="leaf bit")
    assert not verify_inclusion(_flip(leaf, bit), i, n, path, root)
    bit = data.draw(st.integers(0, 255), label="root bit")
    assert not verify_inclusion(leaf, i, n, path, _flip(root, bit))
    if path:
        j = data.draw(st.integers(0, len(path) - 1), label="path element")
        bit = data.draw(st.integers(0, 255), label="path bit")
        bad = [*path[:j], _flip(path[j], bit), *path[j + 1 :]]
        assert not verify_inclusion(leaf, i, n, bad, root)
