"""Retention: delete journal segments that a verified snapshot has made unnecessary.

Rules:

- ``prune(directory, upto_seq)`` deletes a segment only when every record it can hold is
  ``<= upto_seq``: its records end at the next segment's first seq minus one, read from
  the file names (segments are not opened; ``verify`` checks they agree with the names).
- The newest segment is never deleted: it is the one being written (or the one a writer
  will continue), and it keeps the journal's last seq on disk.
- Oldest first, so a crash mid-prune leaves a journal that still starts at a segment
  boundary and runs gapless to the end.
- The caller passes the seq of the newest *verified* snapshot and decides, from its
  retention setting, whether to call at all.
"""

from __future__ import annotations

import logging
import os
from itertools import pairwise
from pathlib import Path

from gateway.journal.layout import list_segments

log = logging.getLogger("crossbook.journal")


def prune(directory: str | os.PathLike[str], upto_seq: int) -> list[Path]:
    """Delete whole segments whose records are all ``<= upto_seq``; return the deleted paths."""
    if upto_seq < 0:
        raise ValueError(f"upto_seq must be >= 0, got {upto_seq}")
    segments = list_segments(directory)
    deleted: list[Path] = []
    for segment, following in pairwise(segments):
        if following.first_seq - 1 > upto_seq:
            break
        os.unlink(segment.path)
        deleted.append(segment.path)
    if deleted:
        log.info(
            "journal: pruned %d segment(s) up to seq %d (snapshot at seq %d)",
            len(deleted), segments[len(deleted)].first_seq - 1, upto_seq,
        )
    return deleted
