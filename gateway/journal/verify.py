"""Check a whole journal, read-only: every CRC, the sequence across segments, the snapshot links.

Rules:

- ``verify_journal`` reads every segment (none is skipped, unlike recovery) and never
  changes a file: a torn tail is reported in the summary, not cut.
- Its figures: segment count, whole records, first seq (the first segment's), last seq
  (the last whole record's; ``first_seq - 1`` when there is none), bytes on disk.
- Snapshot links (``check_snapshot_links``): every snapshot's journal seq must be
  ``<= last_seq`` (the journal holds what the snapshot reflects), and the journal must
  hold every record after the newest snapshot: ``first_seq <= newest + 1``. With no
  snapshot the state starts empty at seq 0, so the journal must start at seq 1.
- ``verify_path`` takes a state directory (it has ``journal/``; snapshots are checked) or a
  journal directory (segments in it; snapshots are not checked).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gateway.journal.layout import JournalError, list_segments
from gateway.journal.reader import check_continues
from gateway.journal.scan import SegmentScan, TornTail, scan_all
from gateway.journal.snapshots import snapshot_journal_seqs


class JournalLinkError(JournalError):
    """The journal and the snapshots do not fit together (one line)."""


class NotAJournal(JournalError):
    """The path is neither a state directory nor a journal directory."""


@dataclass(frozen=True, slots=True)
class JournalSummary:
    directory: Path
    segments: int
    records: int
    first_seq: int | None  # None: no segment at all
    last_seq: int | None
    bytes: int
    torn_tail: TornTail | None


@dataclass(frozen=True, slots=True)
class SnapshotLinks:
    count: int
    newest_seq: int | None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    journal: JournalSummary
    snapshots: SnapshotLinks | None  # None: a journal directory was given, links not checked


def verify_journal(directory: str | os.PathLike[str]) -> JournalSummary:
    """Read and check every record of the journal in ``directory``; raise ``JournalCorrupt``."""
    d = Path(directory)
    segments = list_segments(d)
    prev: SegmentScan | None = None
    records = 0
    total = 0
    for i, segment in enumerate(segments):
        if prev is not None:
            check_continues(prev, segment)
        scan = scan_all(segment, is_last=i == len(segments) - 1)
        records += scan.records
        total += segment.path.stat().st_size
        prev = scan
    return JournalSummary(
        directory=d,
        segments=len(segments),
        records=records,
        first_seq=segments[0].first_seq if segments else None,
        last_seq=prev.last_seq if prev is not None else None,
        bytes=total,
        torn_tail=prev.torn if prev is not None else None,
    )


def check_snapshot_links(summary: JournalSummary, snapshot_seqs: list[int]) -> SnapshotLinks:
    """Raise ``JournalLinkError`` unless the journal fits the snapshots (module rules)."""
    last = summary.last_seq if summary.last_seq is not None else 0
    newest = max(snapshot_seqs, default=0)
    if newest > last:
        raise JournalLinkError(
            f"{summary.directory}: a snapshot is at journal seq {newest}, "
            f"past the journal's last seq {last}"
        )
    first = summary.first_seq
    if first is not None and first > newest + 1:
        whose = "there is no snapshot"
        if snapshot_seqs:
            whose = f"the newest snapshot is at seq {newest}"
        raise JournalLinkError(
            f"{summary.directory}: the journal starts at seq {first} but {whose}: "
            f"records {newest + 1}..{first - 1} are missing"
        )
    return SnapshotLinks(len(snapshot_seqs), newest if snapshot_seqs else None)


def verify_path(path: str | os.PathLike[str]) -> VerifyReport:
    """Verify a state directory (journal + snapshot links) or a bare journal directory."""
    p = Path(path)
    if not p.is_dir():
        raise NotAJournal(f"{p}: not a directory")
    if (p / "journal").is_dir():
        summary = verify_journal(p / "journal")
        return VerifyReport(summary, check_snapshot_links(summary, snapshot_journal_seqs(p)))
    if not list_segments(p):
        raise NotAJournal(f"{p}: no journal here (neither a journal/ folder nor segment files)")
    return VerifyReport(verify_journal(p), None)
