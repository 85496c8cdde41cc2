"""Snapshot files: atomic writes, naming and order, the writer's chain across restarts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgpack
import pytest

from clearing.snapshot import (
    ZERO_ROOT,
    Fault,
    SnapshotError,
    build_snapshot,
    canonical_pack,
    header_digest,
    load_snapshot,
    verify_snapshot,
)
from gateway import snapshot_store
from gateway.snapshot_store import (
    SnapshotSchedule,
    SnapshotStoreError,
    SnapshotWriter,
    atomic_write_bytes,
    latest_snapshot,
    list_snapshots,
    load_latest,
    parse_name,
    predecessor,
    read_snapshot_bytes,
    snapshot_dir,
    snapshot_name,
)


def make_state(seq: int, ts: int = 0, usd_a: int = 700) -> dict[str, Any]:
    return {
        "version": 1,
        "ts": ts,
        "last_fill_seq": seq,
        "settlement_asset": "USD",
        "accounts": {1: {"balances": {"USD": usd_a}}, 2: {"balances": {"USD": 1000 - usd_a}}},
        "fee_pool": {},
        "insurance_fund": {},
        "deposits": {"USD": 1000},
        "withdrawals": {},
    }


def _leftovers(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


# -- names and order ----------------------------------------------------------------------


def test_names_sort_by_fill_sequence_then_serial(tmp_path: Path) -> None:
    assert snapshot_name(1234) == "snapshot-000000001234-0000.msgpack"
    assert parse_name("snapshot-000000001234-0002.msgpack") == (1234, 2)
    assert parse_name("snapshot-1234.msgpack") is None
    assert parse_name(".snapshot-000000001234-0000.msgpack.x1.tmp") is None
    for seq, serial in [(20, 0), (3, 1), (3, 0), (1_000_000_000_000, 0)]:
        (tmp_path / snapshot_name(seq, serial)).write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    (tmp_path / ".snapshot-000000000099-0000.msgpack.abc.tmp").write_bytes(b"")
    assert [parse_name(p.name) for p in list_snapshots(tmp_path)] == [
        (3, 0),
        (3, 1),
        (20, 0),
        (1_000_000_000_000, 0),  # wider than 12 digits: still ordered numerically
    ]
    assert latest_snapshot(tmp_path) == tmp_path / snapshot_name(1_000_000_000_000)
    assert predecessor(tmp_path / snapshot_name(20)) == tmp_path / snapshot_name(3, 1)
    assert predecessor(tmp_path / snapshot_name(3, 0)) is None
    assert predecessor(tmp_path / "notes.txt") is None
    assert list_snapshots(tmp_path / "missing") == []
    with pytest.raises(ValueError):
        snapshot_name(-1)


# -- atomic write -------------------------------------------------------------------------


def test_atomic_write_writes_the_bytes_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "f.msgpack"
    atomic_write_bytes(target, b"abc")
    atomic_write_bytes(target, b"defg")
    assert target.read_bytes() == b"defg"
    assert _leftovers(tmp_path) == []


def test_failed_fsync_leaves_no_partial_file(tmp_path: Path, monkeypatch: Any) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(snapshot_store.os, "fsync", broken_fsync)
    target = tmp_path / "f.msgpack"
    with pytest.raises(OSError, match="I/O error"):
        atomic_write_bytes(target, b"x" * 10_000)
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_failed_rename_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: Any) -> None:
    target = tmp_path / "f.msgpack"
    atomic_write_bytes(target, b"old")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot_store.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_failure_while_writing_the_data_leaves_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half of the data to the real temp file, then fails like a full disk."""

        def __init__(self, fd: int) -> None:
            self.f = real_fdopen(fd, "wb")

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def write(self, data: bytes) -> int:
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot_store.os, "fdopen", lambda fd, mode: HalfWriter(fd))
    target = tmp_path / "f.msgpack"
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"y" * 4096)
    assert os.listdir(tmp_path) == []


def test_read_refuses_oversized_files(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"\x00" * 100)
    assert read_snapshot_bytes(path, limit=100) == b"\x00" * 100
    with pytest.raises(SnapshotError) as info:
        read_snapshot_bytes(path, limit=99)
    assert info.value.fault is Fault.MALFORMED


# -- writer and chain ---------------------------------------------------------------------


def test_writer_chains_successive_snapshots_and_survives_a_restart(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path)
    p1 = writer.write(make_state(10, ts=1))
    p2 = writer.write(make_state(25, ts=2, usd_a=650))
    writer = SnapshotWriter(tmp_path)  # restart: reads the latest root and digest
    p3 = writer.write(make_state(40, ts=3, usd_a=600))
    assert [p.name for p in (p1, p2, p3)] == [snapshot_name(s) for s in (10, 25, 40)]
    assert list_snapshots(snapshot_dir(tmp_path)) == [p1, p2, p3]
    contents = [p.read_bytes() for p in (p1, p2, p3)]
    assert load_snapshot(contents[0]).header.prev_root == ZERO_ROOT
    assert verify_snapshot(contents[0]).ok
    assert verify_snapshot(contents[1], contents[0]).ok
    assert verify_snapshot(contents[2], contents[1]).ok
    assert verify_snapshot(contents[2], contents[0]).reason is Fault.CHAIN_BROKEN
    assert _leftovers(snapshot_dir(tmp_path)) == []


