"""File-system helpers: the one-writer lock and directory fsync.

One writer per journal directory: an exclusive ``flock`` on ``DIR/writer.lock``.
``JournalWriter`` holds it while open and ``repair_tail`` while it cuts, so a second server
on the same state directory, or a repair under a live writer, fails with ``JournalError``
instead of interleaving or truncating records. The lock is advisory and dies with its
process; readers (``read_records``, verify) never take it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gateway.journal.layout import LOCK_NAME, JournalError


def acquire(directory: Path) -> int:
    """Open and lock ``directory/writer.lock``; return its fd. Raises ``JournalError`` if held."""
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalError(f"{path}: another journal writer holds this directory") from None
    return fd


def release(fd: int) -> None:
    os.close(fd)  # closing the only descriptor drops the flock


def fsync_directory(directory: Path) -> None:
    """Make a created, renamed or removed entry of ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
