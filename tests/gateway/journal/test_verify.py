"""verify_journal figures and the snapshot links."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.journal import (
    JournalCorrupt,
    JournalLinkError,
    JournalWriter,
    check_snapshot_links,
    verify_journal,
    verify_path,
)
from gateway.journal import verify as verify_module
from gateway.journal.verify import JournalSummary, NotAJournal
from tests.gateway.journal.helpers import segment_paths, snapshot_files, write_journal


def test_figures_of_a_whole_journal(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"x" * 10] * 9, next_seq=11, segment_bytes=100)
    paths = segment_paths(tmp_path)
    summary = verify_journal(tmp_path)
    assert summary.segments == len(paths) == 5  # two 30-byte records per segment
    assert (summary.records, summary.first_seq, summary.last_seq) == (9, 11, 19)
    assert summary.bytes == sum(p.stat().st_size for p in paths)
    assert summary.torn_tail is None


def test_verify_reports_a_torn_tail_and_changes_nothing(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"a", b"b"])
    (path,) = segment_paths(tmp_path)
    with open(path, "ab") as fh:
        fh.write(b"\x03\x00\x00\x00")
    before = snapshot_files(tmp_path)
    summary = verify_journal(tmp_path)
    assert snapshot_files(tmp_path) == before
    assert summary.last_seq == 2
    assert summary.torn_tail is not None and summary.torn_tail.bytes == 4


def test_an_empty_segment_reports_no_record(tmp_path: Path) -> None:
    JournalWriter(tmp_path, next_seq=50).close()
    summary = verify_journal(tmp_path)
    assert (summary.segments, summary.records, summary.first_seq, summary.last_seq) == (
        1, 0, 50, 49,
    )


def _summary(first: int | None, last: int | None) -> JournalSummary:
    return JournalSummary(Path("/s/journal"), 1, 0, first, last, 0, None)


@pytest.mark.parametrize(
    ("first", "last", "snaps"),
    [(1, 10, []), (1, 10, [0, 5, 10]), (6, 10, [5]), (11, 10, [10]), (3, 10, [2, 7])],
)
def test_links_that_fit(first: int, last: int, snaps: list[int]) -> None:
    links = check_snapshot_links(_summary(first, last), snaps)
    assert links.count == len(snaps)
    assert links.newest_seq == (max(snaps) if snaps else None)


@pytest.mark.parametrize(
    ("first", "last", "snaps", "message"),
    [
        (1, 10, [11], "snapshot is at journal seq 11, past the journal's last seq 10"),
        (1, 10, [3, 12], "seq 12, past"),
        (None, None, [4], "seq 4, past the journal's last seq 0"),
        (8, 10, [6], r"starts at seq 8 but the newest snapshot is at seq 6: records 7\.\.7"),
        (8, 10, [], r"starts at seq 8 but there is no snapshot: records 1\.\.7 are missing"),
    ],
)
def test_links_that_do_not_fit(
    first: int | None, last: int | None, snaps: list[int], message: str
) -> None:
    with pytest.raises(JournalLinkError, match=message) as info:
        check_snapshot_links(_summary(first, last), snaps)
    assert "\n" not in str(info.value)


def test_state_dir_uses_the_snapshot_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_journal(tmp_path / "journal", [b"a"] * 5, next_seq=101)
    with pytest.raises(JournalLinkError, match="there is no snapshot"):
        verify_path(tmp_path)
    monkeypatch.setattr(verify_module, "snapshot_journal_seqs", lambda state_dir: [100, 40])
    report = verify_path(tmp_path)
    assert report.snapshots is not None and report.snapshots.newest_seq == 100
    assert verify_path(tmp_path / "journal").snapshots is None  # bare journal: not checked


def test_the_hook_reads_nothing_yet(tmp_path: Path) -> None:
    assert verify_module.snapshot_journal_seqs(tmp_path) == []


def test_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(NotAJournal, match="not a directory"):
        verify_path(tmp_path / "absent")
    with pytest.raises(NotAJournal, match="no journal here"):
        verify_path(tmp_path)


def test_corruption_anywhere_is_found(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"x" * 10] * 9, segment_bytes=100)
    first = segment_paths(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[30] ^= 0x40
    first.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt) as info:
        verify_journal(tmp_path)
    assert (info.value.path, info.value.offset) == (first, 24)
