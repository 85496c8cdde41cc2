"""The CRC32 book checksum: its exact string, depth cut and sensitivity."""

from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.checksum import CHECKSUM_DEPTH, book_checksum


def test_documented_example() -> None:
    got = book_checksum([(100, 7), (99, 1)], [(101, 5)])
    assert got == zlib.crc32(b"101:5#100:7|99:1")


def test_empty_book() -> None:
    assert book_checksum([], []) == zlib.crc32(b"#")


def test_only_the_top_depth_levels_count() -> None:
    asks = [(100 + i, 1) for i in range(CHECKSUM_DEPTH + 5)]
    assert CHECKSUM_DEPTH == 10
    assert book_checksum([], asks) == book_checksum([], asks[:CHECKSUM_DEPTH])
    assert book_checksum([], asks, depth=2) == zlib.crc32(b"100:1|101:1#")


def test_accepts_any_iterable() -> None:
    bids = [(100, 7), (99, 1)]
    assert book_checksum(iter(bids), (a for a in [(101, 5)])) == book_checksum(bids, [(101, 5)])


def test_sides_are_not_interchangeable() -> None:
    assert book_checksum([(100, 1)], []) != book_checksum([], [(100, 1)])


LEVELS = st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(LEVELS, LEVELS, st.integers(0, 11), st.integers(1, 9))
def test_any_change_in_the_top_levels_changes_the_checksum(
    bids: list, asks: list, i: int, bump: int
) -> None:
    base = book_checksum(bids, asks)
    assert base == book_checksum(list(bids), list(asks))  # pure
    if i < min(len(asks), CHECKSUM_DEPTH):
        p, q = asks[i]
        changed = [*asks[:i], (p, q + bump), *asks[i + 1 :]]
        assert book_checksum(bids, changed) != base
