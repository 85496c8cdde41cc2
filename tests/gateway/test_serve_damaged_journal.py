"""``crossbook serve`` on a damaged journal: a torn tail recovers, a flipped byte refuses.

The journal comes from a real server killed with SIGKILL under load (no snapshot, so the
whole journal is replayed on start; small segments, so it has several). Then, on a copy
each:

- **torn tail**: a record cut short is appended to the last segment (a few bytes of its
  header, its header alone, half its payload, zeros): the server starts, logs the cut
  naming the segment, the segment is back to its whole records, and the recovered journal
  seq and state hash are those of the whole records (``crossbook journal replay``);
- **flipped byte** in a complete record (a payload or a header byte of a record of a
  middle segment, a payload byte of the very last record): the server refuses to start,
  exit code 1 and exactly one line on stderr naming the segment file and the record's
  offset, no traceback; ``--fresh`` then starts from the configuration, with the damaged
  journal moved aside unchanged.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from clearing.commands import Tick
from clearing.core.state import encode_batch
from gateway.journal.layout import encode_record, list_segments
from gateway.journal.scan import SegmentScan, read_segment
from tests.gateway.kill_helpers import journal_replay, journal_under_load, run_serve, serve
from tests.gateway.test_serve_processes import write_config

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


async def _killed_under_load(tmp: Path) -> Path:
    j = await journal_under_load(tmp, seed=7, tag="d", seconds=1.0, kill=True,
                                 journal_segment_bytes=8192)  # fmt: skip
    assert j.acked.n_fills() > 0
    return j.state


@pytest.fixture(scope="module")
def journaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """A state dir a server left when killed under load: (dir, last seq, its state hash)."""
    state = asyncio.run(_killed_under_load(tmp_path_factory.mktemp("killed")))
    assert not list((state / "snapshots").glob("*.msgpack"))  # the journal is all there is
    seq, h = journal_replay(state)
    assert seq > 20 and len(list_segments(state / "journal")) >= 3
    return state, seq, h


def _copy(journaled: tuple[Path, int, str], tmp_path: Path) -> tuple[Path, Path]:
    """The journaled state under a config of its own (fresh ports): (config, state dir)."""
    cfg, _, state = write_config(tmp_path)
    shutil.copytree(journaled[0], state)
    return cfg, state


def _last_segment(state: Path) -> Path:
    return list_segments(state / "journal")[-1].path


@pytest.mark.parametrize("cut", ["7 bytes", "header only", "half the payload", "zeros"])
async def test_a_torn_tail_is_cut_off_and_the_whole_records_recover(
        journaled: tuple[Path, int, str], tmp_path: Path, cut: str) -> None:  # fmt: skip
    _, seq, whole_hash = journaled
    cfg, state = _copy(journaled, tmp_path)
    seg = _last_segment(state)
    size = seg.stat().st_size
    record = encode_record(seq + 1, encode_batch([Tick(1_800_000_000_000_000_000)] * 8))
    tail = {"7 bytes": record[:7], "header only": record[:20],
            "half the payload": record[:20 + (len(record) - 20) // 2],
            "zeros": bytes(33)}[cut]  # fmt: skip
    with seg.open("ab") as f:
        f.write(tail)
    async with serve("--config", str(cfg)) as srv:
        assert (srv.journal_seq, srv.state_hash) == (seq, whole_hash)
        assert seg.stat().st_size == size  # cut back to the last whole record
        cut_lines = [ln for ln in srv.err if "torn" in ln]
        assert cut_lines and seg.name in cut_lines[0], srv.stderr
        assert f"{len(tail)} bytes after offset {size}" in cut_lines[0], cut_lines
        assert await srv.stop() == 0, srv.stderr[-2000:]
    assert "Traceback" not in srv.stderr


@pytest.mark.parametrize("where", ["middle payload", "middle header", "last payload"])
async def test_a_flipped_byte_refuses_to_start_and_fresh_starts_over(
        journaled: tuple[Path, int, str], tmp_path: Path, where: str) -> None:  # fmt: skip
    cfg, state = _copy(journaled, tmp_path)
    segments = list_segments(state / "journal")
    segment = segments[-1] if where.startswith("last") else segments[len(segments) // 2]
    seg = segment.path
    records = list(SegmentScan(segment, read_segment(segment), is_last=True))
    _, off, payload = records[-1] if where.startswith("last") else records[len(records) // 2]
    at = off + 20 + len(payload) // 2 if where.endswith("payload") else off + 9  # length field
    data = bytearray(seg.read_bytes())
    data[at] ^= 0x10
    seg.write_bytes(bytes(data))
    code, out, err = await run_serve("--config", str(cfg))
    assert code == 1, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert str(seg) in lines[0] and f"offset {off}:" in lines[0], lines[0]
    assert "Traceback" not in err and "recovered journal seq" not in out
    # --fresh starts from the configuration and keeps the damaged journal aside, unchanged
    async with serve("--config", str(cfg), "--fresh") as srv:
        assert srv.journal_seq == 0
        assert await srv.stop() == 0, srv.stderr[-2000:]
    [kept] = state.glob("journal.archived-*")
    assert (kept / seg.name).read_bytes() == bytes(data)
