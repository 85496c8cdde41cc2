"""Drive LOBSTER order flow through the matcher and check every orderbook row against it.

The rules (from the LOBSTER data README, ../shared/data/lobster/README.md):

1. **Seed** the book from orderbook row 1 (the state after message 1) with one synthetic
   resting order per level; replay from message 2. A cancel, delete or execution of an
   id the book never saw takes its volume from synthetic orders at that price first. The
   level total always follows the message's arithmetic: a message that names more volume
   than its order still has takes the difference from other orders at that price.
2. **Slide-in**: after each message, the file's levels strictly deeper than the previous
   row's last level (on a side that was full) are taken as given: synthetic volume is
   added at the back of the level or taken off it (synthetic orders first, newest
   first), and engine levels there that the file does not show are removed.
3. **Executions** (type 4) go through the matcher as aggressive IOC limit orders on the
   other side (limit = price, quantity = size). When the fills land on other orders than
   the named one, they are moved onto it (``matching.repair.move_fill``), undone in
   reverse order so the queue stays as it was. For an id the book never saw, the
   synthetic orders at that price stand in for it.
4. Hidden (5) and cross (6) trades are tape only: counted, not applied to the book.
5. Halts (7): price -1 halts the instrument, 0 opens the quoting (call) phase, 1 resumes
   trading once the book is not crossed (LOBSTER reports the executions that uncross it
   as ordinary messages, so the engine must not uncross on its own). While not trading,
   new orders rest without matching and executions take volume off the named order.
6. A row that does not match is recorded (the first one in full) and the visible book is
   then resynchronised from the file, so one error does not hide the rest.

Order ids: LOBSTER's ids are used as they are (they are positive); every order the
replay invents (synthetic liquidity, IOC takers) gets a negative id from one counter, so
none can collide. Accounts: 1 for orders the file names, 2 for synthetic liquidity, 3 for
takers. Depth comes from the orderbook file's column count; nothing here knows a ticker.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from typing import Any, TextIO

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
    HALT_END,
    HALT_QUOTING,
    HALT_START,
    HIDDEN,
    NEW,
    BadRow,
    FileRows,
    LobsterMessage,
    format_book_row,
)
from clients.replay.lobster_bulk import BookRows, MessageColumns, paired_blocks, row_struct
from matching import repair
from matching.commands import AmendOrder, CancelOrder, Halt, NewOrder, OpenAuction, Resume
from matching.engine import MatchingEngine
from matching.enums import BUY, EndReason, InstrumentStatus, OrdType, StpMode, TimeInForce
from matching.events import Fill
from matching.instrument import MAX_PRICE, Instrument
from matching.order import Order

MARKET_ACCOUNT = 1
SYNTHETIC_ACCOUNT = 2
TAKER_ACCOUNT = 3
MAX_QTY = 1 << 40

_IOC = int(TimeInForce.IOC)
_GTC = int(TimeInForce.GTC)
_LIMIT = int(OrdType.LIMIT)
_STP_NONE = int(StpMode.NONE)
_USER_CANCEL = int(EndReason.USER_CANCEL)
_new = tuple.__new__
_TRADING = InstrumentStatus.TRADING
_HALTED = InstrumentStatus.HALTED
_NO_LIMIT_ASK = 1 << 62
_NO_LIMIT_BID = -(1 << 62)

Observer = Callable[[object, list], None]
"""Called with every command the replay sends to the engine and the events it caused."""


def is_synthetic(order: Order) -> bool:
    return order.order_id < 0


def _row_names(depth: int) -> tuple[str, str, str]:
    """Source text for the generated row readers: the ask prices' names, the bid prices'
    names, and the row's cells (price, level total) best first, ask before bid."""
    asks = [f"a{k}" for k in range(depth)]
    bids = [f"b{k}" for k in range(depth)]
    cells = ", ".join(f"{a}, asks[{a}].total, {b}, bids[{b}].total" for a, b in zip(asks, bids))
    return ", ".join(asks), ", ".join(bids), cells


def _full_row_reader(depth: int) -> Callable[[list, list, dict, dict], tuple[int, ...]]:
    """``read(ask_prices, bid_prices, asks, bids)``: the row of ``depth`` full levels a side.

    The row is read after every message, so it is the replay's hottest code: a body with
    one straight line per level (generated here from ``depth`` alone) reads it several
    times faster than any loop, map or slice assignment measured.
    """
    asks, bids, cells = _row_names(depth)
    source = (
        "def read(ask_prices, bid_prices, asks, bids):\n"
        f"    {asks}, = ask_prices\n"
        f"    {bids}, = bid_prices\n"
        f"    return ({cells},)\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<LOBSTER row reader, depth {depth}>", "exec"), namespace)
    return namespace["read"]


