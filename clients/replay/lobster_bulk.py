"""Whole blocks of LOBSTER lines parsed at once with numpy, for the replay's fast path.

A block is a run of complete lines (bytes) from one file. It is parsed here only when it
is *plain*: ASCII digits, commas, minus signs at the start of a field, newlines (and in a
message file one ``.`` per line, in the time), no blank line, no empty field, every line
with its file's column count, every value within 18 digits (so int64 holds it exactly),
and every row valid by the rules of ``clients.replay.lobster``. Anything else returns None
and the caller reads the block with the exact row-by-row reader, which gives the
``BadRow``\\ s. On a plain block both give the same values; the tests check it on random
blocks.

- Messages come back field by field (``MessageColumns``), not as one tuple per row; times
  exact to the nanosecond (rounded half up past the ninth decimal, as ``parse_time_ns``),
  never through a float.
- Orderbook rows come back as one ``bytes`` object each: the row's 4N int64 in native
  byte order with padding normalised (``row_struct``). Two rows are equal exactly when
  their bytes are, so the replay compares the engine's row packed the same way. With
  them, per row, which columns changed since the row before (``BookRows``).
- ``paired_blocks`` reads a message file and its orderbook file side by side in blocks
  of the same lines, and hands the rest to the exact readers from the first block that
  is not plain.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from itertools import islice, repeat, zip_longest
from typing import NamedTuple

import numpy as np

try:
    import cython

    COMPILED = bool(cython.compiled)
except ImportError:  # no Cython installed: this module runs as plain Python
    COMPILED = False

from clients.replay.lobster import (
    ASK_PAD,
    BID_PAD,
    BOOK_TYPES,
    CANCEL,
    CROSS,
    DELETE,
    EXECUTE,
    HALT,
    HIDDEN,
    NEW,
    BadRow,
    FileRows,
    LobsterMessage,
)

_MAX_FIELD = 18
"""Characters a field may have: 18 digits (or a sign and 17) always fit an int64."""
_INT64_SAFE = 10**18
"""Values of at most 18 digits: int64 holds them, and the parser never clipped them."""
_MAX_SECONDS = 9
"""Digits of the whole seconds: 10**9 s times 10**9 ns still fits an int64."""

_COMMA, _DOT, _NL, _MINUS = ord(","), ord("."), ord("\n"), ord("-")
_ZERO, _NINE = ord("0"), ord("9")
_new = tuple.__new__


def row_struct(width: int) -> struct.Struct:
    """The packing of one orderbook row of ``width`` columns (native int64, no padding)."""
    return struct.Struct(f"={width}q")


def _plain(data: bytes, allowed: bytes, buf: np.ndarray, signed_first: bool) -> bool:
    """Only ``allowed`` characters, and ``-`` only as the sign of a field (not the first
    of a line unless ``signed_first``) followed by a digit."""
    if data.translate(None, allowed):
        return False
    minus = np.flatnonzero(buf == _MINUS)
    if not len(minus):
        return True
    if minus[-1] + 1 >= len(buf):
        return False
    after = buf[minus + 1]
    if not ((after >= _ZERO) & (after <= _NINE)).all():
        return False
    if minus[0] == 0:
        if not signed_first:
            return False
        minus = minus[1:]
    before = buf[minus - 1]
    if signed_first:
        return bool(((before == _COMMA) | (before == _NL)).all())
    return bool((before == _COMMA).all())


def _ints(data: bytes, count: int) -> np.ndarray | None:
    """The ``count`` integers of ``data`` (fields separated by one comma each)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = np.fromstring(data, dtype=np.int64, sep=",")  # type: ignore[call-overload]
        except (ValueError, DeprecationWarning):
            return None
    return out if len(out) == count else None


def _separators(buf: np.ndarray, lines: int, columns: int) -> np.ndarray | None:
    """Positions of the separators of a message block, one row per line, if every line
    has ``columns`` non-empty fields of at most 18 characters, the last followed by the
    newline.

    ``buf`` holds only allowed characters: below ``-`` only the comma and the newline;
    the ``.`` of the time separates too.
    """
    seps = np.flatnonzero((buf <= _COMMA) | (buf == _DOT))
    if len(seps) != lines * columns:
        return None
    widths = np.diff(seps, prepend=-1)
    if widths.min(initial=2) < 2 or widths.max(initial=0) > _MAX_FIELD + 1:
        return None
    seps = seps.reshape(lines, columns)
    # as many newlines as lines, each row's last separator one: no row holds another
    if not (buf[seps[:, -1]] == _NL).all():
        return None
    return seps


