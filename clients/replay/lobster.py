"""LOBSTER files as typed integer rows: the message reader, the orderbook reader and writer.

LOBSTER (lobsterdata.com) publishes one trading day of one ticker as two CSV files
without header: a *message* file (``Time, Type, OrderID, Size, Price, Direction``, one
event per row) and an *orderbook* file whose row i holds the top N levels after message
i (``AskPrice k, AskSize k, BidPrice k, BidSize k`` for k = 1..N; a short side is padded
with ask 9999999999 / bid -9999999999 and size 0).

Rules of this module:

- It only reads and writes; it knows nothing of the matcher, so a driver that replays
  into a running exchange can reuse it.
- Everything is an integer. Time is decimal seconds after midnight as text, parsed
  digit by digit into integer nanoseconds (digits beyond the ninth, float residue in
  some files, round half up); never through a float. Prices stay in LOBSTER's units
  (dollars x 10,000), sizes in shares.
- The depth N of an orderbook file is its column count divided by four.
- A malformed row is yielded as a ``BadRow`` with its 1-based line number and what is
  wrong, never raised: the caller decides whether to skip it or stop. Blank lines are
  skipped (line numbers still count them). A level of size 0 is padding, whatever its
  price.
- Files are read in blocks of lines. A block that is nothing but plain decimal integers
  (and, in a message file, times with exactly nine decimals) is parsed at once by the
  C JSON parser and checked row by row with the same rules; any other block (a blank
  line, a bad field, another time format, CRLF endings) goes row by row through the
  exact parser. Both give the same rows and the same ``BadRow``s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

from clients.replay.rows import BadRow

T = TypeVar("T")

ASK_PAD = 9_999_999_999
BID_PAD = -9_999_999_999

NEW = 1
CANCEL = 2
DELETE = 3
EXECUTE = 4
HIDDEN = 5
CROSS = 6
HALT = 7
TYPES = frozenset((NEW, CANCEL, DELETE, EXECUTE, HIDDEN, CROSS, HALT))
BOOK_TYPES = frozenset((NEW, CANCEL, DELETE, EXECUTE))
"""Types that change the visible book; hidden (5) and cross (6) trades and halts (7) do not."""

HALT_START = -1
HALT_QUOTING = 0
HALT_END = 1

_NS_PER_S = 1_000_000_000
_new = tuple.__new__
_FILE_NAME = re.compile(r"(?P<ticker>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_\d+_\d+_[a-z]+_\d+")


class LobsterMessage(NamedTuple):
    """One message row. ``direction`` is the side of the *resting* order (+1 bid, -1 ask)."""

    line: int
    ts: int
    type: int
    order_id: int
    size: int
    price: int
    direction: int


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_time_ns(text: str) -> int:
    """Decimal seconds (``34200.017459617``) to integer nanoseconds (34200017459617).

    Digits past the ninth decimal are rounded half up (``43002.632812672004`` is
    ``43002632812672``). Raises ``ValueError`` for anything but ASCII digits with one
    optional decimal point.
    """
    whole, _, frac = text.strip().partition(".")
    if not _digits(whole) or (frac and not _digits(frac)):
        raise ValueError(f"bad time {text!r}")
    if len(frac) <= 9:
        return int(whole + frac.ljust(9, "0"))
    return int(whole + frac[:9]) + (frac[9] >= "5")


def ticker_of(path: Path | str) -> str:
    """The ticker of a LOBSTER file name (``AMZN_2012-06-21_..._message_5.csv``) or ``LOBSTER``."""
    m = _FILE_NAME.match(Path(path).name)
    return m.group("ticker") if m else "LOBSTER"


def _parse_message(fields: Sequence[str], line: int) -> LobsterMessage:
    if len(fields) != 6:
        raise ValueError(f"expected 6 columns, got {len(fields)}")
    ts = parse_time_ns(fields[0])
    try:
        mtype, oid, size, price, direction = map(int, fields[1:])
    except ValueError:
        raise ValueError("type, id, size, price and direction must be integers") from None
    return _message(line, ts, mtype, oid, size, price, direction)


def _message(line: int, ts: int, mtype: int, oid: int, size: int, price: int,
             direction: int) -> LobsterMessage:  # fmt: skip
    """The message, or ``ValueError`` naming the first rule its integer fields break."""
    if mtype not in TYPES:
        raise ValueError(f"unknown event type {mtype}")
    if mtype in BOOK_TYPES or mtype == HIDDEN:
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        if price <= 0:
            raise ValueError(f"price must be positive, got {price}")
        if direction != 1 and direction != -1:
            raise ValueError(f"direction must be 1 or -1, got {direction}")
        if mtype != HIDDEN and oid <= 0:
            raise ValueError(f"order id must be positive, got {oid}")
    elif mtype == HALT and price not in (HALT_START, HALT_QUOTING, HALT_END):
        raise ValueError(f"halt indicator price must be -1, 0 or 1, got {price}")
    return _new(LobsterMessage, (line, ts, mtype, oid, size, price, direction))


_BLOCK = 1 << 16
"""Characters of whole lines read at once."""

_PLAIN_MESSAGES = re.compile(r"(?:\d+\.\d{1,9}(?:,-?\d+){5}\n)*")
_NOT_INT_CSV = re.compile(r"[^0-9,\n-]")


def _json_rows(text: str, dots: bool = False) -> list | None:
    """The block's lines as lists of ints, if it is plain integer CSV that JSON reads as
    ``int`` would (only digits, commas, minus signs; JSON refuses leading zeros, empty
    fields and blank lines); else None. With ``dots`` (message files) every line must
    start with a time of 1-9 decimals: the ``.`` becomes a column boundary and the
    decimals are read as ``1`` + decimals, so ``34200.0175`` gives 34200 and 10175 and
    the leading zeros and the digit count survive."""
    if not text.endswith("\n"):
        text += "\n"
    if dots:
        if _PLAIN_MESSAGES.fullmatch(text) is None:
            return None
        text = text.replace(".", ",1")
    elif _NOT_INT_CSV.search(text) is not None:
        return None
    try:
        return json.loads("[[" + text[:-1].replace("\n", "],[") + "]]")
    except ValueError:
        return None


# 1 followed by k decimals lies in [10**k, 2 * 10**k): its bit length tells k (k <= 9)
_DECIMALS = {n.bit_length(): (k, 10**k, 10 ** (9 - k))
             for k in range(1, 10) for n in (10**k, 2 * 10**k - 1)}  # fmt: skip


def _fast_messages(text: str, first: int) -> list[LobsterMessage] | None:
    rows = _json_rows(text, dots=True)
    if rows is None:
        return None
    out = []
    decimals = _DECIMALS
    try:
        for line, (whole, frac, mtype, oid, size, price, direction) in enumerate(rows, first):
            _, one, scale = decimals[frac.bit_length()]
            ts = whole * _NS_PER_S + (frac - one) * scale
            out.append(_message(line, ts, mtype, oid, size, price, direction))
    except ValueError:
        return None
    return out


def _read_rows(
    path: Path | str,
    parse: Callable[[list[str], int], T],
    fast: Callable[[str, int], list[T] | None],
    skip: int = 0,
) -> Iterator[T | BadRow]:
    """Each non-empty line of a CSV file through ``parse(fields, line)``, or a ``BadRow``.

    Blocks of lines go through ``fast(text, first_line)`` first; where it returns None,
    line by line through ``parse``. The first ``skip`` lines are passed over (they were
    read another way); line numbers still count them.
    """
    name = str(path)
    line = 0
    with open(path, encoding="ascii", errors="replace", newline="") as fh:
        while line < skip and fh.readline():
            line += 1
        while lines := fh.readlines(_BLOCK):
            first = line + 1
            line += len(lines)
            rows = fast("".join(lines), first)
            if rows is not None:
                yield from rows
                continue
            for k, text in enumerate(lines, first):
                text = text.rstrip("\r\n")
                if not text:
                    continue
                try:
                    yield parse(text.split(","), k)
                except ValueError as exc:
                    yield BadRow(name, k, str(exc))


class FileRows(Iterator[T]):
    """The rows of one LOBSTER file, read lazily in file order: what ``read_messages`` and
    ``read_book`` return. It also tells which file it reads and how (``path``, ``depth``:
    None for a message file), so that a consumer that has read nothing from it yet
    (``started`` false) may read the file in bulk instead (``lobster_replay.pair_files``).
    """

    def __init__(self, path: Path | str, depth: int | None) -> None:
        self.path = path
        self.depth = depth
        self._rows: Iterator[T] | None = None

    @property
    def started(self) -> bool:
        return self._rows is not None

    def rows(self, skip: int = 0) -> Iterator[T]:
        """A fresh reader of the file's rows, past its first ``skip`` lines."""
        if self.depth is None:
            return _read_rows(self.path, _parse_message, _fast_messages, skip)  # type: ignore[return-value]
        width = 4 * self.depth
        return _read_rows(self.path, lambda fields, _line: _parse_book_row(fields, width),  # type: ignore[return-value]
                          lambda text, _first: _fast_book_rows(text, width), skip)  # fmt: skip

    def __iter__(self) -> FileRows[T]:
        return self

    def __next__(self) -> T:
        if self._rows is None:
            self._rows = self.rows()
        return next(self._rows)


