"""The journal's view of the snapshots: which journal seq each snapshot reflects.

Rule: this module only answers "which seqs"; it never judges a snapshot (that is
``clearing.snapshot`` and ``crossbook snapshot verify``). ``verify.check_snapshot_links``
uses the answer to check that the journal covers everything after the newest snapshot.
"""

from __future__ import annotations

from pathlib import Path


def snapshot_journal_seqs(state_dir: Path) -> list[int]:
    """The journal seq recorded in each snapshot under ``state_dir/snapshots/``, any order.

    TODO(lead): snapshots do not record a journal seq yet (issue 8, "Snapshots now hold the
    whole state, books included, at a journal sequence number"). When they do, read each
    snapshot file under ``state_dir / "snapshots"`` and return the seq it reflects (only
    snapshots whose hash chain verifies, if that is the recovery rule). Until then this
    reads nothing and returns ``[]``, so ``crossbook journal verify`` checks no snapshot
    link on a state directory other than "the journal starts at seq 1".
    """
    del state_dir
    return []