def _packed_row_reader(
    depth: int, packer: struct.Struct
) -> Callable[[list, list, dict, dict], bytes | None]:
    """``read(ask_prices, bid_prices, asks, bids)`` (a book's own lists and dicts): the
    book's row packed with ``packer`` when both sides have ``depth`` levels, ``b""`` if a
    value does not fit the packing, None if a side is short.

    Like ``_full_row_reader``, one straight line per level: this runs after every message
    of a bulk-read file.
    """
    asks, bids, cells = _row_names(depth)
    source = (
        "def read(ask_prices, bid_prices, asks, bids):\n"
        f"    if len(ask_prices) < {depth} or len(bid_prices) < {depth}:\n"
        "        return None\n"
        f"    {asks}, = ask_prices[:{depth}]\n"
        f"    {bids}, = bid_prices[:{-depth - 1}:-1]\n"
        "    try:\n"
        f"        return pack({cells})\n"
        "    except error:\n"
        "        return b''\n"
    )
    namespace: dict[str, Any] = {"pack": packer.pack, "error": struct.error}
    exec(compile(source, f"<LOBSTER packed row reader, depth {depth}>", "exec"), namespace)
    return namespace["read"]


class _PackedRowReader:
    """``read(ask_prices, bid_prices, asks, bids)``: what ``_packed_row_reader`` builds,
    by a loop over the levels into a buffer of its own.

    The compiled build's reader (``lobster_replay.pxd`` types it: the loop is C, with no
    tuple of the row's values); as plain Python a loop is slower than the generated
    straight line, so the pure build keeps that one.
    """

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.values = np.zeros(4 * depth, dtype=np.longlong)  # native int64, as row_struct
        self.cells = self.values

    def read(self, ask_prices: list, bid_prices: list, asks: dict, bids: dict) -> bytes | None:
        depth = self.depth
        nb = len(bid_prices)
        if len(ask_prices) < depth or nb < depth:
            return None
        cells = self.cells
        try:
            for k in range(depth):
                a = ask_prices[k]
                b = bid_prices[nb - 1 - k]
                cells[4 * k] = a
                cells[4 * k + 1] = asks[a].total
                cells[4 * k + 2] = b
                cells[4 * k + 3] = bids[b].total
        except OverflowError:
            return b""
        return self.values.tobytes()


def _between(prices: list[int], low: int, high: int) -> list[int]:
    """The prices of an ascending list within ``[low, high]``, ascending."""
    return prices[bisect_left(prices, low) : bisect_right(prices, high)]


@dataclass
class LobsterStats:
    """Counters of one replay; ``report()`` turns them into the JSON report.

    ``rows_compared``/``rows_matched``: orderbook rows after the seed compared with the
    engine's top N / equal to it (whole row, integers). ``executions_hit_named``: type 4
    rows whose IOC filled only the named order; ``executions_hit_synthetic``: the named id
    was never seen and the fill landed on synthetic liquidity; ``executions_moved``: some
    fill landed elsewhere and was moved (``executions_unknown_id`` counts unseen ids).
    ``unknown_id_refs``: cancels and deletes naming an id the book does not hold;
    ``volume_from_others``: shares such messages (or ones naming more than the order
    holds) took from other orders at the price; ``surplus_on_delete``: shares a deleted
    order held beyond the message's size, left in its place as synthetic volume.
    ``rows_with_slide_in``, ``slide_in_added``/``_removed``: rule 2 at work. ``drift``:
    things a faithful replay never meets (a crossing new order, an execution the level
    could not fill...), by kind; empty on a clean run.
    """

    messages: int = 0
    rows_compared: int = 0
    rows_matched: int = 0
    first_mismatch: dict[str, Any] | None = None
    new_orders: int = 0
    cancels: int = 0
    deletes: int = 0
    executions: int = 0
    executions_hit_named: int = 0
    executions_hit_synthetic: int = 0
    executions_moved: int = 0
    executions_unknown_id: int = 0
    executed_qty: int = 0
    hidden_executions: int = 0
    hidden_qty: int = 0
    cross_trades: int = 0
    cross_qty: int = 0
    halt_messages: int = 0
    seeded_orders: int = 0
    unknown_id_refs: int = 0
    volume_from_others: int = 0
    surplus_on_delete: int = 0
    rows_with_slide_in: int = 0
    slide_in_added: int = 0
    slide_in_removed: int = 0
    resyncs: int = 0
    drift: dict[str, int] = field(default_factory=dict)

    def note_drift(self, what: str, n: int = 1) -> None:
        self.drift[what] = self.drift.get(what, 0) + n