class BookRows(NamedTuple):
    """The rows of a block: each packed (``raw``), with what changed from the row before.

    ``changed[i]``: bit c set when column c of row i differs from row i-1 (-1 for the
    block's first row, whose predecessor is not here, and for rows wider than 62
    columns); ``cell[i]``: the value of row i's first column that differs (of its first
    column if none; 0 where ``changed[i]`` is -1).
    """

    raw: list[bytes]
    changed: list[int]
    cell: list[int]


def _changes(rows: np.ndarray) -> tuple[list[int], list[int]]:
    lines, width = rows.shape
    changed = np.full(lines, -1, dtype=np.int64)
    cell = np.zeros(lines, dtype=np.int64)
    if lines > 1 and width <= 62:
        diff = rows[1:] != rows[:-1]
        changed[1:] = diff.astype(np.int64) @ (np.int64(1) << np.arange(width, dtype=np.int64))
        cell[1:] = rows[1:][np.arange(lines - 1), diff.argmax(axis=1)]
    return changed.tolist(), cell.tolist()


def _scan_book(buf: bytes, width: int, out: np.ndarray, changed: np.ndarray,
               cell: np.ndarray) -> bool:  # fmt: skip
    """Parse the plain orderbook block ``buf`` (ending with a newline) into ``out`` (its
    values, row after row, padding normalised) and ``changed``/``cell`` (as ``BookRows``;
    one entry per line): True, or False where ``book_block_numpy`` refuses the block.

    One pass over the bytes: the compiled build's way (``lobster_bulk.pxd`` types it; as
    plain Python it is correct but slow, so the pure build parses with numpy instead).
    Rules, as ``book_block_numpy``'s: a field is an optional ``-`` and at least one digit,
    of a value below 10**18 in magnitude, followed by a comma or, as the ``width``-th of
    its line, the newline; a size is never negative, a level with a size has a positive
    price.
    """
    # the constants as typed locals (module globals are Python objects to compiled code)
    minus, zero, nine, comma, nl = _MINUS, _ZERO, _NINE, _COMMA, _NL
    max_digits = _MAX_FIELD
    ask_pad, bid_pad = ASK_PAD, BID_PAD
    n = len(buf)
    p = buf  # compiled: a pointer to the bytes (every read below is at an index < n)
    cap = len(changed)  # lines: every index below stays in range (compiled, unchecked)
    if width < 2 or width % 2 or len(cell) < cap or len(out) < cap * width:
        raise ValueError("_scan_book: the output arrays do not fit the lines")
    i = 0
    k = 0
    col = 0
    row = 0
    while i < n:
        if col == 0 and row == cap:
            raise ValueError("_scan_book: the block has more lines than counted")
        neg = p[i] == minus
        if neg:
            i += 1
        # up to 18 digits need no overflow check (compiled: ``d`` is unsigned, so a
        # character below "0" wraps above 9)
        v = 0
        start = i
        end = min(i + max_digits, n)
        while i < end:
            d = p[i] - zero
            if d < 0 or d > 9:
                break
            v = v * 10 + d
            i += 1
        if i == end and i < n and zero <= p[i] <= nine:
            # more digits: below 10**18 only with leading zeros
            j = start
            while j < i and p[j] == zero:
                j += 1
            while i < n and zero <= p[i] <= nine:
                i += 1
            if i - j > max_digits:
                return False  # the value reaches 10**18
            v = 0
            while j < i:
                v = v * 10 + (p[j] - zero)
                j += 1
        if i == start or i >= n:
            return False  # an empty field, or a sign without digits
        c = p[i]
        i += 1
        out[k] = -v if neg else v
        k += 1
        col += 1
        if c == comma:
            if col == width:
                return False
            continue
        if c != nl or col != width:
            return False
        # a whole row: check the levels, normalise the padding, compare with the row before
        col = 0
        base = k - width
        for j in range(0, width, 2):
            size = out[base + j + 1]
            if size < 0:
                return False
            if size == 0:
                out[base + j] = ask_pad if j % 4 == 0 else bid_pad
            elif out[base + j] <= 0:
                return False
        if row == 0 or width > 62:
            changed[row] = -1
            cell[row] = 0
        else:
            bits = 0
            first = -1
            for j in range(width):
                if out[base + j] != out[base - width + j]:
                    bits |= 1 << j
                    if first < 0:
                        first = j
            changed[row] = bits
            cell[row] = out[base + first] if first >= 0 else out[base]
        row += 1
    if row != cap:
        raise ValueError("_scan_book: the block has fewer lines than counted")
    return True


