"""The sequencer's side of the journal: append one record per batch, roll segments by size.

Rules:

- ``append`` costs one ``os.write`` of header + payload (and, in ``"fsync"`` mode, one
  ``os.fdatasync``) and returns the record's seq, +1 per call. It is the hot path: no work
  it can avoid, structs preformatted, no per-call objects beyond the record bytes.
- A failed ``os.write`` is rolled back (the file is truncated to where the record began)
  and re-raised; a failed ``fdatasync`` closes the writer for good (after an fsync error
  the page cache can no longer be trusted), so the server must stop.
- It never overwrites: on open it checks that the directory's newest segment has no torn
  tail (call ``repair_tail`` first) and ends at ``next_seq - 1``, then starts a new segment
  (``O_EXCL``), or continues a newest segment that holds no record yet and is named
  ``next_seq``. A writer may start at any ``next_seq`` in an empty directory (a journal
  that begins after a snapshot).
- Rollover: a record that would take the segment past ``segment_bytes`` goes into a new
  segment named by its seq; a record bigger than that gets a segment of its own.
- In ``"fsync"`` mode a new segment's header and directory entry are fsynced before use.
- One writer per directory (``fs.acquire``), held until ``close``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from gateway.journal import fs
from gateway.journal.layout import (
    MAX_PAYLOAD,
    MAX_SEQ,
    RECORD_HEAD,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
    JournalError,
    crc32c,
    encode_segment_header,
    list_segments,
    segment_name,
)
from gateway.journal.scan import scan_all

Durability = Literal["write", "fsync"]
DURABILITIES: tuple[str, ...] = ("write", "fsync")
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
MIN_SEGMENT_BYTES = SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE

_pack_head = RECORD_HEAD.pack
_pack_header = RECORD_HEADER.pack


class JournalWriter:
    """Append-only writer of one journal directory. See the module docstring for the rules."""

    __slots__ = (
        "_dir", "_fd", "_fsync", "_lock", "_next_seq", "_path", "_segment_bytes", "_size",
        "durability",
    )

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        next_seq: int,
        durability: Durability = "write",
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be 'write' or 'fsync', got {durability!r}")
        if not isinstance(next_seq, int) or not 1 <= next_seq <= MAX_SEQ:
            raise ValueError(f"next_seq must be an integer from 1 to 2**64-1, got {next_seq!r}")
        if segment_bytes < MIN_SEGMENT_BYTES:
            raise ValueError(f"segment_bytes must be >= {MIN_SEGMENT_BYTES}, got {segment_bytes}")
        self.durability: Durability = durability
        self._fsync = durability == "fsync"
        self._segment_bytes = segment_bytes
        self._dir = Path(directory)
        self._fd = -1
        if not self._dir.is_dir():
            self._dir.mkdir(parents=True)
            if self._fsync:
                fs.fsync_directory(self._dir.parent)
        self._lock = fs.acquire(self._dir)
        try:
            self._open(next_seq)
        except BaseException:
            self.close()
            raise

    @property
    def next_seq(self) -> int:
        """The seq the next ``append`` will return."""
        return self._next_seq

    @property
    def segment_path(self) -> Path:
        """The segment being written."""
        return self._path

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def append(self, payload: bytes) -> int:
        """Write one record holding ``payload``; return its seq."""
        fd = self._fd
        if fd < 0:
            raise JournalError(f"{self._dir}: journal writer is closed")
        n = len(payload)
        if n > MAX_PAYLOAD:
            raise ValueError(f"payload of {n} bytes is over the {MAX_PAYLOAD}-byte limit")
        try:
            pcrc = crc32c(payload)
        except TypeError:
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}") from None
        size = self._size + RECORD_HEADER_SIZE + n
        if size > self._segment_bytes and self._size > SEGMENT_HEADER_SIZE:
            fd = self._roll()
            size = SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + n
        seq = self._next_seq
        record = _pack_header(seq, n, pcrc, crc32c(_pack_head(seq, n, pcrc))) + payload
        try:
            written = os.write(fd, record)
            if written != len(record):
                self._write_rest(record, written)
        except OSError:
            self._roll_back()
            raise
        if self._fsync:
            self._sync(fd)
        self._size = size
        self._next_seq = seq + 1
        return seq

    def close(self) -> None:
        """Close the segment and release the directory; idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock >= 0:
            fs.release(self._lock)
            self._lock = -1

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"next_seq={self._next_seq}"
        return f"JournalWriter({str(self._dir)!r}, {state}, durability={self.durability!r})"

    # -- the rare paths -------------------------------------------------------------------

    def _open(self, next_seq: int) -> None:
        segments = list_segments(self._dir)
        if segments:
            scan = scan_all(segments[-1], is_last=True)
            if scan.torn is not None:
                t = scan.torn
                raise JournalError(
                    f"{t.path}: offset {t.offset}: torn tail of {t.bytes} bytes; "
                    "call repair_tail() before opening a writer"
                )
            if scan.last_seq + 1 != next_seq:
                raise JournalError(
                    f"{self._dir}: the journal ends at seq {scan.last_seq}, "
                    f"a writer cannot start at seq {next_seq}"
                )
            if scan.records == 0:  # newest segment holds no record and is named next_seq
                self._path = scan.segment.path
                self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
                self._size = SEGMENT_HEADER_SIZE
                if self._fsync:  # it may have been created by a writer in "write" mode
                    os.fsync(self._fd)
                    fs.fsync_directory(self._dir)
                self._next_seq = next_seq
                return
        self._next_seq = next_seq
        self._create(next_seq)

    def _create(self, first_seq: int) -> int:
        path = self._dir / segment_name(first_seq)
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644
            )
        except FileExistsError:
            raise JournalError(f"{path}: segment exists; refusing to overwrite it") from None
        try:
            header = encode_segment_header(first_seq)
            if os.write(fd, header) != len(header):
                raise OSError(f"short write of the segment header of {path}")
            if self._fsync:
                os.fsync(fd)
                fs.fsync_directory(self._dir)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        old = self._fd
        self._fd = fd
        self._path = path
        self._size = SEGMENT_HEADER_SIZE
        if old >= 0:
            os.close(old)
        return fd

    def _roll(self) -> int:
        return self._create(self._next_seq)

    def _write_rest(self, record: bytes, written: int) -> None:
        view = memoryview(record)
        while written < len(record):
            written += os.write(self._fd, view[written:])

    def _roll_back(self) -> None:
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._break()

    def _sync(self, fd: int) -> None:
        try:
            os.fdatasync(fd)
        except OSError:
            self._break()
            raise

    def _break(self) -> None:
        """The file can no longer be trusted to match what we think we wrote: stop."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
