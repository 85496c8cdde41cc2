"""Reading a journal back for recovery, and the one step that cuts a torn tail off.

Rules:

- ``read_records`` never writes. It yields exactly ``after_seq + 1, after_seq + 2, ...`` up
  to the last whole record, checking every record it reads (``scan.SegmentScan``) and that
  each segment starts where the one before it ended. Records it cannot yield raise
  ``JournalCorrupt``: the journal starting after ``after_seq + 1`` (records missing), a bad
  CRC, a gap or a repeat. Segments wholly at or before ``after_seq`` are skipped unread;
  ``crossbook journal verify`` reads everything.
- At a torn tail it logs a warning on ``crossbook.journal`` and ends.
- ``repair_tail`` is the opener's explicit step before ``JournalWriter``: it truncates the
  last segment to its last whole record (or removes it when even its header is torn),
  fsyncs, logs one line and returns what it cut. It holds the writer lock while it cuts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from gateway.journal import fs
from gateway.journal.layout import JournalCorrupt, Segment, list_segments
from gateway.journal.scan import SegmentScan, TornTail, read_segment, scan_all

log = logging.getLogger("crossbook.journal")


def read_records(
    directory: str | os.PathLike[str], *, after_seq: int = 0
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(seq, payload)`` for every whole record after ``after_seq``, in order.

    ``after_seq`` is the seq the caller's state already reflects (a snapshot's, or 0 for an
    empty state). A directory without segments yields nothing.
    """
    if after_seq < 0:
        raise ValueError(f"after_seq must be >= 0, got {after_seq}")
    segments = list_segments(directory)
    if not segments:
        return
    want = after_seq + 1
    first = segments[0]
    if first.first_seq > want:
        raise JournalCorrupt(
            first.path, 0,
            f"records {want}..{first.first_seq - 1} are missing: "
            f"the journal starts at seq {first.first_seq}",
        )
    start = 0
    while start + 1 < len(segments) and segments[start + 1].first_seq <= want:
        start += 1
    last_index = len(segments) - 1
    prev: SegmentScan | None = None
    for i in range(start, len(segments)):
        segment = segments[i]
        if prev is not None:
            check_continues(prev, segment)
        scan = SegmentScan(segment, read_segment(segment), is_last=i == last_index)
        for seq, _offset, payload in scan:
            if seq > after_seq:
                yield seq, payload
        scan.data = b""
        prev = scan
    if prev is not None and prev.torn is not None:
        torn = prev.torn
        log.warning(
            "journal: torn tail in %s: %d bytes after offset %d not read "
            "(repair_tail cuts them off)", torn.path, torn.bytes, torn.offset,
        )


def check_continues(prev: SegmentScan, segment: Segment) -> None:
    """Raise ``JournalCorrupt`` unless ``segment`` starts right after ``prev``'s last seq."""
    expected = prev.last_seq + 1
    if segment.first_seq != expected:
        kind = "gap" if segment.first_seq > expected else "repeat"
        raise JournalCorrupt(
            segment.path, 0,
            f"sequence {kind}: {prev.segment.path.name} ends at seq {prev.last_seq}, "
            f"this segment starts at seq {segment.first_seq}",
        )


def repair_tail(directory: str | os.PathLike[str]) -> TornTail | None:
    """Cut a torn tail off the last segment; return what was cut, or None if nothing was.

    Raises ``JournalCorrupt`` if the last segment is damaged in a way a crash mid-write
    cannot explain, and ``JournalError`` if a writer holds the directory.
    """
    d = Path(directory)
    segments = list_segments(d)
    if not segments:
        return None
    lock = fs.acquire(d)
    try:
        scan = scan_all(segments[-1], is_last=True)
        torn = scan.torn
        if torn is None:
            return None
        if torn.offset == 0:
            os.unlink(torn.path)
            fs.fsync_directory(d)
            log.warning(
                "journal: removed %s: its %d bytes are an incomplete segment header "
                "(crash while creating it)", torn.path, torn.bytes,
            )
        else:
            _truncate(torn.path, torn.offset)
            log.warning(
                "journal: cut torn tail off %s: %d bytes after offset %d "
                "(last whole record seq %d)", torn.path, torn.bytes, torn.offset, scan.last_seq,
            )
        return torn
    finally:
        fs.release(lock)


def _truncate(path: Path, length: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, length)
        os.fsync(fd)
    finally:
        os.close(fd)
