"""Snapshot contents: canonical leaves, round trip, header, conservation, chain, tampering."""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.merkle import MerkleTree, verify_inclusion
from clearing.snapshot import (
    ZERO_ROOT,
    CanonicalError,
    Fault,
    SnapshotError,
    UnknownAccount,
    build,
    build_snapshot,
    canonical_pack,
    decode_leaf,
    header_digest,
    inclusion_proof,
    load_snapshot,
    verify_snapshot,
)


def make_state(**overrides: Any) -> dict[str, Any]:
    """A hand-made export_state() dict: 3 accounts, USD and BTC, conservation exact."""
    state: dict[str, Any] = {
        "version": 1,
        "ts": 1_700_000_000_000_000_000,
        "last_fill_seq": 1234,
        "settlement_asset": "USD",
        "accounts": {
            7: {
                "balances": {"USD": 1_500_000_000, "BTC": 2_000_000},
                "positions": {"BTC-PERP": {"size": 3, "entry_price": 60_000, "funding": -12}},
                "holds": {"USD": 25_000_000},
            },
            2: {"balances": {"USD": -400_000_000}, "positions": {}, "holds": {}},
            40: {
                "balances": {"USD": 900_000_000},
                "positions": {"BTC-PERP": {"size": -3, "entry_price": 60_100, "funding": 12}},
                "holds": {},
            },
        },
        "fee_pool": {"USD": 60_000_000},
        "insurance_fund": {"USD": 40_000_000},
        "deposits": {"USD": 2_500_000_000, "BTC": 2_000_000},
        "withdrawals": {"USD": 400_000_000},
        "marks": {"BTC-PERP": 60_050},
        "index_prices": {"BTC": 60_040},
        "funding_index": {"BTC-PERP": 77},
        "engine": {"next_order_id": 91, "resting": {90: [7, "BTC-PERP", 1, 59_000, 2]}},
    }
    state.update(overrides)
    return state


def _decode(content: bytes) -> dict[str, Any]:
    return msgpack.unpackb(content, raw=False, strict_map_key=False)


def _chain(n: int) -> list[bytes]:
    """n successive snapshots, each chained to the one before."""
    out: list[bytes] = []
    root = digest = ZERO_ROOT
    for i in range(n):
        built = build(make_state(last_fill_seq=1000 + i, ts=10 + i), root, digest)
        out.append(built.content)
        root, digest = built.header.root, header_digest(built.header)
    return out


# -- canonical encoding -------------------------------------------------------------------


def test_leaf_bytes_are_the_documented_canonical_encoding() -> None:
    leaf = canonical_pack({"account": 1, "entry": {"balances": {"USD": 5}}})
    expected = (
        b"\x82"  # map of 2, keys sorted
        + b"\xa7account" + b"\x01"
        + b"\xa5entry" + b"\x81" + b"\xa8balances" + b"\x81" + b"\xa3USD" + b"\x05"
    )  # fmt: skip
    assert leaf == expected


def test_canonical_encoding_ignores_insertion_order_and_sorts_int_keys_numerically() -> None:
    a = canonical_pack({"b": 1, "a": {10: "x", 9: "y", -1: "z"}})
    b = canonical_pack({"a": {-1: "z", 10: "x", 9: "y"}, "b": 1})
    assert a == b
    assert list(msgpack.unpackb(a, strict_map_key=False)["a"]) == [-1, 9, 10]


def test_canonical_encoding_uses_shortest_ints_and_bin_for_bytes() -> None:
    assert canonical_pack(1) == b"\x01"
    assert canonical_pack(-1) == b"\xff"
    assert canonical_pack(200) == b"\xcc\xc8"
    assert canonical_pack(b"\x00") == b"\xc4\x01\x00"
    assert canonical_pack((1, 2)) == canonical_pack([1, 2]) == b"\x92\x01\x02"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": 1.5}, "float"),
        ({"x": np.int64(3)}, "int64"),
        ({1: "a", "b": 2}, "all ints or all strs"),
        ({True: 1}, "all ints or all strs"),
        ({"x": 1 << 64}, "64 bits"),
        ({"x": {1, 2}}, "set"),
    ],
)
def test_canonical_encoding_refuses_what_is_not_plain_integer_data(
    value: object, message: str
) -> None:
    with pytest.raises(CanonicalError, match=message):
        canonical_pack(value)


