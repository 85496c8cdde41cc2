"""``gateway.recovery`` on state dirs built in the test, no sockets: snapshot + journal ->
the exact state of an uninterrupted run.

The state dir is written the way the clearing role writes it: seeded batches (gateway,
logons, resting and crossing orders, cancels, ticks, index prices) run through
``clearing.pipeline.Pipeline`` on the embedded configuration, each appended to the
journal with ``JournalWriter`` and ``encode_batch``, snapshots of ``export_state`` written
with ``SnapshotWriter`` at chosen sequences. Checked:

- recovery from the newest snapshot plus the journal after it, and from the configuration
  with no snapshot, give the pipeline's state hash and books, and both continue exactly
  like the uninterrupted pipeline;
- ``to_seq`` stops at that sequence (the newest snapshot at or before it, then the
  journal), for every sequence;
- ``earliest`` starts from the configuration when the journal begins at record 1, and
  from the oldest snapshot the journal continues when older segments were pruned;
- a missing record in the middle of a segment, a missing segment, a journal starting after
  the state it must continue, a bad CRC, a record that does not decode, and a snapshot
  that does not verify each raise ``RecoveryError`` with one line naming the file;
- a torn tail is cut (``repair``) with a log line, or left alone and not read.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from pathlib import Path

import msgpack
import pytest

from clearing.commands import IndexPrice, Tick
from clearing.core.inputs import (
    CancelOrderRequest,
    GatewayUp,
    Logon,
    PlaceOrder,
)
from clearing.core.state import encode_batch, export_state, state_hash
from clearing.pipeline import Pipeline
from gateway.exchange_config import ExchangeConfig, default_config
from gateway.journal import JournalWriter, prune
from gateway.journal.layout import encode_record, list_segments
from gateway.journal.scan import SegmentScan, read_segment
from gateway.recovery import RecoveryError, journal_dir, new_core, recover
from gateway.snapshot_store import SnapshotWriter

T0 = 1_800_000_000_000_000_000
GW_RUN = "gateway-run"


def _config(tmp_path: Path) -> ExchangeConfig:
    return replace(default_config(), state_dir=tmp_path / "state")


def _batches(n: int, seed: int = 11) -> list[list]:
    """``n`` seeded batches: gateway 1 up, two logons, then orders, cancels and timers."""
    rng = random.Random(seed)
    out: list[list] = [[GatewayUp(T0, GW_RUN, 1)],
                       [Logon(T0 + 1, 1, 1, 1, True), Logon(T0 + 1, 1, 2, 2, False)]]
    clid = 0
    ts = T0 + 1_000
    index = 600_000
    while len(out) < n:
        batch: list = []
        for _ in range(rng.randint(1, 4)):
            ts += rng.randint(1, 50_000_000)
            clid += 1
            r = rng.random()
            if r < 0.5:  # the maker rests a post-only order near the index
                side = rng.choice((1, -1))
                price = 600_000 - side * 5 * rng.randint(1, 6)
                batch.append(PlaceOrder(ts, 1, 1, clid, 1, "BTC-PERP", side, rng.randint(1, 5),
                                        price, 2, 1, f"m{clid}", True, False, 0, 0))
            elif r < 0.85:  # the taker crosses with an IOC
                side = rng.choice((1, -1))
                batch.append(PlaceOrder(ts, 1, 2, clid, 2, "BTC-PERP", side, rng.randint(1, 6),
                                        600_000 + side * 40, 2, 3, f"t{clid}", False, False,
                                        0, 0))  # fmt: skip
            else:  # the maker cancels one of its earlier orders (maybe gone already)
                batch.append(CancelOrderRequest(ts, 1, 1, clid, 1, "BTC-PERP", None,
                                                f"m{rng.randint(1, clid)}"))  # fmt: skip
        if rng.random() < 0.3:
            index += 5 * rng.randint(-3, 3)
            batch += [Tick(ts), IndexPrice(ts, "BTC", index)]
        out.append(batch)
    return out


@dataclass
class Built:
    cfg: ExchangeConfig
    batches: list[list]
    hashes: list[str]
    """state hash after batch ``i`` (``hashes[0]``: the configuration)."""
    pipe: Pipeline
    snapshots: dict[int, Path]

    @property
    def jdir(self) -> Path:
        return journal_dir(self.cfg.state_dir)


def _build(tmp_path: Path, n: int = 60, snapshots: tuple[int, ...] = (),
           segments_at: tuple[int, ...] = ()) -> Built:  # fmt: skip
    """Run ``n`` batches, journal each, snapshot after the batches in ``snapshots``; a new
    journal segment starts at each seq in ``segments_at`` (as at a server restart)."""
    cfg = _config(tmp_path)
    core, matcher = new_core(cfg)
    pipe = Pipeline(core, matcher)
    batches = _batches(n)
    hashes = [state_hash(core, matcher.state_hash())]
    jdir = journal_dir(cfg.state_dir)
    writer = JournalWriter(jdir, next_seq=1)
    snap_writer = SnapshotWriter(cfg.state_dir)
    paths = {}
    for i, batch in enumerate(batches, start=1):
        if i in segments_at:
            writer.close()
            writer = JournalWriter(jdir, next_seq=i)
        pipe.run(batch)
        assert writer.append(encode_batch(batch)) == i == core.seq
        hashes.append(state_hash(core, matcher.state_hash()))
        if i in snapshots:
            state = export_state(core, matcher.export_state())
            paths[i] = snap_writer.write(msgpack.unpackb(msgpack.packb(state),
                                                         strict_map_key=False))
    writer.close()
    assert pipe.core.engine.last_seq > 0 and core.history.trades_of(2)  # it traded
    return Built(cfg, batches, hashes, pipe, paths)


def _one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def _books(matcher: object) -> dict:
    return {s: b.l3() for s, b in sorted(matcher.books.items())}  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the state -------
def test_snapshot_plus_journal_gives_the_uninterrupted_state(tmp_path: Path) -> None:
    b = _build(tmp_path, snapshots=(20, 40))
    rec = recover(b.cfg)
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed) == (b.snapshots[40], 40, 20)
    assert rec.core.seq == 60 and rec.state_hash() == b.hashes[60]
    assert _books(rec.matcher) == _books(b.pipe.matcher)  # resting orders in their queues
    # it continues exactly like the run that never stopped
    again = Pipeline(rec.core, rec.matcher)
    for batch in _batches(75)[60:]:
        assert again.run(batch).replies == b.pipe.run(batch).replies
    assert state_hash(rec.core, rec.matcher.state_hash()) == state_hash(
        b.pipe.core, b.pipe.matcher.state_hash())


def test_without_a_snapshot_the_journal_replays_from_the_configuration(tmp_path: Path) -> None:
    b = _build(tmp_path)
    rec = recover(b.cfg)
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed) == (None, 0, 60)
    assert rec.state_hash() == b.hashes[60]
    assert _books(rec.matcher) == _books(b.pipe.matcher)


def test_an_empty_state_dir_is_the_configuration(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    core, matcher = new_core(cfg)
    rec = recover(cfg)
    assert (rec.core.seq, rec.replayed, rec.snapshot) == (0, 0, None)
    assert rec.state_hash() == state_hash(core, matcher.state_hash())


def test_to_seq_stops_where_asked(tmp_path: Path) -> None:
    b = _build(tmp_path, snapshots=(20, 40))
    for to in range(0, 61):
        rec = recover(b.cfg, to_seq=to, repair=False)
        assert rec.core.seq == to and rec.state_hash() == b.hashes[to], to
        assert rec.snapshot_seq == max([s for s in (0, 20, 40) if s <= to])
        assert rec.replayed == to - rec.snapshot_seq


def test_on_batch_sees_every_replayed_batch(tmp_path: Path) -> None:
    b = _build(tmp_path, snapshots=(40,))
    seen: list = []
    recover(b.cfg, on_batch=lambda inputs, result: seen.append(inputs))
    assert seen == b.batches[40:]


def test_earliest_starts_from_the_configuration_when_the_journal_begins_at_1(
        tmp_path: Path) -> None:  # fmt: skip
    b = _build(tmp_path, snapshots=(20, 40))
    rec = recover(b.cfg, earliest=True)
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed) == (None, 0, 60)
    assert rec.state_hash() == b.hashes[60] == recover(b.cfg).state_hash()
    rec = recover(b.cfg, earliest=True, to_seq=33)
    assert (rec.snapshot, rec.replayed, rec.core.seq) == (None, 33, 33)
    assert rec.state_hash() == b.hashes[33]


def test_earliest_after_pruning_starts_from_the_oldest_snapshot_the_journal_continues(
        tmp_path: Path) -> None:  # fmt: skip
    # segments 1..30 and 31..60; snapshots at 20 and 40; retention drops 1..30
    b = _build(tmp_path, snapshots=(20, 40), segments_at=(31,))
    assert [p.name for p in prune(b.jdir, 40)] == ["00000000000000000001.journal"]
    rec = recover(b.cfg, earliest=True, repair=False)
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed) == (b.snapshots[40], 40, 20)
    assert rec.state_hash() == b.hashes[60]
    rec = recover(b.cfg, earliest=True, to_seq=50, repair=False)
    assert (rec.snapshot_seq, rec.core.seq, rec.state_hash()) == (40, 50, b.hashes[50])


# ------------------------------------------------------------------ refusals --------
def _segment_bytes_without_record(segment_path: Path, seq: int) -> tuple[bytes, int]:
    """The segment's bytes with record ``seq`` cut out, and that record's offset."""
    [seg] = [s for s in list_segments(segment_path.parent) if s.path == segment_path]
    data = read_segment(seg)
    recs = list(SegmentScan(seg, data, is_last=True))
    [(off, payload)] = [(o, p) for s, o, p in recs if s == seq]
    return data[:off] + data[off + 20 + len(payload):], off


def test_a_missing_record_in_the_middle_of_a_segment_refuses(tmp_path: Path) -> None:
    b = _build(tmp_path, segments_at=(31,))
    first = list_segments(b.jdir)[0].path
    data, off = _segment_bytes_without_record(first, 17)
    first.write_bytes(data)
    with pytest.raises(RecoveryError) as exc:
        recover(b.cfg)
    msg = _one_line_naming(exc, first)
    assert f"offset {off}:" in msg and "gap" in msg


def test_a_missing_segment_refuses(tmp_path: Path) -> None:
    b = _build(tmp_path, segments_at=(21, 41))
    middle = list_segments(b.jdir)[1].path
    middle.unlink()
    last = list_segments(b.jdir)[1].path
    with pytest.raises(RecoveryError) as exc:
        recover(b.cfg)
    assert "gap" in _one_line_naming(exc, last)


def test_a_journal_that_does_not_reach_back_to_the_state_refuses(tmp_path: Path) -> None:
    b = _build(tmp_path, snapshots=(20,), segments_at=(31,))
    list_segments(b.jdir)[0].path.unlink()  # records 1..30 gone, the snapshot is at 20
    with pytest.raises(RecoveryError) as exc:
        recover(b.cfg)
    assert "21..30 are missing" in _one_line_naming(exc, b.jdir)


def test_a_bad_crc_refuses_and_names_the_offset(tmp_path: Path) -> None:
    b = _build(tmp_path, segments_at=(31,))
    for seg in list_segments(b.jdir):  # in a segment that is not the last, and in the last
        original = seg.path.read_bytes()
        recs = list(SegmentScan(seg, original, is_last=True))
        _, off, payload = recs[len(recs) // 2]
        data = bytearray(original)
        data[off + 20 + len(payload) // 2] ^= 0x01
        seg.path.write_bytes(bytes(data))
        with pytest.raises(RecoveryError) as exc:
            recover(b.cfg)
        assert f"offset {off}: payload CRC mismatch" in _one_line_naming(exc, seg.path)
        seg.path.write_bytes(original)
    assert recover(b.cfg).state_hash() == b.hashes[60]


def test_a_record_that_does_not_decode_refuses(tmp_path: Path) -> None:
    b = _build(tmp_path, n=10)
    with JournalWriter(b.jdir, next_seq=11) as w:
        w.append(msgpack.packb([[250, 1, 2]]))  # good CRCs, no such input
    with pytest.raises(RecoveryError) as exc:
        recover(b.cfg)
    assert "record 11" in _one_line_naming(exc, b.jdir)


def test_a_snapshot_that_does_not_verify_refuses(tmp_path: Path) -> None:
    b = _build(tmp_path, snapshots=(20, 40))
    snap = b.snapshots[40]
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0x01
    snap.write_bytes(bytes(data))
    with pytest.raises(RecoveryError) as exc:
        recover(b.cfg)
    _one_line_naming(exc, snap)


# ------------------------------------------------------------------ torn tail -------
def test_a_torn_tail_is_cut_with_a_log_line_or_left_alone(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    b = _build(tmp_path, snapshots=(40,))
    seg = list_segments(b.jdir)[-1].path
    size = seg.stat().st_size
    partial = encode_record(61, encode_batch(b.batches[5]))[:-3]
    with seg.open("ab") as f:
        f.write(partial)
    rec = recover(b.cfg, repair=False)  # read-only: the tail is not read, nor cut
    assert rec.core.seq == 60 and rec.state_hash() == b.hashes[60]
    assert seg.stat().st_size == size + len(partial)
    with caplog.at_level(logging.WARNING):
        rec = recover(b.cfg)
    assert rec.core.seq == 60 and rec.state_hash() == b.hashes[60]
    assert seg.stat().st_size == size
    assert any("torn" in r.getMessage() and seg.name in r.getMessage() for r in caplog.records)
    # and the writer continues the journal where the whole records end
    with JournalWriter(b.jdir, next_seq=61) as w:
        assert w.append(encode_batch([Tick(T0 + 10**12)])) == 61
