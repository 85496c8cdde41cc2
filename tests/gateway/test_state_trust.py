"""Restarts trust only verified state: ``crossbook serve`` refuses, with exit 1 and one line,
a broken chain link, an edited middle snapshot (with or without recomputed hashes), an old
snapshot copied under a newer name, a journal that ends before the newest snapshot, and a
deleted newest snapshot the journal no longer covers; a deleted newest snapshot the journal
still covers recovers the very same state (no rollback). Signatures: an edited newest
snapshot with recomputed hashes, a stripped signature, or another key's signature is
refused; a state dir from before signing still restores."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import zmq.asyncio

from clearing.core.state import journal_seq_of
from clearing.snapshot import ZERO_ROOT, build, header_digest, load_snapshot
from gateway.cli import main
from gateway.exchange_config import default_toml
from gateway.journal.layout import list_segments
from gateway.recovery import journal_dir, recover
from gateway.snapshot_signing import (
    generate,
    load_state_key,
    public_path,
    secret_path,
    signature_problem,
)
from gateway.snapshot_store import list_snapshots, read_snapshot_bytes, snapshot_dir
from tests.gateway.serve_helpers import Bot, make_config, running_exchange

pytestmark = pytest.mark.timeout(120)


async def _make_state(tmp_path: Path, runs: int = 3, orders: int = 8,
                      **changes: object) -> tuple[Path, str]:  # fmt: skip
    """A state dir with ``runs`` chained snapshots (one per stop) and a journal; the hash
    of its final state."""
    cfg = make_config(tmp_path, **changes)
    ctx = zmq.asyncio.Context()
    try:
        for run in range(runs):
            async with running_exchange(tmp_path, config=cfg) as ex:
                bot = Bot.for_account(ctx, ex, 1)
                await bot.logon()
                for i in range(orders):
                    await bot.order(f"r{run}-{i}", "buy", 1, 590_000 - 10 * i)
                bot.close()
    finally:
        ctx.destroy(linger=0)
    state = Path(cfg.state_dir)
    assert len(list_snapshots(snapshot_dir(state))) == runs
    return state, recover(cfg).state_hash()


def _serve(state: Path, tmp_path: Path) -> tuple[int, str, str]:
    """``crossbook serve`` on ``state`` (ports picked by the OS); it must refuse and exit."""
    text = default_toml()
    for port in range(5555, 5563):
        text = text.replace(f"127.0.0.1:{port}", "127.0.0.1:*")
    cfg = tmp_path / "serve.toml"
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", str(cfg),
                           "--state-dir", str(state)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def _refused(state: Path, tmp_path: Path, *words: str) -> None:
    code, out, err = _serve(state, tmp_path)
    assert code == 1, (code, out, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("crossbook serve: ") and "--fresh" in err, err
    for w in words:
        assert w in err, err


def _copy(state: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(state, target)
    for lock in target.rglob("*.lock"):
        lock.unlink()
    return target


def _rewrite(path: Path, change, *, prev: tuple[bytes, bytes] | None = None) -> None:
    """Rebuild the snapshot at ``path`` from its edited state (consistent hashes), linked to
    ``prev`` (root, digest) or to what it linked to before."""
    snap = load_snapshot(read_snapshot_bytes(path))
    state = msgpack.unpackb(msgpack.packb(snap.state), strict_map_key=False)
    change(state)
    links = prev or (snap.header.prev_root, snap.header.prev_digest)
    path.write_bytes(build(state, *links).content)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("chain")
    return asyncio.run(_make_state(base, runs=4))


def test_the_untouched_state_dir_recovers(chain: tuple[Path, str], tmp_path: Path) -> None:
    state, digest = chain
    d = _copy(state, tmp_path, "ok")
    cfg = make_config(tmp_path, state_dir=d)
    assert recover(cfg).state_hash() == digest


def test_a_broken_chain_link_is_refused(chain: tuple[Path, str], tmp_path: Path) -> None:
    d = _copy(chain[0], tmp_path, "s")
    newest = list_snapshots(snapshot_dir(d))[-1]
    _rewrite(newest, lambda s: None, prev=(ZERO_ROOT, ZERO_ROOT))  # valid itself, unlinked
    _refused(d, tmp_path, newest.name, "chain broken")


def test_an_edited_middle_snapshot_is_refused(chain: tuple[Path, str], tmp_path: Path) -> None:
    d = _copy(chain[0], tmp_path, "s")
    middle = list_snapshots(snapshot_dir(d))[1]  # two before the newest
    raw = msgpack.unpackb(middle.read_bytes(), strict_map_key=False)
    raw["state"]["accounts"][1]["balances"]["USD"] += 10**9  # hashes not recomputed
    middle.write_bytes(msgpack.packb(raw))
    _refused(d, tmp_path, middle.name, "does not verify")


def test_an_edited_middle_snapshot_with_new_hashes_is_refused(chain: tuple[Path, str],
                                                             tmp_path: Path) -> None:  # fmt: skip
    d = _copy(chain[0], tmp_path, "s")
    files = list_snapshots(snapshot_dir(d))

    def richer(state: dict) -> None:
        state["accounts"][1]["balances"]["USD"] += 10**9
        state["deposits"]["USD"] = state["deposits"].get("USD", 0) + 10**9  # conserved
    _rewrite(files[1], richer)
    _refused(d, tmp_path, files[2].name, "chain broken")  # files[3] -> [2] still link


def test_an_old_snapshot_copied_under_a_newer_name_is_refused(chain: tuple[Path, str],
                                                              tmp_path: Path) -> None:  # fmt: skip
    d = _copy(chain[0], tmp_path, "renamed")
    files = list_snapshots(snapshot_dir(d))
    newest_fill = load_snapshot(read_snapshot_bytes(files[-1])).header.last_fill_seq
    fake = files[-1].with_name(f"snapshot-{newest_fill + 5:012d}-0000.msgpack")
    shutil.copy(files[0], fake)
    _refused(d, tmp_path, fake.name, "copied or renamed")
    # the same fill sequence, a later serial: the name fits, the chain does not
    d2 = _copy(chain[0], tmp_path, "serial")
    files = list_snapshots(snapshot_dir(d2))
    first = load_snapshot(read_snapshot_bytes(files[0])).header
    older = files[0].with_name(f"snapshot-{first.last_fill_seq:012d}-0009.msgpack")
    shutil.copy(files[0], older)
    fake2 = files[-1].with_name(f"snapshot-{newest_fill:012d}-0009.msgpack")
    snap0 = load_snapshot(read_snapshot_bytes(files[0]))
    state0 = msgpack.unpackb(msgpack.packb(snap0.state), strict_map_key=False)
    state0["last_fill_seq"] = newest_fill  # an old state dressed as the newest
    last = load_snapshot(read_snapshot_bytes(files[-1])).header
    fake2.write_bytes(build(state0, ZERO_ROOT, ZERO_ROOT).content)
    older.unlink()
    _refused(d2, tmp_path, fake2.name, "chain broken")
    assert header_digest(last) != header_digest(load_snapshot(fake2.read_bytes()).header)


def test_a_journal_ending_before_the_newest_snapshot_is_refused(
        chain: tuple[Path, str], tmp_path: Path) -> None:  # fmt: skip
    d = _copy(chain[0], tmp_path, "s")
    shutil.rmtree(journal_dir(d))
    _refused(d, tmp_path, "the journal ends at seq 0", "rollback")


def test_a_deleted_newest_snapshot_recovers_from_the_journal_without_rollback(
        chain: tuple[Path, str], tmp_path: Path) -> None:  # fmt: skip
    state, digest = chain
    d = _copy(state, tmp_path, "s")
    list_snapshots(snapshot_dir(d))[-1].unlink()
    cfg = make_config(tmp_path, state_dir=d)
    rec = recover(cfg)
    assert rec.replayed > 0 and rec.state_hash() == digest  # the journal covers it


async def test_a_deleted_newest_snapshot_past_a_pruned_journal_is_refused(tmp_path: Path) -> None:
    state, _ = await _make_state(tmp_path, runs=3, orders=80, journal_segment_bytes=4096,
                                 journal_retention_snapshots=1)  # fmt: skip
    files = list_snapshots(snapshot_dir(state))
    first_seq = list_segments(journal_dir(state))[0].first_seq
    older_seq = journal_seq_of(load_snapshot(read_snapshot_bytes(files[-2])).state)
    assert first_seq > older_seq + 1, "the journal was not pruned past the older snapshot"
    files[-1].unlink()
    _refused(state, tmp_path, f"starts at seq {first_seq}", "missing")


# -- signatures (gateway.snapshot_signing) -------------------------------------------------


def _richer(state: dict) -> None:
    state["accounts"][1]["balances"]["USD"] += 10**9
    state["deposits"]["USD"] = state["deposits"].get("USD", 0) + 10**9  # conserved


def _resign(path: Path, change, sign) -> None:
    """Rebuild the snapshot at ``path`` from its edited state, linked as before, signed by
    ``sign`` (a key, or a function of the new header that returns the signature to keep)."""
    snap = load_snapshot(read_snapshot_bytes(path))
    state = msgpack.unpackb(msgpack.packb(snap.state), strict_map_key=False)
    change(state)
    path.write_bytes(build(state, snap.header.prev_root, snap.header.prev_digest, sign).content)


def test_the_snapshots_of_a_state_dir_are_signed_with_its_key(chain: tuple[Path, str]) -> None:
    state = chain[0]
    key = load_state_key(state)
    assert key is not None and key.unsigned_head is None  # made before the first snapshot
    for f in list_snapshots(snapshot_dir(state)):
        snap = load_snapshot(read_snapshot_bytes(f))
        assert signature_problem(snap.header, snap.signature, key.public) is None


def test_an_edited_balance_with_recomputed_hashes_is_refused(chain: tuple[Path, str],
                                                            tmp_path: Path) -> None:  # fmt: skip
    d = _copy(chain[0], tmp_path, "s")
    newest = list_snapshots(snapshot_dir(d))[-1]
    old_sig = load_snapshot(read_snapshot_bytes(newest)).signature
    _resign(newest, _richer, lambda message: old_sig)  # hashes all consistent again
    assert main(["snapshot", "verify", str(newest)]) == 0  # the hashes alone cannot tell
    pub = str(public_path(d))
    assert main(["snapshot", "verify", str(newest), "--pubkey", pub]) == 1
    _refused(d, tmp_path, newest.name, "the signature does not verify")
    _resign(newest, lambda s: None, None)  # the signature stripped instead
    _refused(d, tmp_path, newest.name, "not signed, but written after the signing key")


def test_a_snapshot_signed_by_another_key_is_refused(chain: tuple[Path, str],
                                                    tmp_path: Path) -> None:  # fmt: skip
    d = _copy(chain[0], tmp_path, "s")
    files = list_snapshots(snapshot_dir(d))
    _resign(files[-1], _richer, generate(None))
    _refused(d, tmp_path, files[-1].name, "signed by another key")


def test_the_right_key_verifies_the_state_dir_and_a_wrong_one_does_not(
        chain: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    files = [str(f) for f in list_snapshots(snapshot_dir(chain[0]))]
    assert main(["snapshot", "verify", *files, "--pubkey", str(public_path(chain[0]))]) == 0
    assert main(["snapshot", "verify", *files, "--pubkey", generate(None).public.hex()]) == 1
    out = capsys.readouterr().out
    assert out.count("INVALID (bad_signature): signed by another key") == len(files)


async def test_a_state_dir_from_before_signing_still_restores(chain: tuple[Path, str],
                                                             tmp_path: Path) -> None:  # fmt: skip
    """Strip every signature and the key: a state dir as written before this feature. It
    restores the same state; its next snapshot is signed; a later unsigned one is not."""
    state, digest = chain
    d = _copy(state, tmp_path, "old")
    for f in (secret_path(d), public_path(d)):
        f.unlink()
    old = list_snapshots(snapshot_dir(d))
    for f in old:
        _resign(f, lambda s: None, None)
    old_newest = load_snapshot(read_snapshot_bytes(old[-1])).header
    cfg = make_config(tmp_path, state_dir=d)
    async with running_exchange(tmp_path, config=cfg) as ex:
        assert ex.clearing.restored_from == str(old[-1])
        assert ex.clearing.recovered_hash == digest
    key = load_state_key(d)
    assert key is not None and key.unsigned_head == header_digest(old_newest)
    files = list_snapshots(snapshot_dir(d))
    assert len(files) == len(old) + 1
    new = load_snapshot(read_snapshot_bytes(files[-1]))
    assert signature_problem(new.header, new.signature, key.public) is None
    assert recover(cfg).snapshot == files[-1]  # signed newest, then the unsigned ones
    _resign(files[-1], lambda s: None, None)  # newer than the key, yet unsigned
    _refused(d, tmp_path, files[-1].name, "not signed")
