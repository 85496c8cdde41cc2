"""The journal's bytes on disk: segment names, the segment header, the record header, errors.

Rules (the full layout, for a third-party reader, is in docs/journal.md):

- A journal is a directory of segment files named ``{first_seq:020d}.journal`` (20 digits,
  zero-padded, so names sort in sequence order). Other names in the directory are ignored.
- A segment starts with a 24-byte header: magic ``CBJOURNL``, format version (u32), the
  seq of its first record (u64), and the CRC32C of those 20 bytes (u32).
- Then records, back to back, each a 20-byte header and its payload: seq (u64), payload
  length (u32), CRC32C of the payload (u32), CRC32C of the 16 header bytes before it (u32).
  The header CRC covers seq, length and the payload CRC, so it covers the payload too, and
  it lets a reader trust the length before it has the payload: a record that runs past the
  end of the file after a good header is a torn write, not a corrupt length.
- All integers are little-endian. Seqs are gapless: +1 per record, across segments.

CRC32C comes from ``google_crc32c`` (C extension, hardware instructions where the CPU has
them); it takes ``bytes`` only.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import google_crc32c

crc32c = google_crc32c.value

MAGIC = b"CBJOURNL"
FORMAT_VERSION = 1
SEGMENT_SUFFIX = ".journal"
LOCK_NAME = "writer.lock"

SEGMENT_HEADER = struct.Struct("<8sIQI")  # magic, version, first seq, CRC32C of bytes [0, 20)
SEGMENT_HEADER_SIZE = SEGMENT_HEADER.size  # 24
SEGMENT_HEADER_CRC_SPAN = 20

RECORD_HEAD = struct.Struct("<QII")  # seq, payload length, payload CRC32C: what the CRC covers
RECORD_HEADER = struct.Struct("<QIII")  # the above + CRC32C of RECORD_HEAD's 16 bytes
RECORD_HEADER_SIZE = RECORD_HEADER.size  # 20
RECORD_HEAD_SIZE = RECORD_HEAD.size  # 16

MAX_SEQ = 2**64 - 1
MAX_PAYLOAD = 2**32 - 1

_SEGMENT_NAME = re.compile(r"^(\d{20})" + re.escape(SEGMENT_SUFFIX) + "$")


class JournalError(Exception):
    """The journal cannot be used as asked (writer misuse, continuity, another writer)."""


class JournalCorrupt(JournalError):
    """Bytes on disk that break the format; the message is one line: file, offset, what."""

    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: offset {offset}: {reason}")
        self.path = Path(path)
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment file found in a journal directory; ``first_seq`` is read from its name."""

    path: Path
    first_seq: int


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: str | os.PathLike[str]) -> list[Segment]:
    """The segment files of ``directory`` in sequence order (empty if it does not exist)."""
    d = Path(directory)
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        m = _SEGMENT_NAME.match(name)
        if m:
            found.append(Segment(d / name, int(m.group(1))))
    found.sort(key=lambda s: s.first_seq)
    return found


def encode_segment_header(first_seq: int) -> bytes:
    head = SEGMENT_HEADER.pack(MAGIC, FORMAT_VERSION, first_seq, 0)[:SEGMENT_HEADER_CRC_SPAN]
    return SEGMENT_HEADER.pack(MAGIC, FORMAT_VERSION, first_seq, crc32c(head))


def encode_record(seq: int, payload: bytes) -> bytes:
    """One record's bytes (header + payload). The writer inlines this on its hot path."""
    n = len(payload)
    pcrc = crc32c(payload)
    return RECORD_HEADER.pack(seq, n, pcrc, crc32c(RECORD_HEAD.pack(seq, n, pcrc))) + payload


def check_segment_header(data: bytes, path: Path, name_seq: int) -> None:
    """Raise ``JournalCorrupt`` unless ``data`` starts with a whole, valid header for its name."""
    magic, version, first_seq, stored = SEGMENT_HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise JournalCorrupt(path, 0, f"not a journal segment (magic {magic!r})")
    computed = crc32c(data[:SEGMENT_HEADER_CRC_SPAN])
    if stored != computed:
        raise JournalCorrupt(
            path, 0,
            f"segment header CRC mismatch (stored {stored:#010x}, computed {computed:#010x})",
        )
    if version != FORMAT_VERSION:
        raise JournalCorrupt(path, 8, f"unsupported format version {version}")
    if first_seq != name_seq:
        raise JournalCorrupt(
            path, 12, f"segment header says first seq {first_seq}, file name says {name_seq}"
        )