def read_messages(path: Path | str) -> FileRows[LobsterMessage | BadRow]:
    """Every row of a message file, in file order, as a message or a ``BadRow``."""
    return FileRows(path, None)


def book_depth(path: Path | str) -> int:
    """N of an orderbook file, from its first row's column count (4 columns per level)."""
    with open(path, encoding="ascii", errors="replace") as fh:
        first = fh.readline().strip()
    if not first:
        raise ValueError(f"{path}: empty orderbook file")
    cols = len(first.split(","))
    if cols % 4:
        raise ValueError(f"{path}: {cols} columns is not a multiple of 4")
    return cols // 4


def _parse_book_row(fields: Sequence[str], width: int) -> tuple[int, ...]:
    if len(fields) != width:
        raise ValueError(f"expected {width} columns, got {len(fields)}")
    try:
        row = tuple(map(int, fields))
    except ValueError:
        raise ValueError("orderbook columns must be integers") from None
    return _book_row(row, width)


def _book_row(row: tuple[int, ...], width: int) -> tuple[int, ...]:
    """The row with padding normalised, or ``ValueError`` for a negative size or a level
    with a size and no positive price."""
    if min(row) > 0:
        return row  # every level present on both sides (the common case)
    out = list(row)
    for k in range(0, width, 2):
        price, size = row[k], row[k + 1]
        if size < 0:
            raise ValueError(f"negative size in column {k + 2}")
        if size == 0:
            out[k] = ASK_PAD if k % 4 == 0 else BID_PAD
        elif price <= 0:
            raise ValueError(f"non-positive price in column {k + 1}")
    return tuple(out)