def book_block(data: bytes, width: int, lines: int | None = None) -> BookRows | None:
    """The rows of a plain block of an orderbook file of ``width`` columns, or None.
    ``lines``, if given, is the block's line count (a last line may lack its newline).

    The compiled build parses it in one pass (``book_block_scan``), the pure one with
    numpy (``book_block_numpy``); both give the same rows and refuse the same blocks.
    """
    if COMPILED:
        return book_block_scan(data, width, lines)
    return book_block_numpy(data, width)


def book_block_scan(data: bytes, width: int, lines: int | None = None) -> BookRows | None:
    """``book_block`` by ``_scan_book``: the compiled build's way."""
    if not data:
        return BookRows([], [], [])
    if not data.endswith(b"\n"):
        data += b"\n"
    if lines is None:
        lines = data.count(b"\n")
    out = np.empty(lines * width, dtype=np.longlong)  # native int64, as ``row_struct``
    changed = np.empty(lines, dtype=np.longlong)
    cell = np.empty(lines, dtype=np.longlong)
    if not _scan_book(data, width, out, changed, cell):
        return None
    raw = out.view(np.dtype((np.void, 8 * width))).tolist()  # bytes, row by row
    return BookRows(raw, changed.tolist(), cell.tolist())


def book_block_numpy(data: bytes, width: int) -> BookRows | None:
    """``book_block`` by numpy: the pure build's way."""
    if not data:
        return BookRows([], [], [])
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    if not _plain(data, b"0123456789,-\n", buf, signed_first=True):
        return None
    newlines = np.flatnonzero(buf == _NL)
    lines = len(newlines)
    starts = np.empty_like(newlines)
    starts[0] = 0
    starts[1:] = newlines[:-1] + 1
    commas = np.add.reduceat((buf == _COMMA).view(np.uint8), starts, dtype=np.int64)
    if not (commas == width - 1).all():
        return None  # a line (a blank one, say) with another column count
    # with the column count of every line right, an empty field is two adjacent commas
    # or a comma next to a newline: the parser refuses them
    values = _ints(data.replace(b"\n", b","), lines * width)
    if values is None or not ((values < _INT64_SAFE) & (values > -_INT64_SAFE)).all():
        return None  # an empty field, or a value int64 may have clipped
    rows = values.reshape(lines, width)
    prices, sizes = rows[:, 0::2], rows[:, 1::2]
    if (sizes < 0).any() or ((sizes > 0) & (prices <= 0)).any():
        return None  # the exact reader names the column
    rows[:, 0::4][rows[:, 1::4] == 0] = ASK_PAD
    rows[:, 2::4][rows[:, 3::4] == 0] = BID_PAD
    packed = np.ascontiguousarray(rows, dtype="=i8")
    raw = packed.view(np.dtype((np.void, 8 * width))).ravel().tolist()  # bytes, row by row
    return BookRows(raw, *_changes(rows))


def _valid(mtype: np.ndarray, oid: np.ndarray, size: np.ndarray, price: np.ndarray,
           direction: np.ndarray) -> bool:  # fmt: skip
    """Every row passes ``lobster._message``'s rules."""
    known = np.isin(mtype, (NEW, CANCEL, DELETE, EXECUTE, HIDDEN, CROSS, HALT))
    if not known.all():
        return False
    sided = np.isin(mtype, tuple(BOOK_TYPES)) | (mtype == HIDDEN)
    if ((size <= 0) | (price <= 0) | ((direction != 1) & (direction != -1)))[sided].any():
        return False
    if (oid <= 0)[sided & (mtype != HIDDEN)].any():
        return False
    return not ((price < -1) | (price > 1))[mtype == HALT].any()


