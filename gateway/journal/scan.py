"""Walk one segment's records, checking every byte; the one place that judges a segment.

Rules:

- Every complete record is checked: header CRC, seq (exactly the one expected: a lower one
  is a repeat, a higher one a gap), payload CRC. Any failure raises ``JournalCorrupt``
  (one line: file, offset of the record, what is wrong).
- Only the LAST segment of a journal may end inside a record: fewer than 20 header bytes
  left, or a good header whose payload runs past the end of the file, or nothing but zero
  bytes from a record boundary on (what a file system can leave after a power loss). That
  is a torn tail: the walk stops at the last whole record and reports it; it never changes
  the file (``repair_tail`` does). The same ending in any other segment is corruption.
- A last segment shorter than its 24-byte header whose bytes are a prefix of the header its
  name implies (or zeros) is a torn tail at offset 0: the segment was being created.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.journal.layout import (
    RECORD_HEAD_SIZE,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
    JournalCorrupt,
    Segment,
    check_segment_header,
    crc32c,
    encode_segment_header,
)


@dataclass(frozen=True, slots=True)
class TornTail:
    """Bytes after the last whole record of the last segment.

    ``offset`` is where the whole records end (the length to truncate the file to); 0 means
    the segment header itself is incomplete and the file holds no record at all.
    """

    path: Path
    offset: int
    size: int

    @property
    def bytes(self) -> int:
        return self.size - self.offset


def read_segment(segment: Segment) -> bytes:
    with open(segment.path, "rb") as fh:
        return fh.read()


class SegmentScan:
    """Iterate ``(seq, offset, payload)`` over one segment's whole records, checking each.

    After the iteration ends: ``records`` counts them, ``last_seq`` is the last one's seq
    (``first_seq - 1`` when there is none), ``end`` is the offset after the last whole
    record and ``torn`` is the torn tail, if any.
    """

    __slots__ = ("data", "end", "is_last", "last_seq", "records", "segment", "torn")

    def __init__(self, segment: Segment, data: bytes, *, is_last: bool) -> None:
        self.segment = segment
        self.data = data
        self.is_last = is_last
        self.records = 0
        self.last_seq = segment.first_seq - 1
        self.end = 0
        self.torn: TornTail | None = None

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        data = self.data
        path = self.segment.path
        size = len(data)
        if size < SEGMENT_HEADER_SIZE:
            expected = encode_segment_header(self.segment.first_seq)
            if self.is_last and (expected.startswith(data) or data.count(0) == size):
                self.torn = TornTail(path, 0, size)
                return
            raise JournalCorrupt(
                path, 0, f"segment header cut short ({size} of {SEGMENT_HEADER_SIZE} bytes)"
            )
        check_segment_header(data, path, self.segment.first_seq)
        unpack_from = RECORD_HEADER.unpack_from
        seq = self.segment.first_seq
        off = SEGMENT_HEADER_SIZE
        while off < size:
            if size - off < RECORD_HEADER_SIZE:
                self._torn_or_corrupt(off, f"record header cut short ({size - off} bytes left)")
                return
            rseq, n, pcrc, hcrc = unpack_from(data, off)
            if crc32c(data[off : off + RECORD_HEAD_SIZE]) != hcrc:
                if self.is_last and data.count(0, off) == size - off:
                    self.end = off
                    self.torn = TornTail(path, off, size)
                    return
                raise JournalCorrupt(path, off, f"record header CRC mismatch (expected seq {seq})")
            if rseq != seq:
                kind = "gap" if rseq > seq else "repeat"
                raise JournalCorrupt(
                    path, off, f"sequence {kind}: expected seq {seq}, found {rseq}"
                )
            start = off + RECORD_HEADER_SIZE
            end = start + n
            if end > size:
                self._torn_or_corrupt(
                    off, f"record seq {seq} needs {n} payload bytes, {size - start} left"
                )
                return
            payload = data[start:end]
            computed = crc32c(payload)
            if computed != pcrc:
                raise JournalCorrupt(
                    path, off,
                    f"payload CRC mismatch in record seq {seq} "
                    f"(stored {pcrc:#010x}, computed {computed:#010x})",
                )
            self.records += 1
            self.last_seq = seq
            self.end = end
            yield seq, off, payload
            seq += 1
            off = end
        self.end = off

    def _torn_or_corrupt(self, off: int, reason: str) -> None:
        self.end = off
        if self.is_last:
            self.torn = TornTail(self.segment.path, off, len(self.data))
            return
        raise JournalCorrupt(self.segment.path, off, f"{reason} in a segment that is not the last")


def scan_all(segment: Segment, *, is_last: bool) -> SegmentScan:
    """Read and check a whole segment, keeping only the figures (no payloads)."""
    scan = SegmentScan(segment, read_segment(segment), is_last=is_last)
    for _ in scan:
        pass
    scan.data = b""
    return scan