def test_build_refuses_a_float_in_an_account_with_a_clear_reason() -> None:
    state = make_state()
    state["accounts"][7]["positions"]["BTC-PERP"]["size"] = 3.0
    with pytest.raises(SnapshotError, match=r"accounts.*float") as info:
        build_snapshot(state, ZERO_ROOT)
    assert info.value.fault is Fault.MALFORMED


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.pop("accounts"),
        lambda s: s.update(ts="now"),
        lambda s: s.update(last_fill_seq=None),
        lambda s: s["accounts"].update({"7": {}}),
        lambda s: s["accounts"][2].update(balances={"USD": 1.0}),
        lambda s: s.update(fee_pool=[1]),
    ],
)
def test_build_refuses_an_off_shape_state(mutate: Any) -> None:
    state = make_state()
    mutate(state)
    with pytest.raises(SnapshotError):
        build_snapshot(state, ZERO_ROOT)


def test_build_refuses_a_bad_prev_root() -> None:
    with pytest.raises(SnapshotError, match="prev_root"):
        build_snapshot(make_state(), b"\x00" * 31)


# -- round trip and header ----------------------------------------------------------------


def test_round_trip_restores_the_state_exactly() -> None:
    state = make_state()
    content = build_snapshot(state, ZERO_ROOT)
    snap = load_snapshot(content)
    assert snap.state == state
    assert sorted(snap.state["accounts"]) == [2, 7, 40]  # int keys survive
    assert snap.account_ids() == [2, 7, 40]
    assert verify_snapshot(content).ok


def test_build_is_deterministic_and_independent_of_dict_order() -> None:
    state = make_state()
    shuffled = make_state()
    shuffled["accounts"] = dict(reversed(list(shuffled["accounts"].items())))
    shuffled = dict(reversed(list(shuffled.items())))
    assert build_snapshot(state, ZERO_ROOT) == build_snapshot(shuffled, ZERO_ROOT)


def test_header_holds_root_chain_totals_and_conservation() -> None:
    state = make_state()
    header = load_snapshot(build_snapshot(state, ZERO_ROOT)).header
    leaves = [canonical_pack({"account": a, "entry": state["accounts"][a]}) for a in (2, 7, 40)]
    assert header.root == MerkleTree(leaves).root()
    assert header.prev_root == header.prev_digest == bytes(32)
    assert (header.last_fill_seq, header.ts, header.account_count) == (1234, state["ts"], 3)
    assert header.totals["USD"] == {
        "balances": 2_000_000_000,
        "fee_pool": 60_000_000,
        "insurance_fund": 40_000_000,
        "deposits": 2_500_000_000,
        "withdrawals": 400_000_000,
    }
    assert header.conservation["USD"] == {
        "ledger_total": 2_100_000_000,
        "net_deposits": 2_100_000_000,
        "difference": 0,
        "ok": True,
    }
    assert header.conservation["BTC"]["ok"] is True
    rest = {k: v for k, v in state.items() if k != "accounts"}
    assert header.globals_digest == hashlib.sha256(canonical_pack(rest)).digest()


def test_snapshot_of_no_accounts_has_the_empty_root() -> None:
    state = make_state(accounts={}, fee_pool={}, insurance_fund={}, deposits={}, withdrawals={})
    content = build_snapshot(state, ZERO_ROOT)
    assert load_snapshot(content).header.root == hashlib.sha256(b"").digest()
    assert verify_snapshot(content).ok


# -- tampering: each detected with the right reason ---------------------------------------


def _tamper(content: bytes, edit: Any) -> bytes:
    doc = _decode(content)
    edit(doc)
    return canonical_pack(doc)


