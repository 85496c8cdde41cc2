"""The matching engine: one object, commands in, events out.

``apply(command) -> events`` takes anything; ``apply_trusted`` and ``apply_batch`` take
commands the exchange core built from validated requests and skip the field checks
(``matching.validate``) that ``apply`` runs first. ``export_state``/``from_state`` and
``state_hash`` are in ``matching.state``.

Rules of this module:

1. Pure and deterministic. No clock, no I/O, no randomness: the same commands give the
   same events (byte for byte) and the same ``state_hash()``, through any entry point.
2. Bad input never raises. Through ``apply`` every malformed or refused command becomes
   an ``OrderRejected`` / ``CancelRejected`` / ``CommandRejected`` event with a ``Reason``
   code, and leaves the state exactly as it was; through the trusted entry points so does
   every command whose fields are well formed (the caller's promise).
3. Price-time priority; a trade prints at the maker's price and never outside the band.
4. A filled, cancelled or expired order leaves every index in the same step (order id
   index, account index, its level), with its links cleared: nothing the engine drops is
   left for the garbage collector.

The hot paths (``_new_order``, ``_cancel``, ``_take``) are written for CPython speed
(locals, no per-fill allocation beyond the event itself, orders built in place); read
them before changing them and measure with ``crossbook bench matcher``.

This module, ``matching/order.py`` and ``matching/book.py`` are also compiled with Cython
in pure-Python mode (types only in the ``.pxd`` files beside them; ``setup.py``,
``matching._compiled``). The ``.py`` files are the one source of both builds, so they stay
plain Python; ``tests/matching/test_compiled.py`` holds the builds to identical events.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from matching import state as _state
from matching.auction import uncross_price
from matching.book import NO_HIGH, NO_LOW, OrderBook
from matching.commands import (
    AddInstrument,
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Halt,
    MassCancel,
    NewOrder,
    OpenAuction,
    Resume,
    SetBand,
)
from matching.enums import (
    BUY,
    CxlRejResponseTo,
    EndReason,
    InstrumentStatus,
    OrdType,
    StpMode,
    TimeInForce,
)
from matching.events import (
    AuctionUncrossed,
    BandChanged,
    CancelRejected,
    CommandRejected,
    Fill,
    InstrumentAdded,
    InstrumentStatusChanged,
    LevelChanged,
    MassCancelDone,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    SelfTradePrevented,
)
from matching.instrument import MAX_PRICE, Instrument
from matching.order import Order, PriceLevel
from matching.reasons import Reason
from matching.validate import END_REASONS, book_problem, new_order_problem, well_formed_cancel

try:
    import cython
except ImportError:  # no Cython installed: this module runs as plain Python
    from matching import _nocython as cython

if not cython.compiled:
    # builds an event NamedTuple from a tuple of its fields without running its __new__;
    # compiled, engine.pxd gives a C function of the same name that does the same
    _new = tuple.__new__

    def _fields(cmd: tuple) -> tuple:
        """A command NamedTuple as the tuple of its fields, to unpack.

        Compiled, engine.pxd gives a C function of the same name: typed as a ``tuple``,
        the unpacking reads the items in place instead of iterating over a NamedTuple.
        """
        return cmd

_LIMIT = int(OrdType.LIMIT)
_MARKET = int(OrdType.MARKET)
_GTC = int(TimeInForce.GTC)
_IOC = int(TimeInForce.IOC)
_FOK = int(TimeInForce.FOK)
_GTD = int(TimeInForce.GTD)
_STP_NONE = int(StpMode.NONE)
_STP_EXPIRE_TAKER = int(StpMode.EXPIRE_TAKER)
_STP_EXPIRE_MAKER = int(StpMode.EXPIRE_MAKER)
_STP_EXPIRE_BOTH = int(StpMode.EXPIRE_BOTH)
_STP_DECREMENT = int(StpMode.DECREMENT)
_TRADING = InstrumentStatus.TRADING
_HALTED = InstrumentStatus.HALTED
_AUCTION = InstrumentStatus.AUCTION


class MatchingEngine:
    """Books for many instruments behind one sequenced command stream."""

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self.books: dict[str, OrderBook] = {}
        self.orders: dict[int, Order] = {}
        self.accounts: dict[int, dict[str | int, Order]] = {}
        self.seq = 0
        self.trade_id = 0
        self._expiries: list[tuple[int, int]] = []
        self._handlers = {
            NewOrder: self._new_order,
            CancelOrder: self._cancel,
            AmendOrder: self._amend,
            MassCancel: self._mass_cancel,
            Halt: self._halt,
            OpenAuction: self._open_auction,
            Resume: self._resume,
            SetBand: self._set_band,
            AdvanceTime: self._advance_time,
            AddInstrument: self._add_instrument,
        }
        for instrument in instruments:
            problem = instrument.check()
            if problem:
                raise ValueError(f"bad instrument {instrument.symbol!r}: {problem}")
            self.books[instrument.symbol] = OrderBook(instrument)

    # ------------------------------------------------------------------ entry points -
    def apply(self, cmd: object) -> list:
        """Apply one command from anywhere; return the events it caused, in sequence order.

        The validating entry point: every field is checked (``matching.validate``) and a
        malformed command is refused with its reason, whatever it holds.
        """
        events: list = []
        kind = type(cmd)
        handler = self._handlers.get(kind)
        if handler is None:
            self._command_reject(events, 0, kind.__name__, Reason.UNKNOWN_COMMAND)
            return events
        ts = cmd.ts  # type: ignore[attr-defined]
        if type(ts) is not int or ts < 0:
            self._command_reject(events, 0, kind.__name__, Reason.INVALID_TIMESTAMP)
            return events
        expiries = self._expiries
        if expiries and expiries[0][0] <= ts:
            self._expire_due(ts, events)
        if kind is NewOrder:
            problem = new_order_problem(cmd, self.books)  # type: ignore[arg-type]
            if problem is not None:
                self._reject(events, cmd, problem)  # type: ignore[arg-type]
                return events
        elif kind is CancelOrder:
            checked = well_formed_cancel(cmd)  # type: ignore[arg-type]
            if checked is None:
                self._owned_order(cmd, events, CxlRejResponseTo.CANCEL)  # type: ignore[arg-type]
                return events
            cmd = checked
        handler(cmd, events)
        return events

    def apply_trusted(self, cmd: object) -> list:
        """Apply one trusted command; the same events as ``apply`` gives it, sooner.

        Trusted: built by the exchange core from requests it has validated, so every
        field passes ``matching.validate`` (types, enumerations, ranges). New orders and
        cancels then skip those checks, and every trusted command the timestamp check;
        everything the instrument or the engine's state decides (lot, size limits, tick,
        halt, duplicates, band, post-only, ownership) is still checked and refused with
        its reason. Amends go straight to their handler, which checks their fields among
        its state checks as it does under ``apply``. Other commands go through ``apply``.
        """
        kind = type(cmd)
        if kind is not NewOrder and kind is not CancelOrder and kind is not AmendOrder:
            return self.apply(cmd)
        events: list = []
        expiries = self._expiries
        if expiries and expiries[0][0] <= cmd.ts:  # type: ignore[attr-defined]
            self._expire_due(cmd.ts, events)  # type: ignore[attr-defined]
        if kind is NewOrder:
            self._new_order(cmd, events)  # type: ignore[arg-type]
        elif kind is CancelOrder:
            self._cancel(cmd, events)  # type: ignore[arg-type]
        else:
            self._amend(cmd, events)  # type: ignore[arg-type]
        return events

    def apply_batch(self, cmds: Iterable[object]) -> list:
        """Apply trusted commands in order; return all their events in one list.

        The same events as ``apply_trusted`` on each command in turn, concatenated.
        """
        events: list = []
        expiries = self._expiries
        for cmd in cmds:
            kind = type(cmd)
            if kind is NewOrder or kind is CancelOrder or kind is AmendOrder:
                if expiries and expiries[0][0] <= cmd.ts:  # type: ignore[attr-defined]
                    self._expire_due(cmd.ts, events)  # type: ignore[attr-defined]
                if kind is NewOrder:
                    self._new_order(cmd, events)  # type: ignore[arg-type]
                elif kind is CancelOrder:
                    self._cancel(cmd, events)  # type: ignore[arg-type]
                else:
                    self._amend(cmd, events)  # type: ignore[arg-type]
            else:
                events += self.apply(cmd)
        return events

    # ------------------------------------------------------------------ new order ----
    def _reject(self, events: list, cmd: NewOrder, reason: Reason, text: str = "") -> None:
        self.seq += 1
        events.append(
            _new(
                OrderRejected,
                (
                    self.seq,
                    cmd.ts,
                    cmd.instrument,
                    cmd.order_id,
                    cmd.client_order_id,
                    cmd.account,
                    reason,
                    text or reason.text,
                ),
            )
        )

    def _new_order(self, cmd: NewOrder, events: list) -> None:
        """A trusted new order (see ``apply_trusted``): instrument and state checks only."""
        (ts, sym, oid, acct, side, qty, price, otype, tif, clid, post_only, reduce_only, stp,
         expire_ts) = _fields(cmd)  # fmt: skip
        try:
            book = self.books[sym]
        except (KeyError, TypeError):
            return self._reject(events, cmd, Reason.UNKNOWN_INSTRUMENT)
        # the usual GTC limit order answers most of the tests below by identity (small ints
        # are shared objects), an equality test only when it is something else
        gtc = tif is _GTC or tif == _GTC
        limit = otype is _LIMIT or otype == _LIMIT
        lot, min_qty, max_qty, tick = book.limits
        # (``x % 1`` is 0 for every int: the usual lot and tick of 1 skip the division)
        if ((lot != 1 and qty % lot) or qty < min_qty or qty > max_qty
                or (tick != 1 and price % tick)
                or (not gtc and tif == _GTD and expire_ts <= ts)):  # fmt: skip
            return self._reject(events, cmd, book_problem(cmd, book))  # type: ignore[arg-type]
        status = book.status
        if status is not _TRADING and status != _TRADING:  # (the identity test is the cheap one)
            if status == _HALTED:
                return self._reject(events, cmd, Reason.INSTRUMENT_HALTED)
            if otype == _MARKET or tif == _IOC or tif == _FOK:
                return self._reject(events, cmd, Reason.NOT_ALLOWED_IN_AUCTION)
        orders = self.orders
        if oid in orders:
            return self._reject(events, cmd, Reason.DUPLICATE_ORDER_ID)
        acct_orders = self.accounts.get(acct)
        if clid and acct_orders is not None and clid in acct_orders:
            return self._reject(events, cmd, Reason.DUPLICATE_CLIENT_ORDER_ID)
        if side == 1:
            if limit and price > book.band_high:
                return self._reject(events, cmd, Reason.PRICE_OUTSIDE_BAND)
            opp = book.best_ask
            crosses = opp is not None and opp.price <= price
        else:
            if limit and price < book.band_low:
                return self._reject(events, cmd, Reason.PRICE_OUTSIDE_BAND)
            opp = book.best_bid
            crosses = opp is not None and opp.price >= price
        if crosses and status == _AUCTION:
            crosses = False
        if post_only and crosses:
            return self._reject(events, cmd, Reason.POST_ONLY_WOULD_TAKE)

        # accepted: from here on the command changes state
        seq = self.seq + 1
        events.append(_new(OrderAccepted, (seq, ts, sym, oid, clid, acct, side, otype, price,
                                           qty, tif, expire_ts, post_only, reduce_only,
                                           stp)))  # fmt: skip
        if crosses:
            self.seq = seq
            if not gtc and tif == _FOK and not self._fok_fillable(book, side, price, qty, acct,
                                                                  stp):  # fmt: skip
                self.seq = seq + 1
                events.append(_new(OrderExpired, (seq + 1, ts, sym, oid, clid, acct, qty, 0,
                                                  EndReason.FOK_NOT_FILLABLE)))  # fmt: skip
                return None
            leaves, cum, end = self._take(book, ts, sym, oid, acct, side, price, qty, 0, stp,
                                          events)  # fmt: skip
            seq = self.seq
            if end:
                pass
            elif leaves == 0:
                return None
            elif (not limit and otype == _MARKET) or (not gtc and (tif == _IOC or tif == _FOK)):
                end = EndReason.IOC_REMAINDER
            elif side == 1:
                opp = book.best_ask
                if opp is not None and opp.price <= price:
                    end = EndReason.PRICE_BAND
            else:
                opp = book.best_bid
                if opp is not None and opp.price >= price:
                    end = EndReason.PRICE_BAND
            if end:
                self.seq = seq + 1
                events.append(_new(OrderExpired, (seq + 1, ts, sym, oid, clid, acct, leaves, cum,
                                                  end)))  # fmt: skip
                return None
        elif (not gtc and (tif == _FOK or tif == _IOC)) or (not limit and otype == _MARKET):
            self.seq = seq + 1
            end = EndReason.FOK_NOT_FILLABLE if tif == _FOK else EndReason.IOC_REMAINDER
            events.append(_new(OrderExpired, (seq + 1, ts, sym, oid, clid, acct, qty, 0, end)))
            return None
        else:
            leaves = qty
            cum = 0
        # rest the remainder: an Order built in place (no __init__ call on the hot path)
        order = Order.__new__(Order)
        order.cmd = cmd
        order.clid = clid
        order.instrument = sym
        order.order_id = oid
        order.account = acct
        order.side = side
        order.qty = leaves + cum
        order.leaves = leaves
        order.cum = cum
        order.next = None
        orders[oid] = order
        if acct_orders is None:
            self.accounts[acct] = {clid or oid: order}
        else:
            acct_orders[clid or oid] = order
        level = (book.bids if side == 1 else book.asks).get(price)
        if level is None:
            level = book.level_for_insert(side, price)
        # the same value as ``price``, but the level's own key object: the cancel's lookup
        # of the level by ``order.price`` then matches the dict key by identity
        order.price = level.price
        tail = level.tail
        order.prev = tail
        if tail is None:
            level.head = order
        else:
            tail.next = order
        level.tail = order
        total = level.total + leaves
        level.total = total
        count = level.count + 1
        level.count = count
        if not gtc and tif == _GTD:
            heapq.heappush(self._expiries, (expire_ts, oid))
        seq += 1
        self.seq = seq
        events.append(_new(LevelChanged, (seq, ts, sym, side, price, total, count)))
        return None

    def _fok_fillable(
        self, book: OrderBook, side: int, limit: int, qty: int, acct: int, stp: int
    ) -> bool:
        """Whether an FOK order of ``qty`` would fill completely right now."""
        if side == 1:
            prices = book.prices_through(-1, min(limit, book.band_high))
            store = book.asks
        else:
            prices = book.prices_through(1, max(limit, book.band_low))
            store = book.bids
        need = qty
        for price in prices:
            if price < book.band_low or price > book.band_high:
                return False
            o = store[price].head
            while o is not None:
                if o.account == acct and stp != _STP_NONE:
                    if stp != _STP_EXPIRE_MAKER:
                        return False
                else:
                    need -= o.leaves
                    if need <= 0:
                        return True
                o = o.next
        return False

    # ------------------------------------------------------------------ matching -----
    def _take(
        self,
        book: OrderBook,
        ts: int,
        sym: str,
        oid: int,
        acct: int,
        side: int,
        limit: int,
        leaves: int,
        cum: int,
        stp: int,
        events: list,
    ) -> tuple[int, int, int]:
        """Match an incoming order against the opposite side.

        Returns ``(leaves, cum, stop)`` where ``stop`` is 0, or the EndReason that ended
        matching early (SELF_TRADE when STP expired the taker, PRICE_BAND when the next
        maker is outside the band).
        """
        orders = self.orders
        accounts = self.accounts
        seq = self.seq
        trade_id = self.trade_id
        band_low = book.band_low
        band_high = book.band_high
        maker_side = -side
        stop = 0
        last = None
        while leaves:
            level = book.best_ask if side == 1 else book.best_bid
            if level is None:
                break
            lp = level.price
            if (lp - limit) * side > 0:
                break
            if lp < band_low or lp > band_high:
                stop = EndReason.PRICE_BAND
                break
            maker = level.head
            total = level.total
            count = level.count
            while maker is not None:
                if stp and maker.account == acct:
                    # self-trade prevention, decided by the taker's mode
                    self.seq = seq
                    self.trade_id = trade_id
                    q = maker.leaves if maker.leaves < leaves else leaves
                    seq += 1
                    events.append(_new(SelfTradePrevented, (seq, ts, sym, stp, acct, oid,
                                                            maker.order_id, q)))  # fmt: skip
                    nxt = maker.next
                    expire_maker = stp == _STP_EXPIRE_MAKER or stp == _STP_EXPIRE_BOTH
                    if stp == _STP_DECREMENT:
                        maker.leaves -= q
                        maker.qty -= q
                        total -= q
                        leaves -= q
                        expire_maker = maker.leaves == 0
                    if expire_maker:
                        mleaves = maker.leaves
                        total -= mleaves
                        count -= 1
                        seq += 1
                        events.append(_new(OrderExpired, (seq, ts, sym, maker.order_id,
                                                          maker.clid, maker.account,
                                                          mleaves, maker.cum,
                                                          EndReason.SELF_TRADE)))  # fmt: skip
                        self._forget(maker, level)
                    if stp == _STP_EXPIRE_TAKER or stp == _STP_EXPIRE_BOTH:
                        stop = EndReason.SELF_TRADE
                        break
                    if not leaves:
                        stop = EndReason.SELF_TRADE
                        break
                    maker = nxt
                    continue
                mleaves = maker.leaves
                if mleaves <= leaves:
                    q = mleaves
                    mleaves = 0
                else:
                    q = leaves
                    mleaves -= q
                leaves -= q
                cum += q
                mcum = maker.cum + q
                maker.cum = mcum
                maker.leaves = mleaves
                total -= q
                trade_id += 1
                last = lp
                seq += 1
                events.append(_new(Fill, (seq, ts, sym, trade_id, lp, q, side, oid, acct, cum,
                                          leaves, maker.order_id, maker.account, mcum,
                                          mleaves)))  # fmt: skip
                if mleaves:
                    break
                # maker done: leaves every index at once
                nxt = maker.next
                del orders[maker.order_id]
                del accounts[maker.account][maker.clid or maker.order_id]
                level.head = nxt
                if nxt is None:
                    level.tail = None
                else:
                    nxt.prev = None
                    maker.next = None
                count -= 1
                maker = nxt
                if not leaves:
                    break
            level.total = total
            level.count = count
            seq += 1
            events.append(_new(LevelChanged, (seq, ts, sym, maker_side, lp, total, count)))
            if level.head is None:
                # the best level is gone: drop it at the best end of its side
                if side == 1:
                    asks = book.asks
                    del asks[lp]
                    prices = book.ask_prices
                    del prices[0]
                    book.best_ask = asks[prices[0]] if prices else None
                else:
                    bids = book.bids
                    del bids[lp]
                    prices = book.bid_prices
                    prices.pop()
                    book.best_bid = bids[prices[-1]] if prices else None
            if stop:
                break
        if last is not None:
            book.last_price = last
        self.seq = seq
        self.trade_id = trade_id
        return leaves, cum, stop

    def _forget(self, order: Order, level: PriceLevel) -> None:
        """Unlink a resting order from its level and every index (totals are the caller's)."""
        level.unlink(order)
        del self.orders[order.order_id]
        del self.accounts[order.account][order.clid or order.order_id]

    def _remove_resting(self, book: OrderBook, order: Order) -> PriceLevel:
        """Take a resting order out of the book entirely; return its (maybe empty) level."""
        side = order.side
        level = (book.bids if side == BUY else book.asks)[order.price]
        level.total -= order.leaves
        self._forget(order, level)
        if level.count == 0:
            book.remove_level(side, level)
        return level

    def _level_event(self, events: list, ts: int, sym: str, side: int, level: PriceLevel) -> None:
        self.seq += 1
        events.append(
            _new(LevelChanged, (self.seq, ts, sym, side, level.price, level.total, level.count))
        )

    # ------------------------------------------------------------------ cancel/amend -
    def _cancel_reject(
        self, events: list, cmd: CancelOrder | AmendOrder, response_to: int, reason: Reason
    ) -> None:
        self.seq += 1
        events.append(
            _new(
                CancelRejected,
                (self.seq, cmd.ts, cmd.instrument, cmd.order_id, cmd.account, response_to,
                 reason, reason.text),
            )
        )  # fmt: skip

    def _owned_order(
        self, cmd: CancelOrder | AmendOrder, events: list, response_to: int
    ) -> tuple[OrderBook, Order] | None:
        sym = cmd.instrument
        book = self.books.get(sym) if type(sym) is str else None
        if book is None:
            self._cancel_reject(events, cmd, response_to, Reason.UNKNOWN_INSTRUMENT)
            return None
        oid = cmd.order_id
        order = self.orders.get(oid) if type(oid) is int else None
        if order is None or order.cmd.instrument != sym:
            self._cancel_reject(events, cmd, response_to, Reason.UNKNOWN_ORDER)
            return None
        if type(cmd.account) is not int or order.account != cmd.account:
            self._cancel_reject(events, cmd, response_to, Reason.NOT_ORDER_OWNER)
            return None
        return book, order

    def _cancel(self, cmd: CancelOrder, events: list) -> None:
        """A trusted cancel (see ``apply_trusted``). Hot path: the common case is inline."""
        ts, sym, oid, acct, reason = _fields(cmd)
        orders = self.orders
        order = orders.get(oid)
        if order is None or order.account != acct:
            self._owned_order(cmd, events, CxlRejResponseTo.CANCEL)  # emits the reject
            return
        if order.instrument != sym:
            self._owned_order(cmd, events, CxlRejResponseTo.CANCEL)
            return
        book = self.books[sym]
        side = order.side
        price = order.price
        level = book.bids[price] if side == 1 else book.asks[price]
        leaves = order.leaves
        total = level.total - leaves
        level.total = total
        prev = order.prev
        nxt = order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
            order.prev = None
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
            order.next = None
        count = level.count - 1
        level.count = count
        del orders[oid]
        clid = order.clid
        del self.accounts[acct][clid or oid]
        if not count:
            book.remove_level(side, level)
        seq = self.seq
        events.append(_new(OrderCanceled, (seq + 1, ts, sym, oid, clid, acct, leaves, order.cum,
                                           reason)))  # fmt: skip
        events.append(_new(LevelChanged, (seq + 2, ts, sym, side, price, total, count)))
        self.seq = seq + 2

    def _amend(self, cmd: AmendOrder, events: list) -> None:
        """Amend (both entry points: its field checks sit among the state checks)."""
        ts, sym, oid, acct, price, qty = _fields(cmd)
        order = self.orders.get(oid) if type(oid) is int else None
        book = self.books.get(sym) if type(sym) is str else None
        if (book is None or order is None or order.account != acct or type(acct) is not int
                or order.instrument != sym):  # fmt: skip
            self._owned_order(cmd, events, CxlRejResponseTo.AMEND)  # emits the reject
            return None
        new_price = order.price if price is None else price
        new_qty = order.qty if qty is None else qty
        amend = CxlRejResponseTo.AMEND
        lot, min_qty, max_qty, tick = book.limits
        status = book.status
        if status is not _TRADING and status == _HALTED:  # (identity first: the cheap test)
            return self._cancel_reject(events, cmd, amend, Reason.INSTRUMENT_HALTED)
        if type(new_price) is not int or new_price <= 0 or new_price > MAX_PRICE:
            return self._cancel_reject(events, cmd, amend, Reason.INVALID_PRICE)
        if tick != 1 and new_price % tick:
            return self._cancel_reject(events, cmd, amend, Reason.OFF_TICK_PRICE)
        if type(new_qty) is not int or new_qty <= 0:
            return self._cancel_reject(events, cmd, amend, Reason.INVALID_QUANTITY)
        if lot != 1 and new_qty % lot:
            return self._cancel_reject(events, cmd, amend, Reason.OFF_LOT_QUANTITY)
        if new_qty < min_qty:
            return self._cancel_reject(events, cmd, amend, Reason.QUANTITY_TOO_SMALL)
        if new_qty > max_qty:
            return self._cancel_reject(events, cmd, amend, Reason.QUANTITY_TOO_LARGE)
        if new_qty <= order.cum or (new_price == order.price and new_qty == order.qty):
            return self._cancel_reject(events, cmd, amend, Reason.INVALID_AMEND)
        side = order.side
        if new_price > book.band_high if side == BUY else new_price < book.band_low:
            return self._cancel_reject(events, cmd, amend, Reason.PRICE_OUTSIDE_BAND)
        if side == BUY:
            opp = book.best_ask
            crosses = opp is not None and opp.price <= new_price
        else:
            opp = book.best_bid
            crosses = opp is not None and opp.price >= new_price
        if status is not _TRADING and status == _AUCTION:
            crosses = False
        if crosses and order.cmd.post_only:
            return self._cancel_reject(events, cmd, amend, Reason.POST_ONLY_WOULD_TAKE)

        clid = order.clid
        old_qty = order.qty
        if new_price == order.price and new_qty < old_qty:
            # quantity down in place: keeps queue position
            leaves = order.leaves - (old_qty - new_qty)
            order.qty = new_qty
            order.leaves = leaves
            level = book.bids[new_price] if side == BUY else book.asks[new_price]
            total = level.total - (old_qty - new_qty)
            level.total = total
            seq = self.seq
            events.append(_new(OrderAmended, (seq + 1, ts, sym, oid, clid, acct, new_price, new_qty,
                                              leaves, order.cum, True)))  # fmt: skip
            events.append(_new(LevelChanged, (seq + 2, ts, sym, side, new_price, total,
                                              level.count)))  # fmt: skip
            self.seq = seq + 2
            return None
        # price change or quantity up: loses priority (back of the new level, may trade)
        levels = book.bids if side == BUY else book.asks
        old_level = levels[order.price]
        old_level.total -= order.leaves
        old_level.unlink(order)
        if old_level.count == 0:
            book.remove_level(side, old_level)
        order.price = new_price
        order.qty = new_qty
        order.leaves = new_qty - order.cum
        self.seq += 1
        events.append(
            _new(OrderAmended, (self.seq, ts, sym, order.order_id, clid, order.account,
                                new_price, new_qty, order.leaves, order.cum, False))
        )  # fmt: skip
        self._level_event(events, ts, sym, side, old_level)
        if crosses:
            leaves, cum, stop = self._take(book, ts, sym, order.order_id, order.account, side,
                                           new_price, order.leaves, order.cum, order.cmd.stp,
                                           events)  # fmt: skip
            order.leaves, order.cum = leaves, cum
            order.qty = leaves + cum
            still_crossed = (
                (book.best_ask is not None and book.best_ask.price <= new_price)
                if side == BUY
                else (book.best_bid is not None and book.best_bid.price >= new_price)
            )
            if leaves == 0 or stop or still_crossed:
                del self.orders[order.order_id]
                del self.accounts[order.account][clid or order.order_id]
                if leaves or stop:  # STP decrement to zero still ends the order visibly
                    self.seq += 1
                    events.append(
                        _new(OrderExpired, (self.seq, ts, sym, order.order_id, clid,
                                            order.account, leaves, cum,
                                            stop or EndReason.PRICE_BAND))
                    )  # fmt: skip
                return None
        level = book.level_for_insert(side, new_price)
        level.append(order)
        self._level_event(events, ts, sym, side, level)
        return None

    def _mass_cancel(self, cmd: MassCancel, events: list) -> None:
        acct, sym, ts = cmd.account, cmd.instrument, cmd.ts
        if type(acct) is not int:
            return self._command_reject(events, ts, "MassCancel", Reason.INVALID_ACCOUNT)
        if sym is not None and (type(sym) is not str or sym not in self.books):
            return self._command_reject(events, ts, "MassCancel", Reason.UNKNOWN_INSTRUMENT)
        reason = cmd.reason
        if type(reason) is bool or not isinstance(reason, int) or reason not in END_REASONS:
            reason = EndReason.MASS_CANCEL
        acct_orders = self.accounts.get(acct, {})
        victims = [o for o in acct_orders.values() if sym is None or o.cmd.instrument == sym]
        victims.sort(key=lambda o: o.order_id)
        touched: dict[tuple[str, int, int], PriceLevel] = {}
        for order in victims:
            book = self.books[order.cmd.instrument]
            leaves = order.leaves
            level = self._remove_resting(book, order)
            touched[(book.symbol, order.side, order.price)] = level
            self.seq += 1
            events.append(
                _new(OrderCanceled, (self.seq, ts, book.symbol, order.order_id,
                                     order.cmd.client_order_id, acct, leaves, order.cum, reason))
            )  # fmt: skip
        for (s, side, _), level in touched.items():
            self._level_event(events, ts, s, side, level)
        self.seq += 1
        events.append(_new(MassCancelDone, (self.seq, ts, acct, sym, len(victims), reason)))
        return None

    # ------------------------------------------------------------------ time ---------
    def _advance_time(self, cmd: AdvanceTime, events: list) -> None:
        """Nothing beyond the expiry sweep that ``apply`` already ran."""

    def _expire_due(self, ts: int, events: list) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= ts:
            expire_ts, oid = heapq.heappop(expiries)
            order = self.orders.get(oid)
            if order is None or order.cmd.expire_ts != expire_ts or order.cmd.tif != _GTD:
                continue
            book = self.books[order.cmd.instrument]
            leaves = order.leaves
            level = self._remove_resting(book, order)
            self.seq += 1
            events.append(
                _new(OrderExpired, (self.seq, ts, book.symbol, oid, order.cmd.client_order_id,
                                    order.account, leaves, order.cum, EndReason.GTD_EXPIRED))
            )  # fmt: skip
            self._level_event(events, ts, book.symbol, order.side, level)

    # ------------------------------------------------------------------ instrument ---
    def _command_reject(self, events: list, ts: int, name: str, reason: Reason) -> None:
        self.seq += 1
        events.append(_new(CommandRejected, (self.seq, ts, name, reason, reason.text)))

    def _book_for(self, cmd: object, events: list) -> OrderBook | None:
        sym = cmd.instrument  # type: ignore[attr-defined]
        book = self.books.get(sym) if type(sym) is str else None
        if book is None:
            self._command_reject(
                events, cmd.ts, type(cmd).__name__, Reason.UNKNOWN_INSTRUMENT  # type: ignore[attr-defined]
            )
        return book

    def _status(self, book: OrderBook, ts: int, status: InstrumentStatus, why: str, events: list):
        book.status = status
        self.seq += 1
        events.append(
            _new(InstrumentStatusChanged, (self.seq, ts, book.symbol, status, str(why)))
        )

    def _halt(self, cmd: Halt, events: list) -> None:
        book = self._book_for(cmd, events)
        if book is not None:
            self._status(book, cmd.ts, _HALTED, cmd.reason, events)

    def _open_auction(self, cmd: OpenAuction, events: list) -> None:
        book = self._book_for(cmd, events)
        if book is not None:
            self._status(book, cmd.ts, _AUCTION, "call auction", events)

    def _resume(self, cmd: Resume, events: list) -> None:
        book = self._book_for(cmd, events)
        if book is None:
            return
        ref = cmd.reference_price
        if ref is not None and type(ref) is not int:
            return self._command_reject(events, cmd.ts, "Resume", Reason.INVALID_PRICE)
        if book.is_crossed():  # a call phase (maybe halted since) must uncross first
            if not self._uncross(book, cmd.ts, ref if ref is not None else book.last_price,
                                 events):  # fmt: skip
                return self._command_reject(events, cmd.ts, "Resume", Reason.BOOK_STILL_CROSSED)
        self._status(book, cmd.ts, _TRADING, "resume", events)
        return None

    def _uncross(self, book: OrderBook, ts: int, ref: int | None, events: list) -> bool:
        """Execute the call auction at one price; False if the book would stay crossed."""
        bb, ba = book.best_bid, book.best_ask
        assert bb is not None and ba is not None
        bids = [(p, lv.total) for p, lv in book.bids.items() if p >= ba.price]
        asks = [(p, lv.total) for p, lv in book.asks.items() if p <= bb.price]
        # the price is chosen inside the band, but only a price that clears the maximum
        # volume of the unbanded book may be used: anything less could leave the book
        # crossed, so then nothing trades and the call goes on
        unbanded = uncross_price(bids, asks, ref)
        low = None if book.band_low == NO_LOW else book.band_low
        high = None if book.band_high == NO_HIGH else book.band_high
        result = uncross_price(bids, asks, ref, low, high)
        if result is None or unbanded is None or result[1] < unbanded[1]:
            return False
        price, volume = result
        sym = book.symbol
        touched: dict[tuple[int, int], PriceLevel] = {}
        done = 0
        while done < volume:
            bl, al = book.best_bid, book.best_ask
            assert bl is not None and al is not None
            buy, sell = bl.head, al.head
            assert buy is not None and sell is not None
            q = min(buy.leaves, sell.leaves, volume - done)
            done += q
            for o, lv in ((buy, bl), (sell, al)):
                o.leaves -= q
                o.cum += q
                lv.total -= q
                touched[(o.side, lv.price)] = lv
            self.trade_id += 1
            self.seq += 1
            events.append(
                _new(Fill, (self.seq, ts, sym, self.trade_id, price, q, 0, buy.order_id,
                            buy.account, buy.cum, buy.leaves, sell.order_id, sell.account,
                            sell.cum, sell.leaves))
            )  # fmt: skip
            for o, lv in ((buy, bl), (sell, al)):
                if o.leaves == 0:
                    self._forget(o, lv)
                    if lv.count == 0:
                        book.remove_level(o.side, lv)
        for (side, _), lv in sorted(touched.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            self._level_event(events, ts, sym, side, lv)
        book.last_price = price
        self.seq += 1
        events.append(_new(AuctionUncrossed, (self.seq, ts, sym, price, volume)))
        return not book.is_crossed()

    def _set_band(self, cmd: SetBand, events: list) -> None:
        book = self._book_for(cmd, events)
        if book is None:
            return
        low, high = cmd.low, cmd.high
        for v in (low, high):
            if v is not None and (type(v) is not int or v <= 0):
                return self._command_reject(events, cmd.ts, "SetBand", Reason.INVALID_BAND)
        if low is not None and high is not None and low > high:
            return self._command_reject(events, cmd.ts, "SetBand", Reason.INVALID_BAND)
        book.band_low = NO_LOW if low is None else low
        book.band_high = NO_HIGH if high is None else high
        self.seq += 1
        events.append(_new(BandChanged, (self.seq, cmd.ts, book.symbol, low, high)))
        return None

    def _add_instrument(self, cmd: AddInstrument, events: list) -> None:
        inst = cmd.instrument
        if not isinstance(inst, Instrument) or inst.check() is not None:
            return self._command_reject(events, cmd.ts, "AddInstrument", Reason.INVALID_INSTRUMENT)
        if inst.symbol in self.books:
            return self._command_reject(events, cmd.ts, "AddInstrument", Reason.INSTRUMENT_EXISTS)
        self.books[inst.symbol] = OrderBook(inst)
        self.seq += 1
        events.append(_new(InstrumentAdded, (self.seq, cmd.ts, inst.symbol)))
        return None

    # ------------------------------------------------------------------ state --------
    def state_hash(self) -> str:
        """SHA-256 over ``export_state()``: everything that can change a future event."""
        return _state.state_hash(self)

    def export_state(self) -> dict:
        """The whole state as plain data for a snapshot (see ``matching.state``)."""
        return _state.export_state(self)

    @classmethod
    def from_state(cls, state: dict) -> MatchingEngine:
        """An engine restored from ``export_state()``: same hash, same future events."""
        return _state.from_state(cls, state)

    def validate(self) -> None:
        """Check every book and the cross-index invariants; raise AssertionError if broken."""
        resting = 0
        for book in self.books.values():
            book.validate()
            for side in (BUY, -BUY):
                for level in book.levels(side):
                    for o in level.orders():
                        resting += 1
                        assert self.orders.get(o.order_id) is o, "order missing from id index"
                        key = o.cmd.client_order_id or o.order_id
                        assert self.accounts[o.account].get(key) is o, "account index"
        assert resting == len(self.orders), "id index holds orders not in any book"
        assert resting == sum(len(d) for d in self.accounts.values()), "account index stale"

    def open_orders(self, account: int, instrument: str | None = None) -> list[Order]:
        return [
            o
            for o in self.accounts.get(account, {}).values()
            if instrument is None or o.cmd.instrument == instrument
        ]


