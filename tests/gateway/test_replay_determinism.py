"""Replay is deterministic: the same journal gives the same state hash every time, from
the configuration (genesis) or from any snapshot, and the hash the live server logged.

The state dir comes from a real embedded server that traded the seeded two-account flow,
wrote periodic snapshots (every 150 matcher events) and was stopped with SIGTERM. Then:

- ``crossbook journal replay DIR`` twice prints the same seq and hash, the one the server
  logged at its stop; two in-process replays from genesis give the same report;
- at every sequence the server logged a snapshot hash for, a replay from genesis gives
  that hash; at several sequences (on a snapshot, just after one, the last), a replay from
  the newest snapshot at or before it and one from genesis give the same hash;
- ``crossbook journal replay DIR --to N`` with the snapshots present (it starts from one)
  and moved aside (it starts from the configuration) prints the same hash.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from clearing.core.state import journal_seq_of
from clearing.snapshot import load_snapshot
from gateway.exchange_config import load_exchange_config
from gateway.journal.replay import replay
from gateway.snapshot_store import list_snapshots, read_snapshot_bytes, snapshot_dir
from tests.gateway.kill_helpers import HASH, journal_under_load, stopped_hash

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

_SNAPSHOT_LOG = re.compile(r"snapshot at journal seq (\d+) state hash ([0-9a-f]{64})")


@dataclass
class Traded:
    cfg: Path
    state: Path
    seq: int
    """The journal seq the server stopped at, and its logged state hash."""
    stopped: str
    logged: dict[int, str]
    """journal seq -> the state hash the live server logged for its snapshot there."""
    snapshot_seqs: list[int]


async def _trade_and_stop(tmp: Path) -> Traded:
    j = await journal_under_load(tmp, seed=3, tag="x", seconds=1.5, snapshot_every_fills=150)
    cfg, state, srv, acked = j.cfg, j.state, j.server, j.acked
    assert acked.n_fills() > 20
    seq, stopped = stopped_hash(srv)
    logged = {int(m.group(1)): m.group(2) for m in _SNAPSHOT_LOG.finditer(srv.stderr)}
    snaps = [journal_seq_of(load_snapshot(read_snapshot_bytes(p)).state)
             for p in list_snapshots(snapshot_dir(state))]  # fmt: skip
    return Traded(cfg, state, seq, stopped, logged, snaps)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Traded:
    t = asyncio.run(_trade_and_stop(tmp_path_factory.mktemp("traded")))
    inner = [s for s in t.snapshot_seqs if 0 < s < t.seq]
    assert len(inner) >= 2, t.snapshot_seqs  # periodic snapshots before the final one
    return t


def _cli(state: Path, report: Path, to: int | None = None) -> tuple[int, str, dict]:
    """``crossbook journal replay STATE [--to N] --report F``: (seq, hash, report)."""
    args = ["--to", str(to)] if to is not None else []
    out = subprocess.run([sys.executable, "-m", "gateway", "journal", "replay", str(state),
                          *args, "--report", str(report)],
                         capture_output=True, check=True, timeout=60)  # fmt: skip
    m = HASH.search(out.stdout.decode())
    assert m is not None, out
    return int(m.group(1)), m.group(2), json.loads(report.read_text())


def _untimed(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("elapsed_s", "messages_per_s")}


def test_the_same_journal_replayed_twice_gives_the_same_hash(traded: Traded,
                                                             tmp_path: Path) -> None:  # fmt: skip
    first = _cli(traded.state, tmp_path / "a.json")
    second = _cli(traded.state, tmp_path / "b.json")
    assert first[:2] == second[:2] == (traded.seq, traded.stopped)
    assert _untimed(first[2]) == _untimed(second[2])
    cfg = replace(load_exchange_config(traded.cfg), state_dir=traded.state)
    a, b = (replay(cfg, earliest=True) for _ in range(2))
    assert a["snapshot"] is None and a["records"] == traded.seq  # the whole journal
    assert _untimed(a) == _untimed(b)
    assert (a["journal_seq"], a["state_hash"]) == (traded.seq, traded.stopped)
    assert a["trades"] > 0


def test_genesis_and_snapshot_replays_agree_at_every_sequence(traded: Traded) -> None:
    cfg = replace(load_exchange_config(traded.cfg), state_dir=traded.state)
    # every hash the live server logged is what a replay from the configuration gives
    assert traded.logged
    for seq, logged in sorted(traded.logged.items()):
        assert replay(cfg, to_seq=seq, earliest=True)["state_hash"] == logged, seq
    inner = sorted(s for s in traded.snapshot_seqs if 0 < s < traded.seq)
    for seq in (inner[0], inner[0] + 1, inner[-1] + 3, traded.seq):
        seq = min(seq, traded.seq)
        from_snapshot = replay(cfg, to_seq=seq)
        assert from_snapshot["snapshot_seq"] == max(s for s in traded.snapshot_seqs if s <= seq)
        genesis = replay(cfg, to_seq=seq, earliest=True)
        assert genesis["snapshot"] is None and genesis["records"] == seq
        assert from_snapshot["journal_seq"] == genesis["journal_seq"] == seq
        assert from_snapshot["state_hash"] == genesis["state_hash"], seq


def test_cli_replay_with_snapshots_present_and_moved_aside(traded: Traded,
                                                           tmp_path: Path) -> None:  # fmt: skip
    inner = sorted(s for s in traded.snapshot_seqs if 0 < s < traded.seq)
    to = min(inner[len(inner) // 2] + 2, traded.seq)
    seq, present, report = _cli(traded.state, tmp_path / "present.json", to)
    assert seq == to and 0 < report["snapshot_seq"] <= to
    snaps = snapshot_dir(traded.state)
    aside = snaps.with_name("snapshots.aside")
    snaps.rename(aside)
    try:
        seq, genesis, report = _cli(traded.state, tmp_path / "genesis.json", to)
    finally:
        aside.rename(snaps)
    assert report["snapshot"] is None and report["records"] == to
    assert (seq, genesis) == (to, present)