class LobsterReplay:
    """One instrument's book, driven by LOBSTER messages and kept honest by its rows."""

    def __init__(
        self,
        symbol: str,
        depth: int,
        *,
        engine: MatchingEngine | None = None,
        observer: Observer | None = None,
    ) -> None:
        if engine is None:
            engine = MatchingEngine([Instrument(symbol, 1, 1, 1, MAX_QTY)])
        if symbol not in engine.books:
            raise ValueError(f"the engine has no instrument {symbol!r}")
        self.symbol = symbol
        self.depth = depth
        self.engine = engine
        self.book = engine.books[symbol]
        self._orders = engine.orders  # the engine's id index: one dict for its life
        self.observer = observer
        # commands built here are well formed (``_order`` sends the exception): trusted
        self._engine_apply = engine.apply_trusted
        self._full_row = _full_row_reader(depth)
        self.row_struct = row_struct(4 * depth)
        """How ``top_raw`` packs a row (``lobster_bulk`` packs the file's rows the same way)."""
        self._full_row_raw = (
            _PackedRowReader(depth).read if COMPILED else _packed_row_reader(depth, self.row_struct)
        )
        self.stats = LobsterStats()
        self._next_id = 0
        self._resume_pending = False
        self._ts = 0

    # -- plumbing --------------------------------------------------------------------
    def new_id(self) -> int:
        """A fresh negative order id for an order the replay invents."""
        self._next_id -= 1
        return self._next_id

    def _synthetic(self) -> tuple[int, int]:
        return self.new_id(), SYNTHETIC_ACCOUNT

    def _apply(self, cmd: object) -> list:
        """Send a command this driver built to the engine (see ``_order``)."""
        events = self._engine_apply(cmd)
        if self.observer is not None:
            self.observer(cmd, events)
        return events

    def _order(self, ts: int, oid: int, acct: int, side: int, qty: int, price: int,
               tif: int) -> list:  # fmt: skip
        """Send a limit order. The reader checked every field (positive ints, a side), so
        it goes the engine's trusted way unless its price is beyond the matcher's range."""
        cmd = _new(NewOrder, (ts, self.symbol, oid, acct, side, qty, price, _LIMIT, tif, "",
                              False, False, _STP_NONE, 0))  # fmt: skip
        if price > MAX_PRICE:
            events = self.engine.apply(cmd)
            if self.observer is not None:
                self.observer(cmd, events)
            return events
        return self._apply(cmd)

    def _named(self, oid: int, side: int, price: int) -> Order | None:
        """The live order a message names, if it rests where the message says."""
        order = self._orders.get(oid)
        if order is None:
            self.stats.unknown_id_refs += 1
            return None
        if order.side != side or order.price != price:
            self.stats.note_drift("id_at_other_price")
            return None
        return order

    def _take_others(self, side: int, price: int, qty: int) -> None:
        """Take ``qty`` at the message's level from others, synthetic orders first."""
        got = repair.take_from_level(
            self.engine, self.symbol, side, price, qty, prefer=is_synthetic
        )
        self.stats.volume_from_others += got
        if got < qty:
            self.stats.note_drift("level_short_qty", qty - got)

    # -- rows ------------------------------------------------------------------------
    def top(self) -> tuple[int, ...]:
        """The engine's top ``depth`` levels as a LOBSTER orderbook row."""
        n = self.depth
        book = self.book
        ask_prices = book.ask_prices[:n]
        bid_prices = book.bid_prices[: -n - 1 : -1]
        if len(ask_prices) == n and len(bid_prices) == n:  # both sides full: no padding
            return self._full_row(ask_prices, bid_prices, book.asks, book.bids)
        a = [book.asks[p] for p in ask_prices]
        b = [book.bids[p] for p in bid_prices]
        na, nb = len(a), len(b)
        out: list[int] = []
        append = out.append
        for k in range(n):
            if k < na:
                lv = a[k]
                append(lv.price)
                append(lv.total)
            else:
                append(ASK_PAD)
                append(0)
            if k < nb:
                lv = b[k]
                append(lv.price)
                append(lv.total)
            else:
                append(BID_PAD)
                append(0)
        return tuple(out)

    def top_raw(self) -> bytes:
        """``top()`` packed with ``row_struct``; ``b""`` if a value does not fit an int64."""
        book = self.book
        got = self._full_row_raw(book.ask_prices, book.bid_prices, book.asks, book.bids)
        if got is not None:
            return got
        try:
            return self.row_struct.pack(*self.top())
        except struct.error:
            return b""

    def seed(self, row: tuple[int, ...], ts: int) -> None:
        """Start from ``row``: one synthetic order per level. Only on an empty book.

        Raises ``ValueError`` (and adds nothing) for a crossed row.
        """
        if self.book.bids or self.book.asks:
            raise ValueError("seed needs an empty book")
        asks = [row[k] for k in range(0, len(row), 4) if row[k + 1]]
        bids = [row[k + 2] for k in range(0, len(row), 4) if row[k + 3]]
        if asks and bids and max(bids) >= min(asks):
            raise ValueError(f"the row is crossed (bid {max(bids)} >= ask {min(asks)})")
        self._ts = ts
        for k in range(0, len(row), 4):
            for off, side in ((0, -1), (2, 1)):
                price, size = row[k + off], row[k + off + 1]
                if size:
                    oid, acct = self._synthetic()
                    repair.add_resting(self.engine, self.symbol, oid, acct, side, price, size, ts)
                    self.stats.seeded_orders += 1

    def _sync_side(self, row: tuple[int, ...], side: int, beyond: int | None) -> int:
        """Make the engine's visible levels on ``side`` deeper than ``beyond`` equal the row.

        ``beyond`` None means the whole visible side. Returns the number of levels changed.
        """
        off = 2 if side == BUY else 0
        depth4 = len(row)
        last_size = row[depth4 - 4 + off + 1]
        if side == BUY:
            limit = row[depth4 - 4 + off] if last_size else _NO_LIMIT_BID
            start = _NO_LIMIT_ASK if beyond is None else beyond - 1
            keys = _between(self.book.bid_prices, limit, start)
        else:
            limit = row[depth4 - 4 + off] if last_size else _NO_LIMIT_ASK
            start = _NO_LIMIT_BID if beyond is None else beyond + 1
            keys = _between(self.book.ask_prices, start, limit)
        want = {}
        for k in range(off, depth4, 4):
            price, size = row[k], row[k + 1]
            if size and (beyond is None or (price - beyond) * side < 0):
                want[price] = size
        changed = 0
        for price in keys:
            if price not in want:
                self.stats.slide_in_removed += repair.remove_level(
                    self.engine, self.symbol, side, price
                )
                changed += 1
        for price, size in want.items():
            delta = repair.set_level_total(
                self.engine, self.symbol, side, price, size, self._synthetic, self._ts,
                prefer=is_synthetic,
            )  # fmt: skip
            if delta > 0:
                self.stats.slide_in_added += delta
                changed += 1
            elif delta < 0:
                self.stats.slide_in_removed -= delta
                changed += 1
        return changed

    def slide_in(self, prev: tuple[int, ...], row: tuple[int, ...]) -> bool:
        """Rule 2: take levels deeper than ``prev``'s last level (on a full side) from ``row``."""
        d4 = len(row) - 4
        changed = 0
        # asks: prev full when its last ask size is non-zero; work only if row shows deeper
        if prev[d4 + 1]:
            p_last = prev[d4]
            if not row[d4 + 1] or row[d4] > p_last:
                changed += self._sync_side(row, -1, p_last)
        if prev[d4 + 3]:
            p_last = prev[d4 + 2]
            if not row[d4 + 3] or row[d4 + 2] < p_last:
                changed += self._sync_side(row, 1, p_last)
        if changed:
            self.stats.rows_with_slide_in += 1
        return bool(changed)

    def resync(self, row: tuple[int, ...]) -> None:
        """Make every visible level equal ``row`` (after a mismatch or a bad row)."""
        self.stats.resyncs += 1
        self._sync_side(row, -1, None)
        self._sync_side(row, 1, None)

    # -- messages --------------------------------------------------------------------
    def step(self, msg: LobsterMessage) -> None:
        """Apply one message to the engine's book."""
        self._ts = msg.ts
        t = msg.type
        if t == EXECUTE:
            self._execute(msg)
        elif t == NEW:
            self.new_order(msg.ts, msg.order_id, msg.size, msg.price, msg.direction)
        elif t == DELETE or t == CANCEL:
            self.cancel(t, msg.ts, msg.order_id, msg.size, msg.price, msg.direction)
        elif t == HIDDEN:
            self.stats.hidden_executions += 1
            self.stats.hidden_qty += msg.size
        elif t == CROSS:
            self.stats.cross_trades += 1
            self.stats.cross_qty += msg.size
        elif t == HALT:
            self._halt(msg)
        if self._resume_pending and not self.book.is_crossed():
            self._resume_pending = False
            self._apply(Resume(msg.ts, self.symbol))

    def new_order(self, ts: int, oid: int, size: int, price: int, side: int) -> bool:
        """A type 1 message (the fields of a valid one), as ``step`` applies it; the caller
        keeps ``_ts`` and a pending resume as ``step`` does. True if the order crossed
        the book (it may have traded with the other side); else it touched, at most, the
        level at ``price`` on its own side."""
        st = self.stats
        st.new_orders += 1
        book = self.book
        if side == BUY:
            best = book.best_ask
            crosses = best is not None and best.price <= price
        else:
            best = book.best_bid
            crosses = best is not None and best.price >= price
        status = book.status
        if crosses and status == _TRADING:
            st.note_drift("crossing_new_order")
        if oid in self._orders:
            st.note_drift("duplicate_new_order_id")
            return crosses
        if status == _HALTED:
            if crosses:
                self._apply(OpenAuction(ts, self.symbol))
            repair.add_resting(self.engine, self.symbol, oid, MARKET_ACCOUNT, side, price, size,
                               ts)  # fmt: skip
            return crosses
        if price > MAX_PRICE or self.observer is not None:
            self._order(ts, oid, MARKET_ACCOUNT, side, size, price, _GTC)
        else:  # what ``_order`` does, one call nearer
            self._engine_apply(_new(NewOrder, (ts, self.symbol, oid, MARKET_ACCOUNT, side, size,
                                               price, _LIMIT, _GTC, "", False, False, _STP_NONE,
                                               0)))  # fmt: skip
        return crosses

    def _reduce_named(self, order: Order, qty: int, ts: int) -> None:
        """Take ``qty`` (at most its leaves) off a named order through the engine if it can."""
        if qty >= order.leaves:
            self._apply(_new(CancelOrder, (ts, self.symbol, order.order_id, order.account,
                                           _USER_CANCEL)))  # fmt: skip
        elif self.book.status != _HALTED:
            self._apply(_new(AmendOrder, (ts, self.symbol, order.order_id, order.account, None,
                                          order.qty - qty)))  # fmt: skip
        else:
            repair.reduce_order(self.engine, self.symbol, order, qty)

    def cancel(self, t: int, ts: int, oid: int, size: int, price: int, side: int) -> None:
        """A type 2 or 3 message (``t``; the fields of a valid one), as ``step`` applies
        it; the caller keeps ``_ts`` and a pending resume as ``step`` does. It touches, at
        most, the level at ``price`` on side ``side``."""
        st = self.stats
        if t == DELETE:
            st.deletes += 1
        else:
            st.cancels += 1
        order = self._named(oid, side, price)
        rest = size
        if order is not None:
            leaves = order.leaves
            if t == DELETE and leaves > rest:
                # the order holds more than the file says it had: the surplus stays
                # behind as synthetic volume in its place in the queue
                st.surplus_on_delete += leaves - rest
                self._reduce_named(order, rest, ts)
                self._replace_with_synthetic(order)
                return
            if self.observer is not None or (rest < leaves and self.book.status == _HALTED):
                self._reduce_named(order, min(rest, leaves), ts)
            elif rest >= leaves:  # ``_reduce_named``'s engine calls, one call nearer
                self._engine_apply(_new(CancelOrder, (ts, self.symbol, oid, order.account,
                                                      _USER_CANCEL)))  # fmt: skip
            else:
                self._engine_apply(_new(AmendOrder, (ts, self.symbol, oid, order.account, None,
                                                     order.qty - rest)))  # fmt: skip
            rest -= min(rest, leaves)
        if rest:
            self._take_others(side, price, rest)

    def _replace_with_synthetic(self, order: Order) -> None:
        """Turn what is left of ``order`` into a synthetic order at the same queue place."""
        if repair.is_resting(self.engine, order):
            oid, acct = self._synthetic()
            repair.replace_order(self.engine, self.symbol, order, oid, acct, self._ts)

    def _reachable(self, side: int, price: int, qty: int) -> dict[int, Order]:
        """Resting orders on ``side`` a taker with limit ``price`` and ``qty`` can reach."""
        levels = self.book.bids if side == BUY else self.book.asks
        prices = self.book.prices_through(side, price)
        out: dict[int, Order] = {}
        need = qty
        for p in prices:
            o = levels[p].head
            while o is not None and need > 0:
                out[o.order_id] = o
                need -= o.leaves
                o = o.next
            if need <= 0:
                break
        return out

    def _execute(self, msg: LobsterMessage) -> None:
        st = self.stats
        st.executions += 1
        st.executed_qty += msg.size
        side, price, qty, oid = msg.direction, msg.price, msg.size, msg.order_id
        if self.book.status != _TRADING:
            # no continuous matching: the named order (or synthetic volume) just loses qty
            self._cancel_like_execution(msg)
            return
        reach = self._reachable(side, price, qty)
        named = reach.get(oid) or self.engine.orders.get(oid)
        if named is not None and (named.side != side or named.price != price):
            st.note_drift("id_at_other_price")
            named = None
        if named is None:
            st.executions_unknown_id += 1
        events = self._order(msg.ts, self.new_id(), TAKER_ACCOUNT, -side, qty, price, _IOC)
        filled = 0
        off: list[tuple[Order, int]] = []
        for e in events:
            if type(e) is Fill:
                filled += e.qty
                mid = e.maker_order_id
                on_target = mid == oid if named is not None else mid < 0
                if not on_target:
                    off.append((reach[mid], e.qty))
        if filled < qty:
            st.note_drift("execution_short_qty", qty - filled)
        if not off:
            if named is not None:
                st.executions_hit_named += 1
            else:
                st.executions_hit_synthetic += 1
            return
        st.executions_moved += 1
        if named is not None:
            targets = [named]
        else:
            level = (self.book.bids if side == BUY else self.book.asks).get(price)
            targets = [o for o in level.orders() if o.order_id < 0] if level else []
        engine, sym = self.engine, self.symbol
        for maker, q in reversed(off):
            for target in targets:
                if not q:
                    break
                if repair.is_resting(engine, target) and target.leaves:
                    amount = min(q, target.leaves)
                    repair.move_fill(engine, sym, maker, target, amount)
                    q -= amount

    def _cancel_like_execution(self, msg: LobsterMessage) -> None:
        order = self._named(msg.order_id, msg.direction, msg.price)
        rest = msg.size
        if order is not None:
            take = min(rest, order.leaves)
            if take == order.leaves:
                self._apply(_new(CancelOrder, (msg.ts, self.symbol, order.order_id,
                                               order.account, _USER_CANCEL)))  # fmt: skip
            else:
                repair.reduce_order(self.engine, self.symbol, order, take)
            rest -= take
        if rest:
            self._take_others(msg.direction, msg.price, rest)

    def _halt(self, msg: LobsterMessage) -> None:
        self.stats.halt_messages += 1
        sym, ts = self.symbol, msg.ts
        if msg.price == HALT_START:
            self._resume_pending = False
            self._apply(Halt(ts, sym, "LOBSTER trading halt"))
        elif msg.price == HALT_QUOTING:
            self._apply(OpenAuction(ts, sym))
        elif msg.price == HALT_END:
            if self.book.is_crossed():
                self._resume_pending = True
            else:
                self._apply(Resume(ts, sym))