class MessageColumns(NamedTuple):
    """The messages of a block, field by field (``LobsterMessage``'s fields, as lists)."""

    line: range
    ts: list[int]
    type: list[int]
    order_id: list[int]
    size: list[int]
    price: list[int]
    direction: list[int]

    def message(self, k: int) -> LobsterMessage:
        """The ``k``-th message of the block."""
        return _new(LobsterMessage, tuple(column[k] for column in self))

    def messages(self) -> list[LobsterMessage]:
        return list(map(_new, repeat(LobsterMessage), zip(*self)))


def _scan_messages(buf: bytes, out: np.ndarray) -> bool:
    """Parse the plain message block ``buf`` (ending with a newline) into ``out``: per
    line, time in nanoseconds, type, order id, size, price and direction (so ``out``
    holds 6 values per line): True, or False where ``message_block_numpy`` refuses it.

    One pass over the bytes: the compiled build's way (``lobster_bulk.pxd`` types it; as
    plain Python it is correct but slow, so the pure build parses with numpy instead).
    Rules, as ``message_block_numpy``'s: a line is ``W.F,t,i,s,p,d`` and a newline; ``W``
    1-9 digits, ``F`` 1-18 digits, the others an optional ``-`` and digits, 1-18
    characters each; the values valid by ``lobster._message``'s rules; the time exact
    (``F`` past its ninth digit rounded half up, as ``parse_time_ns``).
    """
    minus, zero, nine, comma, nl, dot = _MINUS, _ZERO, _NINE, _COMMA, _NL, _DOT
    max_field, max_seconds = _MAX_FIELD, _MAX_SECONDS
    new, halt, hidden = NEW, HALT, HIDDEN
    ns_per_s = 1_000_000_000
    n = len(buf)
    cap = len(out) // 6  # lines: every index below stays in range (compiled, unchecked)
    i = 0
    k = 0
    while i < n:
        if k == cap * 6:
            raise ValueError("_scan_messages: the block has more lines than counted")
        # the time: whole seconds, a dot, the decimals
        whole = 0
        start = i
        while i < n and zero <= buf[i] <= nine:
            whole = whole * 10 + (buf[i] - zero)
            i += 1
        if i == start or i - start > max_seconds or i >= n or buf[i] != dot:
            return False
        i += 1
        frac = 0
        start = i
        while i < n and zero <= buf[i] <= nine:
            frac = frac * 10 + (buf[i] - zero)
            i += 1
        decimals = i - start
        if decimals == 0 or decimals > max_field or i >= n or buf[i] != comma:
            return False
        i += 1
        if decimals <= 9:
            scale = 1
            for _r in range(9 - decimals):
                scale *= 10
            ts = whole * ns_per_s + frac * scale
        else:
            scale = 1
            for _r in range(decimals - 10):
                scale *= 10
            frac //= scale  # ten decimals left: the tenth rounds half up
            ts = whole * ns_per_s + frac // 10 + (frac % 10 >= 5)
        out[k] = ts
        k += 1
        # type, id, size, price, direction: a comma after each but the last
        for f in range(5):
            start = i
            neg = i < n and buf[i] == minus
            if neg:
                i += 1
            v = 0
            digits = 0
            while i < n and zero <= buf[i] <= nine:
                v = v * 10 + (buf[i] - zero)
                digits += 1
                i += 1
            if digits == 0 or i - start > max_field or i >= n:
                return False
            if buf[i] != (nl if f == 4 else comma):
                return False
            i += 1
            out[k] = -v if neg else v
            k += 1
        mtype, oid, size, price = out[k - 5], out[k - 4], out[k - 3], out[k - 2]
        direction = out[k - 1]
        if mtype < new or mtype > halt:
            return False
        if mtype <= hidden:
            if size <= 0 or price <= 0 or (direction != 1 and direction != -1):
                return False
            if mtype != hidden and oid <= 0:
                return False
        elif mtype == halt and (price < -1 or price > 1):
            return False
    if k != cap * 6:
        raise ValueError("_scan_messages: the block has fewer lines than counted")
    return True


def message_block(data: bytes, first: int, lines: int | None = None) -> MessageColumns | None:
    """The messages of a plain block of a message file whose first line is ``first``, or
    None. ``lines``, if given, is the block's line count (a last line may lack its
    newline).

    The compiled build parses it in one pass (``message_block_scan``), the pure one with
    numpy (``message_block_numpy``); both give the same messages and refuse the same
    blocks.
    """
    if COMPILED:
        return message_block_scan(data, first, lines)
    return message_block_numpy(data, first)