def test_tampered_balance_is_a_root_mismatch() -> None:
    content = build_snapshot(make_state(), ZERO_ROOT)
    bad = _tamper(content, lambda d: d["state"]["accounts"][7]["balances"].update(USD=1))
    result = verify_snapshot(bad)
    assert (result.ok, result.reason) == (False, Fault.ROOT_MISMATCH)
    assert "recomputed" in result.detail


def test_tampered_header_root_is_a_root_mismatch() -> None:
    content = build_snapshot(make_state(), ZERO_ROOT)
    bad = _tamper(content, lambda d: d["header"].update(root=b"\x11" * 32))
    result = verify_snapshot(bad)
    assert result.reason is Fault.ROOT_MISMATCH
    assert ("11" * 32) in result.detail


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["header"].update(ts=5), "ts"),
        (lambda d: d["header"].update(last_fill_seq=1), "last_fill_seq"),
        (lambda d: d["header"].update(account_count=4), "account_count"),
        (lambda d: d["state"]["marks"].update({"BTC-PERP": 1}), "globals_digest"),
        (lambda d: d["state"]["engine"].update(next_order_id=1), "globals_digest"),
        (lambda d: d["header"]["totals"]["USD"].update(deposits=1), "totals"),
    ],
)
def test_tampered_header_field_or_non_account_state_is_a_header_mismatch(
    edit: Any, field: str
) -> None:
    content = build_snapshot(make_state(), ZERO_ROOT)
    result = verify_snapshot(_tamper(content, edit))
    assert result.reason is Fault.HEADER_MISMATCH
    assert field in result.detail


def test_tampered_prev_root_breaks_the_chain() -> None:
    first, second = _chain(2)
    assert verify_snapshot(second, first).ok
    bad = _tamper(second, lambda d: d["header"].update(prev_root=b"\x22" * 32))
    assert verify_snapshot(bad).ok  # alone, a prev_root cannot be checked
    result = verify_snapshot(bad, first)
    assert result.reason is Fault.CHAIN_BROKEN
    assert "prev_root" in result.detail


def test_tampered_prev_digest_breaks_the_chain() -> None:
    first, second = _chain(2)
    bad = _tamper(second, lambda d: d["header"].update(prev_digest=b"\x33" * 32))
    result = verify_snapshot(bad, first)
    assert result.reason is Fault.CHAIN_BROKEN
    assert "prev_digest" in result.detail


def test_rewritten_and_rehashed_snapshot_is_caught_by_its_successor() -> None:
    first, second, third = _chain(3)
    # Forge the middle one consistently: new balance, recomputed root and header.
    doc = _decode(second)
    doc["state"]["accounts"][7]["balances"]["USD"] += 1
    doc["state"]["accounts"][2]["balances"]["USD"] -= 1
    forged = build_snapshot(doc["state"], doc["header"]["prev_root"], doc["header"]["prev_digest"])
    assert verify_snapshot(forged, first).ok
    assert verify_snapshot(third, forged).reason is Fault.CHAIN_BROKEN
    # Patching the successor's prev_root is not enough: its prev_digest still disagrees.
    patched = _tamper(
        third, lambda d: d["header"].update(prev_root=load_snapshot(forged).header.root)
    )
    result = verify_snapshot(patched, forged)
    assert result.reason is Fault.CHAIN_BROKEN and "prev_digest" in result.detail


def test_broken_conservation_is_recorded_and_fails_verification() -> None:
    state = make_state()
    state["fee_pool"]["USD"] += 7  # fees from nowhere
    content = build_snapshot(state, ZERO_ROOT)
    header = load_snapshot(content).header
    assert header.conservation["USD"] == {
        "ledger_total": 2_100_000_007,
        "net_deposits": 2_100_000_000,
        "difference": 7,
        "ok": False,
    }
    result = verify_snapshot(content)
    assert result.reason is Fault.CONSERVATION_VIOLATED
    assert "USD" in result.detail and "2100000007" in result.detail and "BTC" not in result.detail


