"""``crossbook snapshot verify|proof`` through the real dispatcher, ``gateway.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from clearing.merkle import verify_inclusion
from clearing.snapshot import canonical_pack, load_snapshot
from gateway.cli import main
from gateway.snapshot_store import SnapshotWriter


def make_state(seq: int, usd_a: int = 700) -> dict[str, Any]:
    return {
        "version": 1,
        "ts": seq * 1_000,
        "last_fill_seq": seq,
        "settlement_asset": "USD",
        "accounts": {
            11: {"balances": {"USD": usd_a}, "positions": {"X": {"size": 2}}},
            5: {"balances": {"USD": 950 - usd_a}},
            30: {"balances": {"USD": 0}},
        },
        "fee_pool": {"USD": 30},
        "insurance_fund": {"USD": 20},
        "deposits": {"USD": 1000},
        "withdrawals": {},
    }


@pytest.fixture
def chain(tmp_path: Path) -> list[Path]:
    writer = SnapshotWriter(tmp_path)
    return [writer.write(make_state(seq, 700 - seq)) for seq in (10, 20, 30)]


def _tamper(path: Path, edit: Any) -> None:
    doc = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    edit(doc)
    path.write_bytes(canonical_pack(doc))


def test_verify_first_snapshot_says_the_chain_starts_there(
    chain: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["snapshot", "verify", str(chain[0])]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "INVALID" not in out
    assert "root recomputed from 3 account leaves" in out
    assert "conservation exact for USD" in out
    assert "first snapshot of its chain" in out


def test_verify_checks_the_predecessor_found_in_the_directory(
    chain: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["snapshot", "verify", str(chain[2])]) == 0
    out = capsys.readouterr().out
    assert "prev_root and prev_digest match the previous snapshot" in out
    assert chain[1].name in out


def test_verify_with_explicit_prev(chain: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snapshot", "verify", str(chain[1]), "--prev", str(chain[0])]) == 0
    assert chain[0].name in capsys.readouterr().out
    assert main(["snapshot", "verify", str(chain[2]), "--prev", str(chain[0])]) == 1
    assert "INVALID (chain_broken)" in capsys.readouterr().out


def test_verify_a_copy_outside_its_directory_says_the_chain_was_not_checked(
    chain: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy.msgpack"
    copy.write_bytes(chain[1].read_bytes())
    assert main(["snapshot", "verify", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "chain: not checked" in out and "--prev" in out


def test_verify_tampered_balance_exits_1_with_the_reason(
    chain: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper(chain[1], lambda d: d["state"]["accounts"][11]["balances"].update(USD=10**9))
    assert main(["snapshot", "verify", str(chain[1])]) == 1
    out = capsys.readouterr().out
    assert "INVALID (root_mismatch)" in out and "recomputed" in out


def test_verify_broken_conservation_exits_1_with_both_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = make_state(3)
    state["withdrawals"] = {"USD": 5}
    path = SnapshotWriter(tmp_path / "other").write(state)
    assert main(["snapshot", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "INVALID (conservation_violated)" in out
    assert "= 1000" in out and "= 995" in out


def test_verify_tampered_predecessor_in_the_directory_exits_1(
    chain: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper(chain[1], lambda d: d["header"].update(prev_root=b"\x01" * 32))
    assert main(["snapshot", "verify", str(chain[1])]) == 1  # its own predecessor disagrees
    assert "INVALID (chain_broken)" in capsys.readouterr().out
    assert main(["snapshot", "verify", str(chain[2])]) == 1  # its successor's digest too
    out = capsys.readouterr().out
    assert "INVALID (chain_broken)" in out and "prev_digest" in out


def test_verify_garbage_is_invalid_and_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.msgpack"
    junk.write_bytes(b"not msgpack at all")
    assert main(["snapshot", "verify", str(junk)]) == 1
    assert "INVALID (malformed)" in capsys.readouterr().out
    assert main(["snapshot", "verify", str(tmp_path / "absent.msgpack")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_proof_prints_json_that_the_standalone_function_verifies(
    chain: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = load_snapshot(chain[2].read_bytes()).header.root
    for index, account in enumerate([5, 11, 30]):
        assert main(["snapshot", "proof", str(chain[2]), str(account)]) == 0
        proof = json.loads(capsys.readouterr().out)
        assert proof["account"] == account and proof["leaf_index"] == index
        assert proof["root"] == root.hex() and proof["tree_size"] == 3
        assert verify_inclusion(
            bytes.fromhex(proof["leaf"]),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(h) for h in proof["audit_path"]],
            bytes.fromhex(proof["root"]),
        )


def test_proof_of_unknown_account_exits_1_with_a_clear_message(
    chain: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["snapshot", "proof", str(chain[0]), "12"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "account 12 is not in this snapshot (3 accounts)" in captured.err


def test_proof_refuses_a_snapshot_whose_root_does_not_match(
    chain: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper(chain[0], lambda d: d["header"].update(root=b"\x02" * 32))
    assert main(["snapshot", "proof", str(chain[0]), "11"]) == 1
    assert "not a valid snapshot (root_mismatch)" in capsys.readouterr().err


def test_proof_account_must_be_an_integer(chain: list[Path]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["snapshot", "proof", str(chain[0]), "alice"])
    assert info.value.code == 2


# -- signatures (--pubkey) ---------------------------------------------------------------


@pytest.fixture
def signed(tmp_path: Path) -> tuple[list[Path], Path]:
    """Three signed snapshots in ``tmp_path/signed`` and the public key file."""
    from gateway.snapshot_signing import ensure_signing_key, public_path

    state_dir = tmp_path / "signed"
    writer = SnapshotWriter(state_dir, sign=ensure_signing_key(state_dir))
    files = [writer.write(make_state(seq, 700 - seq)) for seq in (10, 20, 30)]
    return files, public_path(state_dir)


def _forge(path: Path) -> None:
    """Move 100 USD from account 5 to account 11 and rebuild every hash (conserved, linked
    as before); the signature is kept."""
    from clearing.snapshot import build

    doc = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    doc["state"]["accounts"][11]["balances"]["USD"] += 100
    doc["state"]["accounts"][5]["balances"]["USD"] -= 100
    header = doc["header"]
    rebuilt = msgpack.unpackb(
        build(doc["state"], header["prev_root"], header["prev_digest"]).content,
        raw=False, strict_map_key=False,
    )  # fmt: skip
    rebuilt["signature"] = doc["signature"]
    path.write_bytes(canonical_pack(rebuilt))


def test_verify_pubkey_passes_with_the_right_key_and_fails_with_a_wrong_one(
    signed: tuple[list[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.snapshot_signing import generate, parse_public_key

    files, pub = signed
    assert main(["snapshot", "verify", *map(str, files), "--pubkey", str(pub)]) == 0
    out = capsys.readouterr().out
    assert out.count(": valid") == 3 and "verifies with the --pubkey key" in out
    hex_key = parse_public_key(str(pub)).hex()
    assert main(["snapshot", "verify", str(files[1]), "--pubkey", hex_key]) == 0
    capsys.readouterr()
    wrong = generate(None).public.hex()
    assert main(["snapshot", "verify", str(files[2]), "--pubkey", wrong]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{files[2]}: INVALID (bad_signature): signed by another key")


def test_verify_a_forged_balance_with_recomputed_hashes_passes_only_without_pubkey(
    signed: tuple[list[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files, pub = signed
    _forge(files[2])
    assert main(["snapshot", "verify", str(files[2])]) == 0  # every hash is consistent
    assert "signature: not checked" in capsys.readouterr().out
    assert main(["snapshot", "verify", *map(str, files), "--pubkey", str(pub)]) == 1
    out = capsys.readouterr().out
    assert out.count(": valid") == 2
    assert f"{files[2]}: INVALID (bad_signature): the signature does not verify" in out


def test_verify_pubkey_refuses_an_unsigned_snapshot(
    chain: list[Path], signed: tuple[list[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _files, pub = signed
    assert main(["snapshot", "verify", str(chain[0]), "--pubkey", str(pub)]) == 1
    assert capsys.readouterr().out.startswith(f"{chain[0]}: INVALID (unsigned): not signed")


def test_verify_pubkey_that_is_not_a_key_is_a_usage_error(
    signed: tuple[list[Path], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _pub = signed
    assert main(["snapshot", "verify", str(files[0]), "--pubkey", "beef"]) == 2
    assert "--pubkey" in capsys.readouterr().err
    assert main(["snapshot", "verify", *map(str, files[:2]), "--prev", str(files[0])]) == 2
    assert "one FILE" in capsys.readouterr().err
