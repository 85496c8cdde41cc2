"""Recovery: the newest verified snapshot plus the journal after it -> the exact state.

``recover(config)`` rebuilds the core and the matcher the way they were after the last
journaled batch: it loads the newest snapshot of ``STATE_DIR/snapshots`` (the whole state,
books included, at a journal sequence number), checks its hash chain against its
predecessor, then replays every journal record after that sequence through the core with
an in-process matcher. Rules:

1. A torn last journal record (a crash mid-write) is cut off with a log line; anything
   else wrong (a bad CRC, a sequence gap, a record that does not decode, a snapshot that
   does not verify, a journal that does not reach back to the snapshot) raises
   ``RecoveryError``, whose message is one line naming the file (and offset) to blame:
   the server exits 1 with it. ``--fresh`` is the explicit way out (``archive``).
2. The result is the same state as an uninterrupted run, so ``state_hash`` after
   recovery equals ``crossbook journal replay`` of the same directory.
3. Files only here; the core stays pure.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearing.config import ClearingConfig
from clearing.core import Core
from clearing.core.inputs import InputDecodeError
from clearing.core.state import decode_batch, journal_seq_of, restore, state_hash
from clearing.snapshot import SnapshotError, load_snapshot, verify_snapshot
from gateway import snapshot_store
from gateway.journal import JournalCorrupt, JournalError, read_records, repair_tail
from gateway.journal.layout import list_segments
from matching.engine import MatchingEngine

log = logging.getLogger("crossbook.recovery")

JOURNAL_SUBDIR = "journal"


class RecoveryError(Exception):
    """The state directory cannot be trusted as it is (one line: what and where)."""


def journal_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / JOURNAL_SUBDIR


@dataclass
class Recovered:
    core: Core
    matcher: MatchingEngine
    snapshot: Path | None
    snapshot_seq: int
    replayed: int

    def state_hash(self) -> str:
        return state_hash(self.core, self.matcher.state_hash())


def new_core(exchange: object) -> tuple[Core, MatchingEngine]:
    """A core and matcher on the configuration alone (a fresh start)."""
    cfg: ClearingConfig = exchange.clearing  # type: ignore[attr-defined]
    limits = exchange.limits  # type: ignore[attr-defined]
    core = Core(cfg, max_open_orders=limits.max_open_orders,
                client_order_ids=limits.client_order_ids)  # fmt: skip
    specs = [s for _, s in sorted(cfg.instruments.items())]
    return core, MatchingEngine([s.matcher_instrument() for s in specs])


def load_snapshot_state(exchange: object, path: Path) -> tuple[Core, MatchingEngine, int]:
    """Verify ``path`` (and its link to its predecessor) and restore it."""
    try:
        content = snapshot_store.read_snapshot_bytes(path)
        prev = snapshot_store.predecessor(path)
        prev_content = snapshot_store.read_snapshot_bytes(prev) if prev is not None else None
    except (OSError, SnapshotError) as exc:
        raise RecoveryError(f"{path}: cannot read: {exc}") from None
    result = verify_snapshot(content, prev_content)
    if not result.ok:
        raise RecoveryError(f"{path}: does not verify ({result.reason}: {result.detail}); "
                            "refusing to start (--fresh starts over)")  # fmt: skip
    state = load_snapshot(content).state
    seq = journal_seq_of(state)
    if seq is None:
        raise RecoveryError(f"{path}: a settlement-only snapshot without the books; "
                            "refusing to start (--fresh starts over)")  # fmt: skip
    cfg: ClearingConfig = exchange.clearing  # type: ignore[attr-defined]
    try:
        core, matcher_state = restore(cfg, dict(state))
        assert matcher_state is not None
        matcher = MatchingEngine.from_state(matcher_state)
    except Exception as exc:  # a verified file this build cannot restore
        raise RecoveryError(f"{path}: cannot restore: {exc}") from None
    return core, matcher, seq


def records_after(state_dir: Path, seq: int, *, repair: bool = True) -> Iterator[tuple[int, list]]:
    """``(record seq, inputs)`` of every journal record after ``seq``, checked gapless."""
    jdir = journal_dir(state_dir)
    if not jdir.is_dir():
        return
    if repair:
        try:
            torn = repair_tail(jdir)
        except JournalError as exc:  # damage in the last segment, or a writer holds it
            raise RecoveryError(str(exc)) from None
        if torn is not None:
            log.warning("journal: torn last record cut off: %s", torn)
    expected = seq + 1
    try:
        for rec_seq, payload in read_records(jdir, after_seq=seq):
            if rec_seq != expected:
                raise RecoveryError(f"{jdir}: journal record {rec_seq} follows state at "
                                    f"{expected - 1}: records are missing")  # fmt: skip
            try:
                inputs = decode_batch(payload)
            except InputDecodeError as exc:
                raise RecoveryError(f"{jdir}: record {rec_seq}: {exc}") from None
            yield rec_seq, inputs
            expected += 1
    except JournalCorrupt as exc:
        raise RecoveryError(str(exc)) from None


def recover(exchange: object, *, to_seq: int | None = None, repair: bool = True,
            on_batch: Callable[[list, Any], None] | None = None,
            earliest: bool = False) -> Recovered:  # fmt: skip
    """Snapshot + journal -> core and matcher (see the module rules). ``on_batch(inputs,
    result)`` sees every replayed batch (offline replay reports use it). ``earliest``
    starts from as far back as the journal reaches (the configuration when it begins at
    1, else the oldest snapshot it continues) instead of the newest snapshot."""
    state_dir = Path(exchange.state_dir)  # type: ignore[attr-defined]
    if to_seq is None and not earliest:  # a start: trust the chain back to the journal only
        from gateway.state_trust import check_state_dir

        check_state_dir(state_dir, journal_dir(state_dir))
    start_at = to_seq
    back = None
    if earliest:
        segments = list_segments(journal_dir(state_dir))
        if segments:
            back = segments[0].first_seq - 1
            start_at = back if to_seq is None else min(back, to_seq)
    if start_at == 0:
        snap = None
    elif back is not None and start_at == back:  # a pruned journal: the oldest it continues
        snap = _oldest_snapshot(state_dir, back, to_seq)
    else:
        snap = _newest_snapshot(state_dir, start_at)
    if snap is not None:
        core, matcher, snap_seq = load_snapshot_state(exchange, snap)
    else:
        core, matcher = new_core(exchange)
        snap_seq = 0
    replayed = 0
    t0 = time.monotonic()
    for rec_seq, inputs in records_after(state_dir, snap_seq, repair=repair):
        if to_seq is not None and rec_seq > to_seq:
            break
        result = core.run_batch(inputs, matcher.apply_trusted)
        replayed += 1
        if on_batch is not None:
            on_batch(inputs, result)
    if replayed:
        log.info("recovered %d journal records after %s in %.2f s", replayed,
                 snap or "the configuration", time.monotonic() - t0)  # fmt: skip
    return Recovered(core, matcher, snap, snap_seq, replayed)


def _newest_snapshot(state_dir: Path, at_most: int | None) -> Path | None:
    """The newest snapshot reflecting at most journal seq ``at_most`` (None: any)."""
    snap = snapshot_store.latest_snapshot(snapshot_store.snapshot_dir(state_dir))
    while snap is not None and at_most is not None:
        seq = _snapshot_seq(snap)
        if seq is not None and seq <= at_most:
            break
        snap = snapshot_store.predecessor(snap)
    return snap


def _oldest_snapshot(state_dir: Path, at_least: int, at_most: int | None) -> Path | None:
    """The oldest snapshot reflecting a journal seq from ``at_least`` to ``at_most``."""
    found = None
    snap = snapshot_store.latest_snapshot(snapshot_store.snapshot_dir(state_dir))
    while snap is not None:
        seq = _snapshot_seq(snap)
        if seq is not None and seq < at_least:
            break
        if seq is not None and (at_most is None or seq <= at_most):
            found = snap
        snap = snapshot_store.predecessor(snap)
    return found


def _snapshot_seq(path: Path) -> int | None:
    try:
        state = load_snapshot(snapshot_store.read_snapshot_bytes(path)).state
    except (OSError, SnapshotError):
        return None
    return journal_seq_of(state)


def archive(state_dir: str | os.PathLike[str], stamp: int) -> list[Path]:
    """``--fresh``: move the snapshots and the journal aside (kept, never deleted)."""
    moved = []
    for d in (snapshot_store.snapshot_dir(state_dir), journal_dir(state_dir)):
        if d.is_dir() and any(d.iterdir()):
            target = d.with_name(f"{d.name}.archived-{stamp}")
            d.rename(target)
            moved.append(target)
    return moved