def test_writer_numbers_snapshots_at_the_same_fill_sequence(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path)
    a = writer.write(make_state(7, ts=1))
    b = writer.write(make_state(7, ts=2, usd_a=699))  # e.g. funding moved cash, no fill
    c = SnapshotWriter(tmp_path).write(make_state(7, ts=3))
    assert [parse_name(p.name) for p in (a, b, c)] == [(7, 0), (7, 1), (7, 2)]
    assert verify_snapshot(b.read_bytes(), a.read_bytes()).ok
    assert verify_snapshot(c.read_bytes(), b.read_bytes()).ok
    assert predecessor(c) == b


def test_writer_refuses_a_state_older_than_the_latest_snapshot(tmp_path: Path) -> None:
    SnapshotWriter(tmp_path).write(make_state(50))
    writer = SnapshotWriter(tmp_path)
    with pytest.raises(SnapshotStoreError, match="older"):
        writer.write(make_state(49))
    assert len(list_snapshots(snapshot_dir(tmp_path))) == 1


def test_writer_refuses_to_chain_onto_a_corrupt_latest_file(tmp_path: Path) -> None:
    path = SnapshotWriter(tmp_path).write(make_state(5))
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # the last byte: the file no longer decodes
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotStoreError, match="cannot anchor the chain"):
        SnapshotWriter(tmp_path)
    doc = msgpack.unpackb(path.read_bytes()[:-1] + b"\x80", strict_map_key=False)
    doc["state"]["accounts"][1]["balances"]["USD"] += 1  # decodes, but the root disagrees
    path.write_bytes(canonical_pack(doc))
    with pytest.raises(SnapshotStoreError, match="root_mismatch"):
        SnapshotWriter(tmp_path)


def test_writer_chains_onto_a_latest_snapshot_that_records_a_conservation_break(
    tmp_path: Path,
) -> None:
    bad = make_state(5)
    bad["deposits"]["USD"] = 999
    first = SnapshotWriter(tmp_path).write(bad)
    second = SnapshotWriter(tmp_path).write(make_state(6))
    assert verify_snapshot(first.read_bytes()).reason is Fault.CONSERVATION_VIOLATED
    assert verify_snapshot(second.read_bytes(), first.read_bytes()).ok


def test_failed_write_keeps_the_chain_on_the_last_good_snapshot(
    tmp_path: Path, monkeypatch: Any
) -> None:
    writer = SnapshotWriter(tmp_path)
    first = writer.write(make_state(1))
    real_fsync = os.fsync

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(snapshot_store.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        writer.write(make_state(2))
    monkeypatch.setattr(snapshot_store.os, "fsync", real_fsync)
    assert list_snapshots(snapshot_dir(tmp_path)) == [first]
    second = writer.write(make_state(3))
    assert verify_snapshot(second.read_bytes(), first.read_bytes()).ok


def test_writer_refuses_an_off_shape_state_without_writing(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path)
    state = make_state(1)
    state["marks"] = {"X": 1.5}
    with pytest.raises(SnapshotError, match="float"):
        writer.write(state)
    assert list_snapshots(snapshot_dir(tmp_path)) == []


def test_load_latest_returns_the_newest_state(tmp_path: Path) -> None:
    assert load_latest(tmp_path) is None
    writer = SnapshotWriter(tmp_path)
    writer.write(make_state(1))
    writer.write(make_state(2, usd_a=10))
    found = load_latest(tmp_path)
    assert found is not None
    path, snap = found
    assert parse_name(path.name) == (2, 0)
    assert snap.state == make_state(2, usd_a=10)
    assert writer.prev_digest == header_digest(snap.header)


def test_first_snapshot_written_by_hand_has_zero_links(tmp_path: Path) -> None:
    content = build_snapshot(make_state(3), ZERO_ROOT)
    header = load_snapshot(content).header
    assert header.prev_root == header.prev_digest == ZERO_ROOT


# -- schedule -----------------------------------------------------------------------------


def test_schedule_fires_on_time_or_on_fill_count() -> None:
    s = SnapshotSchedule(every_ns=10, every_fills=100)
    assert not s.due(0, 0)  # starts the clocks
    assert not s.due(9, 99)
    assert s.due(10, 0)
    assert s.due(0, 100)
    s.taken(10, 100)
    assert not s.due(19, 199)
    assert s.due(20, 100)


def test_schedule_with_a_trigger_disabled() -> None:
    only_fills = SnapshotSchedule(every_fills=5)
    assert not only_fills.due(0, 0)
    assert not only_fills.due(10**18, 4)
    assert only_fills.due(0, 5)
    never = SnapshotSchedule()
    assert not never.due(0, 0) and not never.due(10**18, 10**9)