def test_claiming_conservation_in_the_header_does_not_hide_a_break() -> None:
    state = make_state()
    state["insurance_fund"]["USD"] -= 1
    content = build_snapshot(state, ZERO_ROOT)
    ok_claim = {"ledger_total": 1, "net_deposits": 1, "difference": 0, "ok": True}
    bad = _tamper(content, lambda d: d["header"]["conservation"].update(USD=ok_claim))
    assert verify_snapshot(bad).reason is Fault.HEADER_MISMATCH


def test_sequence_going_backwards_is_a_chain_order_fault() -> None:
    first = build(make_state(last_fill_seq=50), ZERO_ROOT)
    second = build_snapshot(
        make_state(last_fill_seq=49), first.header.root, header_digest(first.header)
    )
    assert verify_snapshot(second, first.content).reason is Fault.CHAIN_ORDER


def test_invalid_previous_snapshot_is_reported_as_such() -> None:
    first, second = _chain(2)
    bad_first = _tamper(first, lambda d: d["header"].update(root=b"\x44" * 32))
    assert verify_snapshot(second, bad_first).reason is Fault.PREVIOUS_INVALID
    assert verify_snapshot(second, b"junk").reason is Fault.PREVIOUS_INVALID


def test_previous_snapshot_with_a_conservation_break_still_anchors_the_chain() -> None:
    state = make_state()
    state["fee_pool"]["USD"] += 1
    first = build(state, ZERO_ROOT)
    second = build_snapshot(make_state(), first.header.root, header_digest(first.header))
    assert verify_snapshot(first.content).reason is Fault.CONSERVATION_VIOLATED
    assert verify_snapshot(second, first.content).ok


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        (b"", Fault.MALFORMED),
        (b"\xc1", Fault.MALFORMED),
        (b"junk", Fault.MALFORMED),
        (msgpack.packb({"header": 1}), Fault.MALFORMED),
        (msgpack.packb(msgpack.ExtType(3, b"x")), Fault.MALFORMED),
        (msgpack.packb({"header": {"format": "crossbook-snapshot", "version": 2}, "state": {}}),
         Fault.UNSUPPORTED_VERSION),
    ],
)  # fmt: skip
def test_malformed_bytes_are_reported_not_raised(content: bytes, fault: Fault) -> None:
    result = verify_snapshot(content)
    assert (result.ok, result.reason) == (False, fault)
    with pytest.raises(SnapshotError):
        load_snapshot(content)


def test_truncated_or_extended_file_is_malformed() -> None:
    content = build_snapshot(make_state(), ZERO_ROOT)
    assert verify_snapshot(content[:-1]).reason is Fault.MALFORMED
    assert verify_snapshot(content + b"\x00").reason is Fault.MALFORMED


def test_extra_header_field_is_malformed() -> None:
    content = build_snapshot(make_state(), ZERO_ROOT)
    bad = _tamper(content, lambda d: d["header"].update(note="trust me"))
    assert verify_snapshot(bad).reason is Fault.MALFORMED


def test_every_single_bit_flip_of_a_chained_snapshot_is_detected() -> None:
    small = {
        "version": 1, "ts": 5, "last_fill_seq": 3, "settlement_asset": "USD",
        "accounts": {1: {"balances": {"USD": 60}}, 2: {"balances": {"USD": 40}}},
        "fee_pool": {"USD": 0}, "insurance_fund": {}, "deposits": {"USD": 100},
        "withdrawals": {}, "marks": {"X": 9},
    }  # fmt: skip
    first = build(small, ZERO_ROOT)
    second = build_snapshot(dict(small, ts=6), first.header.root, header_digest(first.header))
    assert verify_snapshot(second, first.content).ok
    for bit in range(len(second) * 8):
        flipped = bytearray(second)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not verify_snapshot(bytes(flipped), first.content).ok, bit


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_verify_never_raises_on_arbitrary_bytes(content: bytes) -> None:
    result = verify_snapshot(content)
    assert not result.ok and result.reason is not None