def message_block_scan(data: bytes, first: int, lines: int | None = None) -> MessageColumns | None:
    """``message_block`` by ``_scan_messages``: the compiled build's way."""
    if not data:
        return MessageColumns(range(first, first), [], [], [], [], [], [])
    if not data.endswith(b"\n"):
        data += b"\n"
    if lines is None:
        lines = data.count(b"\n")
    out = np.empty(lines * 6, dtype=np.longlong)
    if not _scan_messages(data, out):
        return None
    ts, mtype, oid, size, price, direction = out.reshape(lines, 6).T.tolist()
    return MessageColumns(range(first, first + lines), ts, mtype, oid, size, price, direction)


def message_block_numpy(data: bytes, first: int) -> MessageColumns | None:
    """``message_block`` by numpy: the pure build's way."""
    if not data:
        return MessageColumns(range(first, first), [], [], [], [], [], [])
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    if not _plain(data, b"0123456789,.-\n", buf, signed_first=False):
        return None
    lines = data.count(b"\n")
    seps = _separators(buf, lines, 7)
    if seps is None or not (buf[seps[:, 0]] == _DOT).all():
        return None
    if not (buf[seps[:, 1:6]] == _COMMA).all():
        return None
    whole_digits = seps[:, 0] - np.concatenate(([-1], seps[:-1, -1])) - 1
    decimals = seps[:, 1] - seps[:, 0] - 1
    if whole_digits.max() > _MAX_SECONDS:
        return None
    values = _ints(data.replace(b".", b",").replace(b"\n", b","), lines * 7)
    if values is None:
        return None
    cols = values.reshape(lines, 7)
    whole, frac = cols[:, 0], cols[:, 1]
    mtype, oid, size, price, direction = (cols[:, k] for k in range(2, 7))
    if not _valid(mtype, oid, size, price, direction):
        return None
    pow10 = 10 ** np.arange(_MAX_FIELD + 1, dtype=np.int64)
    short = decimals <= 9
    frac_ns = np.where(short, frac * pow10[np.where(short, 9 - decimals, 0)], 0)
    cut = np.where(short, 0, decimals - 9)
    kept = frac // pow10[cut]
    half_up = (frac // pow10[np.maximum(cut - 1, 0)]) % 10 >= 5
    frac_ns = np.where(short, frac_ns, kept + (half_up & ~short))
    ts = whole * 1_000_000_000 + frac_ns
    return MessageColumns(
        range(first, first + lines), ts.tolist(), mtype.tolist(), oid.tolist(), size.tolist(),
        price.tolist(), direction.tolist(),
    )  # fmt: skip


BLOCK_LINES = 1 << 13
"""Lines of each file read and parsed at once."""

Pair = tuple[LobsterMessage | BadRow | None, tuple[int, ...] | BadRow | None]


def paired_blocks(
    messages: FileRows, book: FileRows, lines: int | None = None
) -> Iterator[tuple[MessageColumns, BookRows] | Iterator[Pair]]:
    """A message file and its orderbook file (neither started) in aligned blocks.

    Yields ``(messages, rows)`` for each pair of plain blocks of ``lines`` lines
    (default ``BLOCK_LINES``; rows as
    packed bytes), then, from the first block of either file that is not plain or whose
    partner has another number of lines, one iterator of the remaining pairs exactly as
    ``zip_longest(read_messages(...), read_book(...))`` would give them.
    """
    if book.depth is None or messages.depth is not None:
        raise ValueError("paired_blocks needs a message file and an orderbook file")
    width = 4 * book.depth
    lines = max(1, lines or BLOCK_LINES)
    done = 0
    with open(messages.path, "rb") as fm, open(book.path, "rb") as fb:
        while True:
            mlines = list(islice(fm, lines))
            blines = list(islice(fb, lines))
            if not mlines and not blines:
                return
            if len(mlines) != len(blines):
                break
            msgs = message_block(b"".join(mlines), done + 1, len(mlines))
            if msgs is None:
                break
            rows = book_block(b"".join(blines), width, len(blines))
            if rows is None:
                break
            yield msgs, rows
            done += len(mlines)
    yield zip_longest(messages.rows(done), book.rows(done))
