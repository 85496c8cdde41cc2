"""The journal's view of the snapshots: which journal seq each snapshot reflects.

Rule: this module only answers "which seqs"; it never judges a snapshot (that is
``clearing.snapshot`` and ``crossbook snapshot verify``). ``verify.check_snapshot_links``
uses the answer to check that the journal covers everything after the newest snapshot.
"""

from __future__ import annotations

from pathlib import Path


def snapshot_journal_seqs(state_dir: Path) -> list[int]:
    """The journal seq each snapshot under ``state_dir/snapshots/`` reflects, oldest first.

    A snapshot that cannot be read, or one written before snapshots carried the whole
    state (no journal seq), is left out: judging it is ``crossbook snapshot verify``'s job.
    """
    from clearing.core.state import journal_seq_of
    from clearing.snapshot import SnapshotError, load_snapshot
    from gateway.snapshot_store import list_snapshots, read_snapshot_bytes, snapshot_dir

    seqs = []
    for path in list_snapshots(snapshot_dir(state_dir)):
        try:
            seq = journal_seq_of(load_snapshot(read_snapshot_bytes(path)).state)
        except (OSError, SnapshotError):
            continue
        if seq is not None:
            seqs.append(seq)
    return seqs
