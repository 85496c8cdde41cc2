"""Reading back: torn tails are cut (only by repair_tail), everything else damaged refuses."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.journal import JournalCorrupt, JournalError, JournalWriter, read_records, repair_tail
from gateway.journal.layout import (
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
    encode_record,
    encode_segment_header,
    segment_name,
)
from tests.gateway.journal.helpers import payloads, segment_paths, snapshot_files, write_journal

ITEMS = [b"alpha", b"", b"gamma-gamma", b"d" * 17]


def _record_starts(path: Path) -> list[int]:
    """Offsets of the records of a segment, walked by the documented lengths."""
    data = path.read_bytes()
    starts, off = [], SEGMENT_HEADER_SIZE
    while off < len(data):
        starts.append(off)
        off += RECORD_HEADER_SIZE + int.from_bytes(data[off + 8 : off + 12], "little")
    return starts


def test_after_seq_yields_exactly_the_records_after_it(tmp_path: Path) -> None:
    items = payloads(60, max_len=30)
    write_journal(tmp_path, items, segment_bytes=200)
    assert len(segment_paths(tmp_path)) > 5
    for after in (0, 1, 17, 30, 59, 60, 75):
        assert list(read_records(tmp_path, after_seq=after)) == [
            (seq, items[seq - 1]) for seq in range(after + 1, 61)
        ]


def test_records_missing_before_the_first_segment_refuse(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"a", b"b"], next_seq=101)
    first = segment_paths(tmp_path)[0]
    with pytest.raises(JournalCorrupt, match=r"records 1\.\.100 are missing") as info:
        list(read_records(tmp_path))
    assert (info.value.path, info.value.offset) == (first, 0)
    with pytest.raises(JournalCorrupt, match=r"records 51\.\.100 are missing"):
        list(read_records(tmp_path, after_seq=50))


def test_empty_or_missing_directory_reads_nothing(tmp_path: Path) -> None:
    assert list(read_records(tmp_path)) == []
    assert list(read_records(tmp_path / "absent", after_seq=9)) == []
    assert repair_tail(tmp_path) is None


# -- torn tails ---------------------------------------------------------------------------


def test_torn_last_record_at_every_byte_offset_recovers_the_whole_records_before_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = write_journal(tmp_path / "good", ITEMS)
    (path,) = segment_paths(good)
    data = path.read_bytes()
    last_start = _record_starts(path)[-1]
    whole = list(enumerate(ITEMS[:-1], start=1))
    for cut in range(last_start + 1, len(data)):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(good, work)
        seg = work / path.name
        with open(seg, "r+b") as fh:
            fh.truncate(cut)
        before = snapshot_files(work)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="crossbook.journal"):
            assert list(read_records(work)) == whole  # read-only: stops, changes nothing
        assert snapshot_files(work) == before
        assert "torn tail" in caplog.text
        torn = repair_tail(work)
        assert torn is not None and (torn.offset, torn.size) == (last_start, cut)
        assert seg.stat().st_size == last_start
        assert list(read_records(work)) == whole
        with JournalWriter(work, next_seq=len(ITEMS)) as w:  # the writer goes on from there
            w.append(b"after repair")
        assert [s for s, _ in read_records(work)] == list(range(1, len(ITEMS) + 1))


def test_repair_logs_one_line_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_journal(tmp_path, ITEMS)
    (path,) = segment_paths(tmp_path)
    with open(path, "ab") as fh:
        fh.write(encode_record(5, b"half written")[:25])
    with caplog.at_level(logging.WARNING, logger="crossbook.journal"):
        repair_tail(tmp_path)
    (record,) = caplog.records
    assert record.name == "crossbook.journal"
    assert str(path) in record.getMessage() and "\n" not in record.getMessage()
    assert "25 bytes" in record.getMessage()


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    write_journal(tmp_path, ITEMS)
    (path,) = segment_paths(tmp_path)
    size = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(bytes(4096))  # what a file system may leave after a power loss
    torn = repair_tail(tmp_path)
    assert torn is not None and torn.offset == size
    assert [p for _, p in read_records(tmp_path)] == ITEMS


@pytest.mark.parametrize("keep", range(SEGMENT_HEADER_SIZE))
def test_newest_segment_with_a_torn_header_is_removed(tmp_path: Path, keep: int) -> None:
    write_journal(tmp_path, ITEMS)
    torn_segment = tmp_path / segment_name(len(ITEMS) + 1)
    torn_segment.write_bytes(encode_segment_header(len(ITEMS) + 1)[:keep])
    assert [p for _, p in read_records(tmp_path)] == ITEMS
    torn = repair_tail(tmp_path)
    assert torn is not None and torn.offset == 0 and torn.path == torn_segment
    assert not torn_segment.exists()
    with JournalWriter(tmp_path, next_seq=len(ITEMS) + 1) as w:
        assert w.append(b"next") == len(ITEMS) + 1


def test_a_short_file_that_is_not_our_header_refuses(tmp_path: Path) -> None:
    write_journal(tmp_path, ITEMS)
    (tmp_path / segment_name(len(ITEMS) + 1)).write_bytes(b"garbage")
    with pytest.raises(JournalCorrupt, match="segment header cut short"):
        repair_tail(tmp_path)


def test_torn_record_in_a_segment_that_is_not_the_last_refuses(tmp_path: Path) -> None:
    write_journal(tmp_path, ITEMS, segment_bytes=60)
    first, *_ = segment_paths(tmp_path)
    with open(first, "ab") as fh:
        fh.write(b"\x07\x00\x00")
    with pytest.raises(JournalCorrupt, match="not the last") as info:
        list(read_records(tmp_path))
    assert info.value.path == first


def test_repair_leaves_a_whole_journal_alone(tmp_path: Path) -> None:
    write_journal(tmp_path, ITEMS, segment_bytes=60)
    before = snapshot_files(tmp_path)
    assert repair_tail(tmp_path) is None
    assert {k: v for k, v in snapshot_files(tmp_path).items() if k != "writer.lock"} == {
        k: v for k, v in before.items() if k != "writer.lock"
    }


def test_repair_refuses_under_a_live_writer(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, next_seq=1) as w:
        w.append(b"a")
        with pytest.raises(JournalError, match="another journal writer"):
            repair_tail(tmp_path)


# -- damage that refuses --------------------------------------------------------------------


def _three_segment_journal(directory: Path) -> list[Path]:
    write_journal(directory, ITEMS * 2, segment_bytes=SEGMENT_HEADER_SIZE + 3 * 36)
    paths = segment_paths(directory)
    assert len(paths) == 3
    return paths


def _expected_offset(path: Path, pos: int) -> int:
    """Where the error must point for a byte flipped at ``pos``: the header, or its record."""
    if pos < SEGMENT_HEADER_SIZE:
        return 0
    return max(s for s in _record_starts(path) if s <= pos)


def test_a_flipped_bit_anywhere_refuses_naming_file_and_offset(tmp_path: Path) -> None:
    good = tmp_path / "good"
    paths = _three_segment_journal(good)
    for path in paths:
        original = path.read_bytes()
        for pos in range(len(original)):
            damaged = bytearray(original)
            damaged[pos] ^= 0x01
            path.write_bytes(bytes(damaged))
            with pytest.raises(JournalCorrupt) as info:
                list(read_records(good))
            err = info.value
            assert (err.path, err.offset) == (path, _expected_offset(path, pos)), (path, pos)
            assert "\n" not in str(err) and str(path) in str(err)
            if path == paths[-1]:  # repair reads only the newest segment
                with pytest.raises(JournalCorrupt):
                    repair_tail(good)
        path.write_bytes(original)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_in_a_complete_record_refuses(tmp_path: Path, data: st.DataObject) -> None:
    directory = tmp_path / "j"
    if not directory.exists():
        write_journal(directory, payloads(12, seed=3, max_len=50), segment_bytes=150)
    paths = segment_paths(directory)
    path = data.draw(st.sampled_from(paths))
    original = path.read_bytes()
    pos = data.draw(st.integers(0, len(original) - 1))
    mask = data.draw(st.integers(1, 255))
    damaged = bytearray(original)
    damaged[pos] ^= mask
    path.write_bytes(bytes(damaged))
    try:
        with pytest.raises(JournalCorrupt) as info:
            list(read_records(directory))
        assert (info.value.path, info.value.offset) == (path, _expected_offset(path, pos))
    finally:
        path.write_bytes(original)


def _segment(first_seq: int, items: list[bytes], seqs: list[int] | None = None) -> bytes:
    seqs = seqs if seqs is not None else list(range(first_seq, first_seq + len(items)))
    return encode_segment_header(first_seq) + b"".join(
        encode_record(s, p) for s, p in zip(seqs, items, strict=True)
    )


@pytest.mark.parametrize(
    ("second_first", "kind"), [(5, "gap"), (7, "gap"), (3, "repeat"), (2, "repeat")]
)
def test_gap_or_repeat_between_segments_refuses(
    tmp_path: Path, second_first: int, kind: str
) -> None:
    (tmp_path / segment_name(1)).write_bytes(_segment(1, [b"a", b"b", b"c"]))
    second = tmp_path / segment_name(second_first)
    second.write_bytes(_segment(second_first, [b"d", b"e"]))
    with pytest.raises(JournalCorrupt, match=f"sequence {kind}: .* ends at seq 3") as info:
        list(read_records(tmp_path))
    assert (info.value.path, info.value.offset) == (second, 0)


@pytest.mark.parametrize(("seqs", "kind"), [([1, 2, 4], "gap"), ([1, 2, 2], "repeat")])
def test_gap_or_repeat_inside_a_segment_refuses(
    tmp_path: Path, seqs: list[int], kind: str
) -> None:
    path = tmp_path / segment_name(1)
    path.write_bytes(_segment(1, [b"a", b"b", b"c"], seqs))
    with pytest.raises(JournalCorrupt, match=f"sequence {kind}: expected seq 3") as info:
        list(read_records(tmp_path))
    assert (info.value.path, info.value.offset) == (path, _record_starts(path)[2])


def test_header_that_disagrees_with_the_file_name_refuses(tmp_path: Path) -> None:
    path = tmp_path / segment_name(1)
    path.write_bytes(_segment(2, [b"a"]))
    with pytest.raises(JournalCorrupt, match="header says first seq 2, file name says 1"):
        list(read_records(tmp_path))


def test_corruption_in_a_skipped_segment_is_not_read_but_verify_reads_it(tmp_path: Path) -> None:
    from gateway.journal import verify_journal

    paths = _three_segment_journal(tmp_path)
    damaged = bytearray(paths[0].read_bytes())
    damaged[-1] ^= 0xFF
    paths[0].write_bytes(bytes(damaged))
    assert [s for s, _ in read_records(tmp_path, after_seq=4)] == [5, 6, 7, 8]
    with pytest.raises(JournalCorrupt, match="payload CRC mismatch"):
        verify_journal(tmp_path)
    assert os.path.exists(paths[0])