Pair = tuple[LobsterMessage | BadRow | None, tuple[int, ...] | BadRow | None]


class FilePairs(Iterator[Pair]):
    """Message i of a message file with row i of its orderbook file (``pair_files``).

    Iterated, it gives the pairs as ``zip_longest`` does. ``replay_rows`` may instead read
    both files itself in bulk (``lobster_bulk.paired_blocks``) as long as nothing has been
    taken from it.
    """

    def __init__(self, messages: FileRows, rows: FileRows) -> None:
        self.messages = messages
        self.rows = rows
        self._pairs: Iterator[Pair] | None = None

    @property
    def started(self) -> bool:
        return self._pairs is not None

    def blocks(self) -> Iterator[tuple[MessageColumns, BookRows] | Iterator[Pair]]:
        """The files in aligned blocks (``paired_blocks``); the pairs count as taken."""
        self._pairs = iter(())
        return paired_blocks(self.messages, self.rows)

    def __iter__(self) -> FilePairs:
        return self

    def __next__(self) -> Pair:
        if self._pairs is None:
            self._pairs = zip_longest(self.messages, self.rows)
        return next(self._pairs)


def pair_files(
    messages: Iterator[LobsterMessage | BadRow], rows: Iterator[tuple[int, ...] | BadRow]
) -> Iterator[Pair]:
    """Message i with row i; a missing partner (one file is shorter) is ``None``."""
    if (
        type(messages) is FileRows
        and type(rows) is FileRows
        and messages.depth is None
        and rows.depth is not None
        and not messages.started
        and not rows.started
    ):
        return FilePairs(messages, rows)
    return zip_longest(messages, rows)


