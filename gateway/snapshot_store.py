"""Settlement snapshots on disk: atomic writes, file naming, finding the latest, the chain.

The I/O edge for ``clearing.snapshot`` (which builds and checks the bytes). Rules:

1. A snapshot file is either absent or complete. ``atomic_write_bytes`` writes a temporary
   file in the destination directory, flushes and fsyncs it, renames it over the final
   name, then fsyncs the directory so the rename itself survives a crash. On any failure
   the temporary file is removed and an existing file of the same name is left untouched.
2. Files live in ``STATE_DIR/snapshots/`` and are named
   ``snapshot-<last_fill_seq, 12 digits>-<serial, 4 digits>.msgpack``; the serial counts
   snapshots taken at the same fill sequence (timer or shutdown snapshots with no new
   fills, during which funding and marks may still move money). Order is the numeric
   (last_fill_seq, serial) pair, which is also the name order while the numbers fit their
   widths. Other files in the directory (including ``.*.tmp`` leftovers) are ignored.
3. ``SnapshotWriter`` keeps the hash chain: on start it reads the latest snapshot, checks
   it (root, header; a conservation failure is recorded history and does not stop the
   chain), and links every new snapshot to the previous root and header digest.
   It refuses a state whose last_fill_seq is older than the latest file's. Given a
   ``sign`` (the state dir's key, ``gateway.snapshot_signing``) it signs every file it
   writes; the signature does not enter the chain, so signed files may follow unsigned ones.
4. ``SnapshotSchedule`` decides when a snapshot is due (every N nanoseconds, every N
   sequence numbers: ``last_fill_seq`` advances once per matcher event, fills included);
   the caller passes the clock reading, this module never reads a clock.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearing.snapshot import (
    MAX_SNAPSHOT_BYTES,
    ZERO_ROOT,
    Fault,
    Signer,
    Snapshot,
    SnapshotError,
    build,
    header_digest,
    load_snapshot,
    verify_snapshot,
)

SNAPSHOT_SUBDIR = "snapshots"
_NAME = re.compile(r"^snapshot-(\d{12,})-(\d{4,})\.msgpack$")


class SnapshotStoreError(Exception):
    """The snapshot directory cannot be used as asked (corrupt latest file, going back)."""


def snapshot_dir(state_dir: str | os.PathLike[str]) -> Path:
    """The directory holding the snapshots of ``state_dir``."""
    return Path(state_dir) / SNAPSHOT_SUBDIR


def snapshot_name(last_fill_seq: int, serial: int = 0) -> str:
    """File name of the ``serial``-th snapshot taken at ``last_fill_seq``."""
    if last_fill_seq < 0 or serial < 0:
        raise ValueError("last_fill_seq and serial must not be negative")
    return f"snapshot-{last_fill_seq:012d}-{serial:04d}.msgpack"


def parse_name(name: str) -> tuple[int, int] | None:
    """Return (last_fill_seq, serial) for a snapshot file name, None for any other name."""
    m = _NAME.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def list_snapshots(directory: str | os.PathLike[str]) -> list[Path]:
    """Snapshot files in ``directory``, oldest first; [] when the directory is missing."""
    d = Path(directory)
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    keyed = [(key, name) for name in names if (key := parse_name(name)) is not None]
    return [d / name for _key, name in sorted(keyed)]


def latest_snapshot(directory: str | os.PathLike[str]) -> Path | None:
    """The newest snapshot file in ``directory``, or None."""
    files = list_snapshots(directory)
    return files[-1] if files else None


def predecessor(path: str | os.PathLike[str]) -> Path | None:
    """The snapshot just before ``path`` in its directory, or None (first one, or a file
    whose name does not follow the snapshot naming so its place is unknown)."""
    p = Path(path)
    key = parse_name(p.name)
    if key is None:
        return None
    earlier = [f for f in list_snapshots(p.parent) if (parse_name(f.name) or key) < key]
    return earlier[-1] if earlier else None


def read_snapshot_bytes(path: str | os.PathLike[str], limit: int = MAX_SNAPSHOT_BYTES) -> bytes:
    """Read a snapshot file, refusing files above ``limit`` bytes before reading them."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise SnapshotError(Fault.MALFORMED, f"{path}: {size} bytes is above {limit}")
        return f.read(limit + 1)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` ends up either complete or unchanged."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def load_latest(state_dir: str | os.PathLike[str]) -> tuple[Path, Snapshot] | None:
    """The newest snapshot of ``state_dir`` (path and decoded snapshot), or None.

    Only decodes it; restoring code should also call ``clearing.snapshot.verify_snapshot``
    if it does not trust the disk.
    """
    path = latest_snapshot(snapshot_dir(state_dir))
    if path is None:
        return None
    return path, load_snapshot(read_snapshot_bytes(path))


class SnapshotWriter:
    """Writes chained snapshots of exported clearing states into ``STATE_DIR/snapshots``."""

    def __init__(self, state_dir: str | os.PathLike[str], sign: Signer | None = None) -> None:
        self.sign = sign
        self.directory = snapshot_dir(state_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.latest: Path | None = latest_snapshot(self.directory)
        self.prev_root: bytes = ZERO_ROOT
        self.prev_digest: bytes = ZERO_ROOT
        self._latest_key: tuple[int, int] | None = None
        if self.latest is not None:
            try:
                content = read_snapshot_bytes(self.latest)
            except SnapshotError as exc:
                raise SnapshotStoreError(f"latest snapshot {self.latest}: {exc}") from exc
            result = verify_snapshot(content)
            if not result.ok and result.reason != Fault.CONSERVATION_VIOLATED:
                raise SnapshotStoreError(
                    f"latest snapshot {self.latest} cannot anchor the chain: "
                    f"{result.reason}: {result.detail}"
                )
            header = load_snapshot(content).header
            self.prev_root, self.prev_digest = header.root, header_digest(header)
            self._latest_key = parse_name(self.latest.name)

    def write(self, state: Mapping[str, Any]) -> Path:
        """Build the snapshot of ``state`` chained to the latest one and write it atomically.

        Returns the new file's path. Raises ``SnapshotError`` for an off-shape state and
        ``SnapshotStoreError`` when ``state`` is older than the latest snapshot.
        """
        built = build(state, self.prev_root, self.prev_digest, self.sign)
        seq = built.header.last_fill_seq
        serial = 0
        if self._latest_key is not None:
            latest_seq, latest_serial = self._latest_key
            if seq < latest_seq:
                raise SnapshotStoreError(
                    f"state at fill {seq} is older than the latest snapshot at fill {latest_seq}"
                )
            if seq == latest_seq:
                serial = latest_serial + 1
        path = self.directory / snapshot_name(seq, serial)
        atomic_write_bytes(path, built.content)
        self.adopt(path, built.header.root, header_digest(built.header))
        return path

    def adopt(self, path: Path, root: bytes, digest: bytes) -> None:
        """Continue the chain from ``path``, a snapshot another writer made of this
        directory's chain (a forked child's copy of this writer: ``gateway.snapshot_fork``):
        its Merkle root and header digest."""
        key = parse_name(path.name)
        if key is None:
            raise SnapshotStoreError(f"{path.name} is not a snapshot file name")
        self.latest, self._latest_key = path, key
        self.prev_root, self.prev_digest = root, digest


@dataclass(slots=True)
class SnapshotSchedule:
    """When a snapshot is due: every ``every_ns`` of time and/or every ``every_fills``
    advances of ``last_fill_seq``.

    ``None`` disables a trigger. Call ``due(now_ns, last_fill_seq)``; after writing, call
    ``taken(now_ns, last_fill_seq)``. The first call to ``due`` only starts the clocks.
    """

    every_ns: int | None = None
    every_fills: int | None = None
    _last_ts: int | None = None
    _last_seq: int | None = None

    def due(self, now_ns: int, last_fill_seq: int) -> bool:
        """True when a trigger has elapsed since the last snapshot taken."""
        if self._last_ts is None or self._last_seq is None:
            self.taken(now_ns, last_fill_seq)
            return False
        if self.every_ns is not None and now_ns - self._last_ts >= self.every_ns:
            return True
        return self.every_fills is not None and last_fill_seq - self._last_seq >= self.every_fills

    def taken(self, now_ns: int, last_fill_seq: int) -> None:
        """Record that a snapshot reflecting ``last_fill_seq`` was written at ``now_ns``."""
        self._last_ts, self._last_seq = now_ns, last_fill_seq
