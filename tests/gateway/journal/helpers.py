"""Journals built for tests: a seeded list of payloads written through the real writer."""

from __future__ import annotations

import random
from pathlib import Path

from gateway.journal import JournalWriter
from gateway.journal.layout import list_segments


def payloads(count: int, *, seed: int = 1, max_len: int = 40) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(0, max_len)) for _ in range(count)]


def write_journal(
    directory: Path, items: list[bytes], *, next_seq: int = 1, segment_bytes: int = 1 << 20
) -> Path:
    """Write ``items`` as records from ``next_seq`` on; return the directory."""
    with JournalWriter(directory, next_seq=next_seq, segment_bytes=segment_bytes) as w:
        for p in items:
            w.append(p)
    return directory


def segment_paths(directory: Path) -> list[Path]:
    return [s.path for s in list_segments(directory)]


def snapshot_files(directory: Path) -> dict[str, bytes]:
    """Every file's bytes, to show an operation changed nothing."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}