_TICK = 4096
"""Pairs between two progress reports."""


class _Cells(dict):
    """depth -> (bid cells, ask cells): for each rank k < depth, the bit of the column of
    the size of the k-th level in ``BookRows.changed`` (bids, then asks)."""

    def __missing__(self, depth: int) -> tuple[list[int], list[int]]:
        out = ([1 << (4 * k + 3) for k in range(depth)], [1 << (4 * k + 1) for k in range(depth)])
        self[depth] = out
        return out


_SIZE_CELLS = _Cells()


class _Run:
    """One ``replay_rows`` call: its state, the exact loop body for one pair, and the
    same loop for a block of plain pairs whose rows are packed bytes."""

    def __init__(
        self,
        replay: LobsterReplay,
        strict: bool,
        top_out: TextIO | None,
        on_bad_row: Callable[[BadRow], None] | None,
        tick: Callable[[int], None] | None,
        check_every: int,
        names: tuple[str, str],
    ) -> None:
        self.replay = replay
        self.strict = strict
        self.write = top_out.write if top_out is not None else None
        self.on_bad_row = on_bad_row
        self.tick = tick
        self.check_every = check_every
        self.names = names
        self.bad: list[BadRow] = []
        self.prev: tuple[int, ...] | None = None
        self.seeded = False
        self.pending = 0
        self.n = 0

    def fail(self, b: BadRow) -> None:
        self.bad.append(b)
        if self.on_bad_row is not None:
            self.on_bad_row(b)

    def pair(self, msg: LobsterMessage | BadRow | None,
             row: tuple[int, ...] | BadRow | None) -> bool:  # fmt: skip
        """Run one pair; False when the run must stop."""
        replay = self.replay
        st = replay.stats
        names = self.names
        self.n += 1
        n = self.n
        self.pending += 1
        if self.pending == _TICK and self.tick is not None:
            self.tick(self.pending)
            self.pending = 0
        good_msg = type(msg) is LobsterMessage
        good_row = type(row) is tuple
        if not (good_msg and good_row):
            if msg is None or row is None:
                short, other = names if msg is None else names[::-1]
                self.fail(BadRow(short, n, f"row {n} is missing: {short} is shorter than {other}"))
                return False
            for half in (msg, row):
                if type(half) is BadRow:
                    self.fail(half)
            if self.strict:
                return False
        if good_msg:
            st.messages += 1
        if not self.seeded:
            if good_msg and good_row:
                try:
                    replay.seed(row, msg.ts)
                except ValueError as exc:
                    self.fail(BadRow(names[1], msg.line, f"cannot seed from this row: {exc}"))
                    return not self.strict
                self.seeded = True
                self.prev = row
                if msg.type not in BOOK_TYPES:
                    replay.step(msg)  # tape and status rows do not touch the book
                if self.write is not None:
                    self.write(format_book_row(replay.top()) + "\n")
            return True
        try:
            if good_msg:
                replay.step(msg)
            if not good_row:
                self.prev = None
            elif not good_msg or self.prev is None:
                replay.resync(row)
                self.prev = row
            else:
                # rule 2 only ever changes levels the row shows: when the engine already
                # shows the row, taking the deeper levels as given changes nothing
                got = replay.top()
                if got != row and replay.slide_in(self.prev, row):
                    got = replay.top()
                st.rows_compared += 1
                if got == row:
                    st.rows_matched += 1
                else:
                    self._mismatch(msg, row, got)
                self.prev = row
        except ValueError as exc:
            # the files contradict the book (a crossed row, say): report, resync next row
            line = msg.line if good_msg else n
            self.fail(BadRow(names[0] if good_msg else names[1], line, f"cannot apply: {exc}"))
            self.prev = None
            if self.strict:
                return False
        if self.write is not None:
            self.write(format_book_row(replay.top()) + "\n")
        if self.check_every and n % self.check_every == 0:
            replay.engine.validate()
        return True

    def _mismatch(self, msg: LobsterMessage, row: tuple[int, ...], got: tuple[int, ...]) -> None:
        st = self.replay.stats
        if st.first_mismatch is None:
            st.first_mismatch = {
                "line": msg.line,
                "message": list(msg[1:]),
                "expected": list(row),
                "got": list(got),
            }
        self.replay.resync(row)

    def block(self, cols: MessageColumns, rows: BookRows) -> bool:
        """Run plain pairs (good messages by field, rows packed by ``lobster_bulk``) as
        ``pair`` would, without writing rows out; False when the run must stop."""
        unpack = self.replay.row_struct.unpack
        start, end = 0, len(rows.raw)
        while not self.seeded and start < end:
            if not self.pair(cols.message(start), unpack(rows.raw[start])):
                return False
            start += 1
        every = self.check_every
        lo = start
        while lo < end:
            hi = min(lo + _TICK, end)
            if every:  # stop where the pair count reaches a multiple of check_every
                hi = min(hi, lo + every - self.n % every)
            if not self._chunk(cols, rows, lo, hi):
                return False
            self.pending += hi - lo
            if self.tick is not None and self.pending >= _TICK:
                self.tick(self.pending)
                self.pending = 0
            if every and self.n % every == 0:
                self.replay.engine.validate()
            lo = hi
        return True

    def _chunk(self, cols: MessageColumns, rows: BookRows, lo: int, hi: int) -> bool:
        """Pairs ``lo..hi-1`` of a block (the book is seeded), as ``pair`` runs them.

        Types 1-3 go straight to ``new_order``/``cancel`` (what ``step`` would call) unless
        a resume is pending; a new order that does not cross (and is not a duplicate, nor
        sent while halted), or a cancel or delete naming exactly what is left of an order
        resting at its price, goes straight to the engine as ``new_order``/``cancel``
        would send it (not with an observer: it sees every command through ``_apply``).
        Each row is then compared in one of two ways:

        - *one level*: the previous row matched the engine in full, the message touched
          at most its own level (a cancel, or a new order that did not cross) and that
          level is there before and after (same level count on its side). Then the
          engine's row changed at most in that level's size cell, if the level is in the
          top N, so the row matches exactly when the file's row differs from the
          previous one in that cell alone, holding the level's total (or, for a level
          deeper than N, in no cell). Anything else goes to the full comparison.
        - *full*: the engine's row is packed and compared with the file's as bytes; only
          a row that differs is unpacked (for rule 2 and the mismatch record).
        """
        replay = self.replay
        st = replay.stats
        book = replay.book
        # a book keeps its price lists and level dicts for life (changed in place)
        ask_prices, bid_prices, asks, bids = book.ask_prices, book.bid_prices, book.asks, book.bids
        depth = replay.depth
        step, top, slide_in = replay.step, replay.top, replay.slide_in
        new_order, cancel, top_raw = replay.new_order, replay.cancel, replay.top_raw
        read_raw = replay._full_row_raw
        unpack = replay.row_struct.unpack
        bid_cells, ask_cells = _SIZE_CELLS[depth]
        # a new order that rests, and a cancel or delete of all that is left of the order
        # it names, go to the engine from here (``new_order``'s and ``cancel``'s last line)
        orders, engine_apply, symbol = replay._orders, replay._engine_apply, replay.symbol
        plain_new = replay.observer is None
        max_price = MAX_PRICE
        new_orders = cancels = deletes = 0
        prev = self.prev
        prev_raw = replay.row_struct.pack(*prev) if prev is not None else None
        synced = False  # the engine's row equals prev_raw (known after a full match)
        ok = compared = matched = 0
        pairs = zip(*(column[lo:hi] for column in cols), *(column[lo:hi] for column in rows))
        done = hi - lo
        go_on = True
        line = cols.line[lo]
        # only ``step`` (a halt's end) sets or clears a pending resume
        resume_pending = replay._resume_pending
        while True:
            try:
                for line, ts, t, oid, size, price, side, raw, changed, cell in pairs:
                    # types 1-3 (the readers let through types 1 to 7 only)
                    if t <= DELETE and not resume_pending:
                        replay._ts = ts
                        buy = side == BUY
                        levels_before = len(bid_prices if buy else ask_prices)
                        if t == NEW:
                            if buy:
                                best = book.best_ask
                                crossed = best is not None and best.price <= price
                            else:
                                best = book.best_bid
                                crossed = best is not None and best.price >= price
                            if (crossed or not plain_new or price > max_price or oid in orders
                                    or book.status == _HALTED):  # fmt: skip
                                crossed = new_order(ts, oid, size, price, side)
                            else:  # what ``new_order`` does with an order that rests
                                new_orders += 1
                                engine_apply(_new(NewOrder, (
                                    ts, symbol, oid, MARKET_ACCOUNT, side, size, price, _LIMIT,
                                    _GTC, "", False, False, _STP_NONE, 0)))  # fmt: skip
                        else:
                            order = orders.get(oid)
                            if (order is not None and plain_new and order.leaves == size
                                    and order.side == side and order.price == price):  # fmt: skip
                                # what ``cancel`` does with a message that names all that
                                # is left of the order, where it rests
                                if t == DELETE:
                                    deletes += 1
                                else:
                                    cancels += 1
                                engine_apply(_new(CancelOrder, (ts, symbol, oid, order.account,
                                                                _USER_CANCEL)))  # fmt: skip
                            else:
                                cancel(t, ts, oid, size, price, side)
                            crossed = False
                        if synced and not crossed:
                            if buy:
                                prices, level, cells = bid_prices, bids.get(price), bid_cells
                            else:
                                prices, level, cells = ask_prices, asks.get(price), ask_cells
                            n = len(prices)
                            if level is not None and n == levels_before:
                                rank = bisect_left(prices, price)
                                if buy:
                                    rank = n - 1 - rank
                                if rank >= depth:
                                    if not changed:
                                        ok += 1
                                        prev_raw = raw
                                        continue
                                elif changed == cells[rank] and cell == level.total:
                                    ok += 1
                                    prev_raw = raw
                                    continue
                    else:
                        step(_new(LobsterMessage, (line, ts, t, oid, size, price, side)))
                        resume_pending = replay._resume_pending
                    if prev_raw is not None:
                        got = read_raw(ask_prices, bid_prices, asks, bids)
                        if got == raw:
                            ok += 1
                            prev_raw = raw
                            synced = True
                            continue
                        if got is None:  # a short side: the padded row
                            got = top_raw()
                            if got == raw:
                                ok += 1
                                prev_raw = raw
                                synced = True
                                continue
                        row = unpack(raw)
                        # unequal packed rows are unequal rows; b"" did not pack: compare
                        if got or top() != row:
                            slide_in(unpack(prev_raw), row)
                        got_row = top()
                        compared += 1
                        if got_row == row:
                            matched += 1
                            synced = True
                        else:
                            synced = False
                            msg = _new(LobsterMessage, (line, ts, t, oid, size, price, side))
                            self._mismatch(msg, row, got_row)
                    else:
                        replay.resync(unpack(raw))
                    prev_raw = raw
                break
            except ValueError as exc:
                self.fail(BadRow(self.names[0], line, f"cannot apply: {exc}"))
                prev_raw = None
                synced = False
                resume_pending = replay._resume_pending
                if self.strict:
                    done = line - cols.line[lo] + 1
                    go_on = False
                    break
        self.n += done
        st.messages += done
        st.new_orders += new_orders
        st.cancels += cancels
        st.deletes += deletes
        st.rows_compared += ok + compared
        st.rows_matched += ok + matched
        self.prev = unpack(prev_raw) if prev_raw is not None else None
        return go_on


