"""CRC32 checksum of the top of a book, so a market-data client can prove its copy.

The checked string is the top ``depth`` ask levels (best first) then the top ``depth``
bid levels (best first), each written ``price:qty`` in decimal integers and joined with
``|``; sides are separated by ``#``. Example: asks [(101, 5)], bids [(100, 7), (99, 1)]
give ``101:5#100:7|99:1``. The value is ``zlib.crc32`` of its ASCII bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

CHECKSUM_DEPTH = 10


def book_checksum(
    bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]], depth: int = CHECKSUM_DEPTH
) -> int:
    """CRC32 over the top ``depth`` levels; ``bids``/``asks`` are best-first (price, qty)."""
    a = "|".join(f"{p}:{q}" for p, q in list(asks)[:depth])
    b = "|".join(f"{p}:{q}" for p, q in list(bids)[:depth])
    return zlib.crc32(f"{a}#{b}".encode("ascii"))
