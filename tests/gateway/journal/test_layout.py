"""The bytes on disk are exactly what docs/journal.md says: decoded here by hand, not via layout."""

from __future__ import annotations

import struct
from pathlib import Path

import google_crc32c

from gateway.journal.layout import encode_record, encode_segment_header, list_segments, segment_name
from tests.gateway.journal.helpers import segment_paths, write_journal


def test_crc32c_is_the_castagnoli_checksum() -> None:
    assert google_crc32c.value(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_segment_file_decodes_by_the_documented_layout(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"hello", b"", b"world!"], next_seq=7)
    (path,) = segment_paths(tmp_path)
    assert path.name == "00000000000000000007.journal"
    data = path.read_bytes()
    magic, version, first_seq, crc = struct.unpack_from("<8sIQI", data, 0)
    assert (magic, version, first_seq) == (b"CBJOURNL", 1, 7)
    assert crc == google_crc32c.value(data[:20])
    off = 24
    seen = []
    while off < len(data):
        seq, n, pcrc, hcrc = struct.unpack_from("<QIII", data, off)
        assert hcrc == google_crc32c.value(data[off : off + 16])
        payload = data[off + 20 : off + 20 + n]
        assert pcrc == google_crc32c.value(payload)
        seen.append((seq, payload))
        off += 20 + n
    assert off == len(data)
    assert seen == [(7, b"hello"), (8, b""), (9, b"world!")]


def test_encode_helpers_match_the_writer(tmp_path: Path) -> None:
    write_journal(tmp_path, [b"abc"], next_seq=3)
    (path,) = segment_paths(tmp_path)
    assert path.read_bytes() == encode_segment_header(3) + encode_record(3, b"abc")


def test_segment_names_sort_in_sequence_order_and_strangers_are_ignored(tmp_path: Path) -> None:
    for seq in (10, 9, 100, 2**64 - 1, 1):
        (tmp_path / segment_name(seq)).touch()
    for stranger in ("writer.lock", "1.journal", "00000000000000000005.journal.tmp", "notes"):
        (tmp_path / stranger).touch()
    found = list_segments(tmp_path)
    assert [s.first_seq for s in found] == [1, 9, 10, 100, 2**64 - 1]
    assert [s.path.name for s in found] == sorted(s.path.name for s in found)


def test_missing_directory_has_no_segments(tmp_path: Path) -> None:
    assert list_segments(tmp_path / "absent") == []