def replay_rows(
    replay: LobsterReplay,
    pairs: Iterable[Pair],
    *,
    strict: bool = False,
    top_out: TextIO | None = None,
    on_bad_row: Callable[[BadRow], None] | None = None,
    tick: Callable[[int], None] | None = None,
    check_every: int = 0,
    names: tuple[str, str] = ("message file", "orderbook file"),
) -> list[BadRow]:
    """Run (message, row) pairs through ``replay``, comparing every row after the seed.

    Returns the bad rows met; with ``strict`` it stops at the first. A pair with a bad
    half is skipped: its good half still counts (the message is applied, the visible book
    is resynchronised from the row) but nothing is compared. A message the book cannot
    take (``ValueError`` from book surgery: the file contradicts itself) is a bad row too.
    ``tick(n)`` reports progress every few thousand pairs; ``check_every`` runs
    ``engine.validate()`` that often (tests); ``names`` name the two files in bad rows
    the pairing itself finds. ``top_out`` receives the engine's row after
    every message (the seeded row for the first), in the orderbook file's layout.

    Pairs from ``pair_files`` of two unread files are read in bulk, block by block
    (``lobster_bulk``): where both blocks are plain, the file's rows stay packed bytes
    and each is compared, whole, with the engine's row packed the same way.
    """
    run = _Run(replay, strict, top_out, on_bad_row, tick, check_every, names)
    if type(pairs) is FilePairs and not pairs.started and top_out is None:
        for item in pairs.blocks():
            if type(item) is tuple:
                if not run.block(*item):
                    break
            elif not _run_pairs(run, item):
                break
    else:
        _run_pairs(run, pairs)
    if tick is not None and run.pending:
        tick(run.pending)
    return run.bad


def _run_pairs(run: _Run, pairs: Iterable[Pair]) -> bool:
    """Each pair through ``run.pair`` until one says stop; False if one did."""
    pair = run.pair
    return all(pair(msg, row) for msg, row in pairs)


def report(replay: LobsterReplay, elapsed_s: float, bad: list[BadRow]) -> dict[str, Any]:
    """The JSON report: the contract keys first, then detail."""
    st = replay.stats
    out: dict[str, Any] = {
        "rows_compared": st.rows_compared,
        "rows_matched": st.rows_matched,
        "first_mismatch": st.first_mismatch,
        "executions": st.executions,
        "executions_hit_named": st.executions_hit_named,
        "messages_per_s": round(st.messages / elapsed_s) if elapsed_s > 0 else None,
    }
    detail = asdict(st)
    for key in out:
        detail.pop(key, None)
    out.update(
        symbol=replay.symbol,
        depth=replay.depth,
        elapsed_s=round(elapsed_s, 3),
        **detail,
        bad_rows=len(bad),
        bad_row_list=[b._asdict() for b in bad[:100]],
        state_hash=replay.engine.state_hash(),
    )
    return out