def _fast_book_rows(text: str, width: int) -> list[tuple[int, ...]] | None:
    rows = _json_rows(text)
    if rows is None or any(len(row) != width for row in rows):
        return None
    if min(map(min, rows)) > 0:  # every level present in every row (the common case)
        return list(map(tuple, rows))
    try:
        return [_book_row(tuple(row), width) for row in rows]
    except ValueError:
        return None


def read_book(path: Path | str, depth: int) -> FileRows[tuple[int, ...] | BadRow]:
    """Every row of an orderbook file of depth ``depth`` as a tuple of 4N ints or a ``BadRow``."""
    return FileRows(path, depth)


def book_row(
    asks: Sequence[tuple[int, int]], bids: Sequence[tuple[int, int]], depth: int
) -> tuple[int, ...]:
    """The LOBSTER orderbook row for best-first ``asks`` and ``bids`` levels (price, size)."""
    out: list[int] = []
    na, nb = len(asks), len(bids)
    for k in range(depth):
        if k < na:
            out += asks[k]
        else:
            out += (ASK_PAD, 0)
        if k < nb:
            out += bids[k]
        else:
            out += (BID_PAD, 0)
    return tuple(out)


def row_levels(row: Sequence[int], side: int) -> list[tuple[int, int]]:
    """The non-padding (price, size) levels of one side of a row, best first (+1 bids, -1 asks)."""
    off = 2 if side == 1 else 0
    return [(row[k + off], row[k + off + 1]) for k in range(0, len(row), 4) if row[k + off + 1]]


def format_book_row(row: Sequence[int]) -> str:
    return ",".join(map(str, row))


def count_lines(path: Path | str) -> int:
    """Number of lines in a file (for a progress bar's total), read in binary blocks."""
    n = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")
