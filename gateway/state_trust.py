"""What a restart may trust: the snapshot chain from the newest file back to the journal.

``check_state_dir(state_dir)`` runs before recovery loads anything (``gateway.recovery``).
It raises ``RecoveryError`` (one line naming the file) unless:

1. every snapshot from the newest back to the one the journal continues (the newest at or
   before the journal's first record; the whole chain when the journal starts at 1)
   verifies on its own (``clearing.snapshot.verify_snapshot``: root, header, exact
   conservation for the newest), carries the fill sequence its file name says (an old
   snapshot copied under a newer name is refused), and links to its predecessor
   (``prev_root``, ``prev_digest``, neither fill nor journal sequence going backwards);
   the first snapshot of a chain links to nothing (zero links), so a missing predecessor
   is seen;
2. the journal continues the newest snapshot: it holds every record after it (its first
   seq is at most the snapshot's + 1) and it reaches it (its last seq is at least the
   snapshot's). A deleted newest snapshot is then harmless when the journal still holds
   what it reflected (recovery replays it), and refused when the journal was already
   pruned past the older snapshot: either way no rollback goes unseen. A journal that
   ends before the newest snapshot (truncated, or deleted) is refused too;
3. once the hashes hold, the signatures (``gateway.snapshot_signing``): when the state dir
   has a signing key, every snapshot checked in 1. carries an Ed25519 signature that
   verifies with it (a snapshot signed by another key, or edited with recomputed hashes, is
   refused), except the unsigned snapshots from before the key: the one whose header digest
   the key file records as ``unsigned-head``, and those older than it. A state dir without
   a key is not checked for signatures (the server makes the key before this check).

Checking every snapshot back to the journal costs one full verification per snapshot
(a Merkle root over the accounts each); ``journal_retention_snapshots`` bounds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clearing.core.state import journal_seq_of
from clearing.snapshot import (
    ZERO_ROOT,
    Fault,
    SnapshotError,
    SnapshotHeader,
    SnapshotSignature,
    header_digest,
    load_snapshot,
    verify_snapshot,
)
from gateway import snapshot_signing, snapshot_store
from gateway.journal import JournalCorrupt
from gateway.journal.layout import list_segments
from gateway.journal.scan import scan_all

_FRESH = "refusing to start (--fresh starts over)"


@dataclass(frozen=True, slots=True)
class _Checked:
    path: Path
    header: SnapshotHeader
    journal_seq: int
    signature: SnapshotSignature | None


@dataclass(frozen=True, slots=True)
class ChainReport:
    newest: Path | None
    newest_seq: int
    checked: int
    journal_first: int | None
    journal_last: int


def _refuse(message: str) -> Exception:
    from gateway.recovery import RecoveryError

    return RecoveryError(f"{message}; {_FRESH}")


def _check(path: Path, *, newest: bool) -> _Checked:
    try:
        content = snapshot_store.read_snapshot_bytes(path)
    except (OSError, SnapshotError) as exc:
        raise _refuse(f"{path}: cannot read: {exc}") from None
    result = verify_snapshot(content)
    # an older snapshot recording a conservation failure is history, and still a sound link
    if not result.ok and (newest or result.reason is not Fault.CONSERVATION_VIOLATED):
        raise _refuse(f"{path}: does not verify ({result.reason}: {result.detail})")
    snap = load_snapshot(content)
    key = snapshot_store.parse_name(path.name)
    assert key is not None  # listed snapshots have snapshot names
    if key[0] != snap.header.last_fill_seq:
        raise _refuse(f"{path}: holds the snapshot at fill {snap.header.last_fill_seq}, not "
                      f"{key[0]} as its name says (a copied or renamed file)")  # fmt: skip
    seq = journal_seq_of(snap.state)
    if seq is None:
        raise _refuse(f"{path}: a settlement-only snapshot without the books")
    return _Checked(path, snap.header, seq, snap.signature)


def _link(cur: _Checked, prev: _Checked) -> None:
    if cur.header.prev_root != prev.header.root or (
            cur.header.prev_digest != header_digest(prev.header)):  # fmt: skip
        raise _refuse(f"{cur.path}: chain broken: does not link to {prev.path.name}")
    if cur.header.last_fill_seq < prev.header.last_fill_seq or cur.journal_seq < prev.journal_seq:
        raise _refuse(f"{cur.path}: goes back in sequence from {prev.path.name}")


def _check_signatures(state_dir: Path, walked: list[_Checked]) -> None:
    """Rule 3 over ``walked``, newest first."""
    try:
        key = snapshot_signing.load_state_key(state_dir)
    except snapshot_signing.SigningKeyError as exc:
        raise _refuse(str(exc)) from None
    if key is None:
        return
    key_file = snapshot_signing.secret_path(state_dir)
    before_key = False  # reached the newest snapshot written before the key existed
    for c in walked:
        if c.signature is None and (before_key or header_digest(c.header) == key.unsigned_head):
            before_key = True
            continue
        problem = snapshot_signing.signature_problem(c.header, c.signature, key.public)
        if problem is None:
            continue
        if c.signature is None:
            problem = (f"not signed, but written after the signing key {key_file} was made "
                       "(a stripped or forged snapshot)")  # fmt: skip
        raise _refuse(f"{c.path}: {problem}")


def journal_bounds(journal_dir: Path) -> tuple[int | None, int]:
    """(first seq, last seq on disk) of a journal; (None, 0) when it has no segment."""
    segments = list_segments(journal_dir)
    if not segments:
        return None, 0
    try:
        last = scan_all(segments[-1], is_last=True).last_seq
    except JournalCorrupt as exc:
        raise _refuse(str(exc)) from None
    return segments[0].first_seq, last


def check_state_dir(state_dir: str | Path, journal_dir: Path) -> ChainReport:
    """Raise ``RecoveryError`` unless the snapshots and the journal fit (module rules)."""
    files = snapshot_store.list_snapshots(snapshot_store.snapshot_dir(state_dir))
    first, last = journal_bounds(journal_dir)
    if not files:
        if first is not None and first > 1:
            raise _refuse(f"{journal_dir}: the journal starts at seq {first} but there is no "
                          f"snapshot: records 1..{first - 1} are missing")  # fmt: skip
        return ChainReport(None, 0, 0, first, last)
    i = len(files) - 1
    cur = newest = _check(files[i], newest=True)
    walked = [newest]
    base = (first - 1) if first is not None else newest.journal_seq
    checked = 1
    while cur.journal_seq > base:
        if i == 0:
            break
        i -= 1
        prev = _check(files[i], newest=False)
        walked.append(prev)
        checked += 1
        _link(cur, prev)
        cur = prev
    if i == 0 and cur.journal_seq > base and (
            cur.header.prev_root != ZERO_ROOT or cur.header.prev_digest != ZERO_ROOT):  # fmt: skip
        raise _refuse(f"{cur.path}: links to an earlier snapshot that is not on disk")
    if newest.journal_seq > last:
        raise _refuse(f"{journal_dir}: the journal ends at seq {last}, before the newest "
                      f"snapshot {newest.path.name} at seq {newest.journal_seq}: records are "
                      "missing (a truncated journal, or a rollback)")  # fmt: skip
    if first is not None and first > newest.journal_seq + 1:
        raise _refuse(f"{journal_dir}: the journal starts at seq {first} but the newest snapshot "
                      f"{newest.path.name} is at seq {newest.journal_seq}: records "
                      f"{newest.journal_seq + 1}..{first - 1} are missing (a deleted snapshot?)")
    _check_signatures(Path(state_dir), walked)
    return ChainReport(newest.path, newest.journal_seq, checked, first, last)