# -- inclusion proofs ---------------------------------------------------------------------


def test_every_account_proof_is_json_and_verifies_standalone() -> None:
    state = make_state()
    content = build_snapshot(state, ZERO_ROOT)
    root = load_snapshot(content).header.root
    for index, account in enumerate([2, 7, 40]):
        proof = inclusion_proof(content, account)
        assert set(proof) >= {"account", "leaf", "leaf_index", "tree_size", "audit_path", "root"}
        assert (proof["account"], proof["leaf_index"], proof["tree_size"]) == (account, index, 3)
        assert proof["root"] == root.hex()
        leaf = bytes.fromhex(proof["leaf"])
        assert decode_leaf(leaf) == {"account": account, "entry": state["accounts"][account]}
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path, root)


def test_proof_of_an_unknown_account_raises() -> None:
    content = build_snapshot(make_state(), ZERO_ROOT)
    with pytest.raises(UnknownAccount, match="account 3 is not in this snapshot"):
        inclusion_proof(content, 3)


def test_no_proof_against_a_root_the_leaves_do_not_give() -> None:
    content = build_snapshot(make_state(), ZERO_ROOT)
    bad = _tamper(content, lambda d: d["state"]["accounts"][7]["balances"].update(USD=1))
    with pytest.raises(SnapshotError) as info:
        inclusion_proof(bad, 7)
    assert info.value.fault is Fault.ROOT_MISMATCH


def test_state_is_not_aliased_by_build() -> None:
    state = make_state()
    before = copy.deepcopy(state)
    build_snapshot(state, ZERO_ROOT)
    assert state == before


# -- docs/snapshots.md stays true ---------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "snapshots.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_doc_shows_the_real_standalone_function_and_its_worked_example_runs() -> None:
    blocks = _python_blocks(DOC.read_text())
    assert blocks[0] == inspect.getsource(verify_inclusion)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # the asserts in the doc must hold


def test_doc_example_proof_is_what_the_code_produces() -> None:
    state = {
        "version": 1, "ts": 1_700_000_000_000_000_000, "last_fill_seq": 1234,
        "settlement_asset": "USD",
        "accounts": {
            1: {"balances": {"USD": 600_000_000}},
            2: {"balances": {"USD": 250_000_000}, "positions": {"BTC-PERP": {"size": 2}}},
            3: {"balances": {"USD": 100_000_000}},
        },
        "fee_pool": {"USD": 30_000_000}, "insurance_fund": {"USD": 20_000_000},
        "deposits": {"USD": 1_000_000_000}, "withdrawals": {},
        "marks": {"BTC-PERP": 60_000_000_000}, "index_prices": {}, "funding_index": {},
        "engine": {},
    }  # fmt: skip
    proof = inclusion_proof(build_snapshot(state, ZERO_ROOT), 2)
    shown = re.search(r"```json\n(.*?)```", DOC.read_text(), flags=re.S)
    assert shown is not None and json.loads(shown.group(1)) == proof


# -- with the real engine ------------------------------------------------------------------


def test_real_engine_state_round_trips_through_a_snapshot(pipe: Any, config: Any) -> None:
    from clearing.engine import ClearingEngine
    from tests.clearing.helpers import index, trade

    trade(pipe, 10, 1, 2, 5, 100)
    index(pipe, 20, 105)
    trade(pipe, 30, 3, 1, 2, 104)
    state = pipe.clearing.export_state()
    content = build_snapshot(state, ZERO_ROOT)
    result = verify_snapshot(content)
    assert result.ok, result
    snap = load_snapshot(content)
    assert snap.header.last_fill_seq == state["last_fill_seq"] > 0
    restored = ClearingEngine.from_state(config, snap.state)
    assert restored.export_state() == state
    assert restored.state_hash() == pipe.clearing.state_hash()
    for account in state["accounts"]:
        proof = inclusion_proof(content, account)
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        leaf = bytes.fromhex(proof["leaf"])
        root = snap.header.root
        assert verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"], path, root)
