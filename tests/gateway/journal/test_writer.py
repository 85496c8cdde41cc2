"""JournalWriter: seqs, rollover, reopening, durability, and bad input leaving state untouched."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gateway.journal import JournalError, JournalWriter, read_records
from gateway.journal.layout import RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, list_segments
from tests.gateway.journal.helpers import (
    payloads,
    segment_paths,
    snapshot_files,
    write_journal,
)


def test_round_trip(tmp_path: Path) -> None:
    items = payloads(200, max_len=300)
    with JournalWriter(tmp_path, next_seq=1) as w:
        seqs = [w.append(p) for p in items]
        assert w.next_seq == 201
    assert seqs == list(range(1, 201))
    assert list(read_records(tmp_path)) == list(enumerate(items, start=1))


def test_rollover_by_size_names_segments_by_first_seq(tmp_path: Path) -> None:
    items = [bytes([i]) * 30 for i in range(20)]  # 50-byte records
    segment_bytes = SEGMENT_HEADER_SIZE + 3 * (RECORD_HEADER_SIZE + 30)  # exactly 3 per segment
    write_journal(tmp_path, items, segment_bytes=segment_bytes)
    segments = list_segments(tmp_path)
    assert [s.first_seq for s in segments] == [1, 4, 7, 10, 13, 16, 19]
    assert all(s.path.stat().st_size <= segment_bytes for s in segments)
    assert list(read_records(tmp_path)) == list(enumerate(items, start=1))


def test_a_record_bigger_than_a_segment_gets_one_of_its_own(tmp_path: Path) -> None:
    items = [b"a", b"b" * 500, b"c"]
    write_journal(tmp_path, items, segment_bytes=100)
    assert [s.first_seq for s in list_segments(tmp_path)] == [1, 2, 3]
    assert [p for _, p in read_records(tmp_path)] == items


def test_reopen_continues_the_sequence_in_a_new_segment_without_touching_old_bytes(
    tmp_path: Path,
) -> None:
    write_journal(tmp_path, [b"one", b"two"])
    before = snapshot_files(tmp_path)
    with JournalWriter(tmp_path, next_seq=3) as w:
        assert w.append(b"three") == 3
        assert w.segment_path.name == "00000000000000000003.journal"
    after = snapshot_files(tmp_path)
    for name, data in before.items():
        assert after[name] == data
    assert list(read_records(tmp_path)) == [(1, b"one"), (2, b"two"), (3, b"three")]


@pytest.mark.parametrize("next_seq", [1, 2, 4, 100])
def test_reopen_at_a_seq_that_does_not_continue_refuses(tmp_path: Path, next_seq: int) -> None:
    write_journal(tmp_path, [b"one", b"two"])
    before = snapshot_files(tmp_path)
    with pytest.raises(JournalError, match="ends at seq 2, a writer cannot start at seq"):
        JournalWriter(tmp_path, next_seq=next_seq)
    assert snapshot_files(tmp_path) == before
    with JournalWriter(tmp_path, next_seq=3) as w:  # the refused open let go of the lock
        assert w.append(b"three") == 3


def test_reopen_continues_a_newest_segment_that_holds_no_record(tmp_path: Path) -> None:
    JournalWriter(tmp_path, next_seq=5).close()  # header only, named 5
    with JournalWriter(tmp_path, next_seq=5) as w:
        assert w.append(b"x") == 5
    assert len(segment_paths(tmp_path)) == 1
    assert list(read_records(tmp_path, after_seq=4)) == [(5, b"x")]


def test_a_writer_can_start_after_a_snapshot(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"a", b"b"], next_seq=1001)
    assert list(read_records(tmp_path, after_seq=1000)) == [(1001, b"a"), (1002, b"b")]


def test_reopen_over_a_torn_tail_asks_for_repair(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"one", b"two"])
    (path,) = segment_paths(tmp_path)
    with open(path, "ab") as fh:
        fh.write(b"\x03\x00")
    with pytest.raises(JournalError, match="torn tail of 2 bytes; call repair_tail"):
        JournalWriter(tmp_path, next_seq=3)


def test_one_writer_per_directory(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, next_seq=1) as w:
        w.append(b"a")
        with pytest.raises(JournalError, match="another journal writer"):
            JournalWriter(tmp_path, next_seq=2)
    with JournalWriter(tmp_path, next_seq=2) as w2:  # released on close
        assert w2.append(b"b") == 2


def test_each_append_is_one_os_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, data)

    with JournalWriter(tmp_path, next_seq=1) as w:
        monkeypatch.setattr(os, "write", counting_write)
        for size in (0, 200, 2000, 20000):
            w.append(b"z" * size)
        monkeypatch.undo()
    assert calls == [RECORD_HEADER_SIZE + n for n in (0, 200, 2000, 20000)]


@pytest.mark.parametrize(("durability", "expected"), [("write", 0), ("fsync", 5)])
def test_fsync_mode_calls_fdatasync_once_per_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: str, expected: int
) -> None:
    synced: list[int] = []
    real = os.fdatasync
    with JournalWriter(tmp_path, next_seq=1, durability=durability) as w:  # type: ignore[arg-type]
        monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
        for _ in range(5):
            w.append(b"batch")
    assert len(synced) == expected


def test_fsync_failure_closes_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    with JournalWriter(tmp_path, next_seq=1, durability="fsync") as w:
        w.append(b"a")
        monkeypatch.setattr(os, "fdatasync", failing)
        with pytest.raises(OSError, match="I/O error"):
            w.append(b"b")
        assert w.closed
        with pytest.raises(JournalError, match="closed"):
            w.append(b"c")


def test_a_failed_write_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def half_then_full_disk(fd: int, data: bytes) -> int:
        monkeypatch.setattr(os, "write", no_space)
        return real_write(fd, bytes(data)[: len(data) // 2])

    def no_space(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with JournalWriter(tmp_path, next_seq=1) as w:
        w.append(b"first")
        size = w.segment_path.stat().st_size
        monkeypatch.setattr(os, "write", half_then_full_disk)
        with pytest.raises(OSError, match="No space"):
            w.append(b"second record")
        monkeypatch.undo()
        assert w.segment_path.stat().st_size == size
        assert w.next_seq == 2
        assert w.append(b"second") == 2
    assert list(read_records(tmp_path)) == [(1, b"first"), (2, b"second")]


@pytest.mark.parametrize("bad", [bytearray(b"ab"), memoryview(b"ab"), "ab"])
def test_a_payload_that_is_not_bytes_changes_nothing(tmp_path: Path, bad: object) -> None:
    with JournalWriter(tmp_path, next_seq=1, segment_bytes=64) as w:
        w.append(b"x" * 10)  # the next record would roll over: it must not
        before = snapshot_files(tmp_path)
        with pytest.raises(TypeError, match="payload must be bytes"):
            w.append(bad)  # type: ignore[arg-type]
        assert snapshot_files(tmp_path) == before
        assert w.next_seq == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"next_seq": 0}, "next_seq must be"),
        ({"next_seq": 2**64}, "next_seq must be"),
        ({"next_seq": 1, "durability": "sync"}, "durability must be"),
        ({"next_seq": 1, "segment_bytes": 10}, "segment_bytes must be"),
    ],
)
def test_bad_options_refuse_before_touching_the_disk(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        JournalWriter(tmp_path / "j", **kwargs)
    assert not (tmp_path / "j").exists()


def test_closed_writer_refuses_and_close_is_idempotent(tmp_path: Path) -> None:
    w = JournalWriter(tmp_path, next_seq=1)
    w.close()
    w.close()
    with pytest.raises(JournalError, match="closed"):
        w.append(b"x")
