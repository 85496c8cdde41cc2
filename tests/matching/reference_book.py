"""A deliberately simple reference matcher, the oracle for the stateful engine tests.

Rules of this module: no cleverness. Every resting order sits in one plain list per
instrument; the book is re-sorted (price, then arrival stamp) every time it is looked at;
an FOK order is decided by trying the match on a copy of the book and keeping the copy
only if the order filled completely; the call auction scans every candidate price with
plain sums. It is slow on purpose, so that it is obviously right.

It speaks a *normalized* event vocabulary: plain tuples without sequence numbers, times
or texts (see ``normalize``), so that the engine's events can be compared with it one
for one. Price-level events are not modelled here; the stateful test checks them against
the engine's own book instead.

The semantics mirrored are the ones the issue and ``matching.engine`` specify:
price-time priority at the maker's price; the band stops a taker at the first maker
outside it; self-trade prevention decided by the taker's mode; FOK all-or-nothing;
amend keeps queue position only for a quantity decrease at the same price; mass cancel
in order-id order; GTD orders expire (in ``(expire_ts, order_id)`` order) before the
first command whose ``ts`` reaches their expiry; the reopening uncross maximises volume,
then minimises imbalance, then follows the surplus side, then the reference price.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from matching import (
    AdvanceTime,
    AmendOrder,
    AuctionUncrossed,
    BandChanged,
    CancelOrder,
    CancelRejected,
    CommandRejected,
    EndReason,
    Fill,
    Halt,
    Instrument,
    InstrumentStatus,
    InstrumentStatusChanged,
    LevelChanged,
    MassCancel,
    MassCancelDone,
    NewOrder,
    OpenAuction,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrdType,
    Reason,
    Resume,
    SelfTradePrevented,
    SetBand,
    StpMode,
    TimeInForce,
)
from matching.enums import CxlRejResponseTo

BUY, SELL = 1, -1
TRADING = int(InstrumentStatus.TRADING)
HALTED = int(InstrumentStatus.HALTED)
AUCTION = int(InstrumentStatus.AUCTION)

Outcome = tuple


def normalize(events: list) -> list[Outcome]:
    """The engine's events in the reference's vocabulary (LevelChanged dropped)."""
    out: list[Outcome] = []
    for e in events:
        t = type(e)
        if t is LevelChanged:
            continue
        if t is OrderAccepted:
            out.append(("accepted", e.order_id))
        elif t is OrderRejected:
            out.append(("rejected", e.order_id, int(e.reason)))
        elif t is Fill:
            out.append(
                ("fill", e.trade_id, e.price, e.qty, e.aggressor, e.taker_order_id,
                 e.taker_account, e.taker_cum, e.taker_leaves, e.maker_order_id,
                 e.maker_account, e.maker_cum, e.maker_leaves)
            )  # fmt: skip
        elif t is OrderCanceled:
            out.append(("canceled", e.order_id, e.canceled_qty, e.cum_qty, int(e.reason)))
        elif t is OrderExpired:
            out.append(("expired", e.order_id, e.expired_qty, e.cum_qty, int(e.reason)))
        elif t is OrderAmended:
            out.append(
                ("amended", e.order_id, e.price, e.qty, e.leaves_qty, e.cum_qty, e.kept_priority)
            )
        elif t is CancelRejected:
            out.append(("cancel_rejected", e.order_id, int(e.response_to), int(e.reason)))
        elif t is SelfTradePrevented:
            out.append(("stp", int(e.mode), e.account, e.taker_order_id, e.maker_order_id, e.qty))
        elif t is InstrumentStatusChanged:
            out.append(("status", e.instrument, int(e.status)))
        elif t is BandChanged:
            out.append(("band", e.instrument, e.low, e.high))
        elif t is AuctionUncrossed:
            out.append(("uncrossed", e.instrument, e.price, e.qty))
        elif t is MassCancelDone:
            out.append(("mass_canceled", e.account, e.instrument, e.canceled, int(e.reason)))
        elif t is CommandRejected:
            out.append(("command_rejected", e.command, int(e.reason)))
        else:
            out.append(("other", t.__name__))
    return out


@dataclass
class RefOrder:
    oid: int
    acct: int
    sym: str
    side: int
    price: int
    qty: int
    leaves: int
    cum: int
    clid: str
    tif: int
    stp: int
    post_only: bool
    expire_ts: int
    stamp: int


@dataclass
class RefBook:
    inst: Instrument
    status: int = TRADING
    low: int | None = None
    high: int | None = None
    last: int | None = None
    resting: list[RefOrder] = field(default_factory=list)

    def side(self, side: int) -> list[RefOrder]:
        """Resting orders of one side in priority order."""
        orders = [o for o in self.resting if o.side == side]
        if side == BUY:
            return sorted(orders, key=lambda o: (-o.price, o.stamp))
        return sorted(orders, key=lambda o: (o.price, o.stamp))

    def best(self, side: int) -> int | None:
        prices = [o.price for o in self.resting if o.side == side]
        if not prices:
            return None
        return max(prices) if side == BUY else min(prices)

    def crossed(self) -> bool:
        bid, ask = self.best(BUY), self.best(SELL)
        return bid is not None and ask is not None and bid >= ask

    def in_band(self, price: int) -> bool:
        return (self.low is None or price >= self.low) and (self.high is None or price <= self.high)

    def l3(self) -> dict[str, list[tuple[int, int, int, int]]]:
        return {
            "bids": [(o.oid, o.acct, o.price, o.leaves) for o in self.side(BUY)],
            "asks": [(o.oid, o.acct, o.price, o.leaves) for o in self.side(SELL)],
        }


def reference_uncross(
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    reference: int | None,
    low: int | None,
    high: int | None,
) -> tuple[int, int] | None:
    """The reopening price by plain scanning: (price, volume), or None if nothing trades.

    Candidates are the limit prices, the reference and the band edges, inside the band.
    """
    candidates = {p for p, _ in bids} | {p for p, _ in asks}
    candidates |= {x for x in (reference, low, high) if x is not None}
    rows = []
    for p in sorted(candidates):
        if (low is not None and p < low) or (high is not None and p > high):
            continue
        demand = sum(q for bp, q in bids if bp >= p)
        supply = sum(q for ap, q in asks if ap <= p)
        volume = min(demand, supply)
        if volume > 0:
            rows.append((p, volume, demand - supply))
    if not rows:
        return None
    top = max(v for _, v, _ in rows)
    rows = [r for r in rows if r[1] == top]
    least = min(abs(s) for _, _, s in rows)
    rows = [r for r in rows if abs(r[2]) == least]
    prices = [p for p, _, _ in rows]
    if len(rows) == 1:
        return prices[0], top
    if all(s > 0 for _, _, s in rows):
        return max(prices), top
    if all(s < 0 for _, _, s in rows):
        return min(prices), top
    if reference is None:
        return min(prices), top
    best = prices[0]
    for p in prices:
        if abs(p - reference) < abs(best - reference):
            best = p
    return best, top


class ReferenceEngine:
    """The same command vocabulary as ``MatchingEngine``, answered the slow, plain way."""

    def __init__(self, instruments: list[Instrument]) -> None:
        self.books = {i.symbol: RefBook(i) for i in instruments}
        self.trade_id = 0
        self.stamp = 0

    # -- lookups ---------------------------------------------------------------------
    def live(self) -> list[RefOrder]:
        return [o for b in self.books.values() for o in b.resting]

    def find(self, oid: object) -> RefOrder | None:
        for o in self.live():
            if type(oid) is int and o.oid == oid:
                return o
        return None

    def _next_stamp(self) -> int:
        self.stamp += 1
        return self.stamp

    # -- entry point -----------------------------------------------------------------
    def apply(self, cmd: object) -> list[Outcome]:
        out: list[Outcome] = []
        self._expire(cmd.ts, out)  # type: ignore[attr-defined]
        kind = type(cmd)
        if kind is NewOrder:
            self._new(cmd, out)
        elif kind is CancelOrder:
            self._cancel(cmd, out)
        elif kind is AmendOrder:
            self._amend(cmd, out)
        elif kind is MassCancel:
            self._mass_cancel(cmd, out)
        elif kind is Halt:
            self._set_status(cmd, HALTED, out)
        elif kind is OpenAuction:
            self._set_status(cmd, AUCTION, out)
        elif kind is Resume:
            self._resume(cmd, out)
        elif kind is SetBand:
            self._band(cmd, out)
        elif kind is AdvanceTime:
            pass
        else:
            raise NotImplementedError(kind)
        return out

    def _expire(self, ts: int, out: list[Outcome]) -> None:
        due = [o for o in self.live() if o.tif == TimeInForce.GTD and o.expire_ts <= ts]
        for o in sorted(due, key=lambda o: (o.expire_ts, o.oid)):
            self.books[o.sym].resting.remove(o)
            out.append(("expired", o.oid, o.leaves, o.cum, int(EndReason.GTD_EXPIRED)))

    # -- matching --------------------------------------------------------------------
    def _match(self, book: RefBook, taker: RefOrder, out: list[Outcome]) -> int:
        """Trade ``taker`` (not resting) against the book; return the stop reason or 0."""
        while taker.leaves > 0:
            makers = book.side(-taker.side)
            if not makers:
                return 0
            maker = makers[0]
            if taker.side == BUY and maker.price > taker.price:
                return 0
            if taker.side == SELL and maker.price < taker.price:
                return 0
            if not book.in_band(maker.price):
                return int(EndReason.PRICE_BAND)
            if maker.acct == taker.acct and taker.stp != StpMode.NONE:
                q = min(maker.leaves, taker.leaves)
                out.append(("stp", taker.stp, taker.acct, taker.oid, maker.oid, q))
                if taker.stp == StpMode.DECREMENT:
                    maker.leaves -= q
                    maker.qty -= q
                    taker.leaves -= q
                    taker.qty -= q
                    if maker.leaves == 0:
                        self._drop(book, maker, 0, out)
                    if taker.leaves == 0:
                        return int(EndReason.SELF_TRADE)
                    continue
                if taker.stp in (StpMode.EXPIRE_MAKER, StpMode.EXPIRE_BOTH):
                    self._drop(book, maker, maker.leaves, out)
                if taker.stp in (StpMode.EXPIRE_TAKER, StpMode.EXPIRE_BOTH):
                    return int(EndReason.SELF_TRADE)
                continue
            q = min(maker.leaves, taker.leaves)
            maker.leaves -= q
            maker.cum += q
            taker.leaves -= q
            taker.cum += q
            self.trade_id += 1
            book.last = maker.price
            out.append(
                ("fill", self.trade_id, maker.price, q, taker.side, taker.oid, taker.acct,
                 taker.cum, taker.leaves, maker.oid, maker.acct, maker.cum, maker.leaves)
            )  # fmt: skip
            if maker.leaves == 0:
                book.resting.remove(maker)
        return 0

    def _drop(self, book: RefBook, maker: RefOrder, expired_qty: int, out: list) -> None:
        book.resting.remove(maker)
        out.append(("expired", maker.oid, expired_qty, maker.cum, int(EndReason.SELF_TRADE)))

    def _would_cross(self, book: RefBook, side: int, price: int) -> bool:
        if book.status == AUCTION:
            return False
        opposite = book.best(-side)
        if opposite is None:
            return False
        return opposite <= price if side == BUY else opposite >= price

    def _fok_fills(self, book: RefBook, taker: RefOrder) -> bool:
        """Try the match on copies; True only if trades alone fill the whole order.

        Quantity taken away by STP decrement is not a fill: an FOK order that would need
        it is not filled completely, so it does not trade at all.
        """
        trial_book = copy.deepcopy(book)
        trial_taker = copy.deepcopy(taker)
        saved = self.trade_id
        self._match(trial_book, trial_taker, [])
        self.trade_id = saved
        return trial_taker.cum == taker.qty

    # -- commands --------------------------------------------------------------------
    def _new(self, cmd: NewOrder, out: list[Outcome]) -> None:
        def reject(reason: Reason) -> None:
            out.append(("rejected", cmd.order_id, int(reason)))

        book = self.books.get(cmd.instrument)
        if book is None:
            return reject(Reason.UNKNOWN_INSTRUMENT)
        inst = book.inst
        if cmd.qty <= 0:
            return reject(Reason.INVALID_QUANTITY)
        if cmd.qty % inst.lot_size:
            return reject(Reason.OFF_LOT_QUANTITY)
        if cmd.qty < inst.min_qty:
            return reject(Reason.QUANTITY_TOO_SMALL)
        if cmd.qty > inst.max_qty:
            return reject(Reason.QUANTITY_TOO_LARGE)
        if cmd.price is None or cmd.price <= 0:
            return reject(Reason.INVALID_PRICE)
        if cmd.price % inst.tick_size:
            return reject(Reason.OFF_TICK_PRICE)
        gtd = cmd.tif == TimeInForce.GTD
        if gtd and cmd.expire_ts <= cmd.ts:
            return reject(Reason.INVALID_EXPIRE_TIME)
        market = cmd.ord_type == OrdType.MARKET
        immediate = market or cmd.tif in (TimeInForce.IOC, TimeInForce.FOK)
        if book.status == HALTED:
            return reject(Reason.INSTRUMENT_HALTED)
        if book.status == AUCTION and immediate:
            return reject(Reason.NOT_ALLOWED_IN_AUCTION)
        if self.find(cmd.order_id) is not None:
            return reject(Reason.DUPLICATE_ORDER_ID)
        if cmd.client_order_id and any(
            o.acct == cmd.account and o.clid == cmd.client_order_id for o in self.live()
        ):
            return reject(Reason.DUPLICATE_CLIENT_ORDER_ID)
        if not market:
            if cmd.side == BUY and book.high is not None and cmd.price > book.high:
                return reject(Reason.PRICE_OUTSIDE_BAND)
            if cmd.side == SELL and book.low is not None and cmd.price < book.low:
                return reject(Reason.PRICE_OUTSIDE_BAND)
        crosses = self._would_cross(book, cmd.side, cmd.price)
        if cmd.post_only and crosses:
            return reject(Reason.POST_ONLY_WOULD_TAKE)

        out.append(("accepted", cmd.order_id))
        taker = RefOrder(
            cmd.order_id, cmd.account, cmd.instrument, cmd.side, cmd.price, cmd.qty, cmd.qty,
            0, cmd.client_order_id, cmd.tif, cmd.stp, cmd.post_only, cmd.expire_ts, 0,
        )  # fmt: skip
        fok = cmd.tif == TimeInForce.FOK
        if fok and not (crosses and self._fok_fills(book, taker)):
            out.append(("expired", taker.oid, taker.qty, 0, int(EndReason.FOK_NOT_FILLABLE)))
            return None
        stop = self._match(book, taker, out) if crosses else 0
        if stop:
            out.append(("expired", taker.oid, taker.leaves, taker.cum, stop))
            return None
        if taker.leaves == 0:
            return None
        if immediate:
            out.append(
                ("expired", taker.oid, taker.leaves, taker.cum, int(EndReason.IOC_REMAINDER))
            )
            return None
        taker.stamp = self._next_stamp()
        book.resting.append(taker)
        return None

    def _owned(self, cmd: CancelOrder | AmendOrder, to: int, out: list) -> RefOrder | None:
        def reject(reason: Reason) -> None:
            out.append(("cancel_rejected", cmd.order_id, to, int(reason)))

        if cmd.instrument not in self.books:
            return reject(Reason.UNKNOWN_INSTRUMENT)
        order = self.find(cmd.order_id)
        if order is None or order.sym != cmd.instrument:
            return reject(Reason.UNKNOWN_ORDER)
        if type(cmd.account) is not int or order.acct != cmd.account:
            return reject(Reason.NOT_ORDER_OWNER)
        return order

    def _cancel(self, cmd: CancelOrder, out: list[Outcome]) -> None:
        order = self._owned(cmd, int(CxlRejResponseTo.CANCEL), out)
        if order is None:
            return
        reason = cmd.reason if cmd.reason in set(EndReason) else int(EndReason.USER_CANCEL)
        self.books[order.sym].resting.remove(order)
        out.append(("canceled", order.oid, order.leaves, order.cum, int(reason)))

    def _amend(self, cmd: AmendOrder, out: list[Outcome]) -> None:
        to = int(CxlRejResponseTo.AMEND)
        order = self._owned(cmd, to, out)
        if order is None:
            return None

        def reject(reason: Reason) -> None:
            out.append(("cancel_rejected", cmd.order_id, to, int(reason)))

        book = self.books[order.sym]
        inst = book.inst
        price = order.price if cmd.price is None else cmd.price
        qty = order.qty if cmd.qty is None else cmd.qty
        if book.status == HALTED:
            return reject(Reason.INSTRUMENT_HALTED)
        if price <= 0:
            return reject(Reason.INVALID_PRICE)
        if price % inst.tick_size:
            return reject(Reason.OFF_TICK_PRICE)
        if qty <= 0:
            return reject(Reason.INVALID_QUANTITY)
        if qty % inst.lot_size:
            return reject(Reason.OFF_LOT_QUANTITY)
        if qty > inst.max_qty:
            return reject(Reason.QUANTITY_TOO_LARGE)
        if qty <= order.cum or (price == order.price and qty == order.qty):
            return reject(Reason.INVALID_AMEND)
        if order.side == BUY and book.high is not None and price > book.high:
            return reject(Reason.PRICE_OUTSIDE_BAND)
        if order.side == SELL and book.low is not None and price < book.low:
            return reject(Reason.PRICE_OUTSIDE_BAND)
        # the order's own level is on its own side, so it never counts for crossing
        crosses = self._would_cross(book, order.side, price)
        if crosses and order.post_only:
            return reject(Reason.POST_ONLY_WOULD_TAKE)
        if price == order.price and qty < order.qty:
            order.qty = qty
            order.leaves = qty - order.cum
            out.append(("amended", order.oid, price, qty, order.leaves, order.cum, True))
            return None
        book.resting.remove(order)
        order.price = price
        order.qty = qty
        order.leaves = qty - order.cum
        out.append(("amended", order.oid, price, qty, order.leaves, order.cum, False))
        stop = self._match(book, order, out) if crosses else 0
        if stop:
            out.append(("expired", order.oid, order.leaves, order.cum, stop))
            return None
        if order.leaves == 0:
            return None
        order.stamp = self._next_stamp()
        book.resting.append(order)
        return None

    def _mass_cancel(self, cmd: MassCancel, out: list[Outcome]) -> None:
        if cmd.instrument is not None and cmd.instrument not in self.books:
            out.append(("command_rejected", "MassCancel", int(Reason.UNKNOWN_INSTRUMENT)))
            return
        reason = cmd.reason if cmd.reason in set(EndReason) else int(EndReason.MASS_CANCEL)
        victims = [
            o for o in self.live() if o.acct == cmd.account and cmd.instrument in (None, o.sym)
        ]
        for o in sorted(victims, key=lambda o: o.oid):
            self.books[o.sym].resting.remove(o)
            out.append(("canceled", o.oid, o.leaves, o.cum, int(reason)))
        out.append(("mass_canceled", cmd.account, cmd.instrument, len(victims), int(reason)))

    def _set_status(self, cmd: Halt | OpenAuction, status: int, out: list[Outcome]) -> None:
        book = self.books.get(cmd.instrument)
        if book is None:
            out.append(("command_rejected", type(cmd).__name__, int(Reason.UNKNOWN_INSTRUMENT)))
            return
        book.status = status
        out.append(("status", cmd.instrument, status))

    def _band(self, cmd: SetBand, out: list[Outcome]) -> None:
        book = self.books.get(cmd.instrument)
        if book is None:
            out.append(("command_rejected", "SetBand", int(Reason.UNKNOWN_INSTRUMENT)))
            return
        bad = any(v is not None and v <= 0 for v in (cmd.low, cmd.high))
        if bad or (cmd.low is not None and cmd.high is not None and cmd.low > cmd.high):
            out.append(("command_rejected", "SetBand", int(Reason.INVALID_BAND)))
            return
        book.low, book.high = cmd.low, cmd.high
        out.append(("band", cmd.instrument, cmd.low, cmd.high))

    def _resume(self, cmd: Resume, out: list[Outcome]) -> None:
        book = self.books.get(cmd.instrument)
        if book is None:
            out.append(("command_rejected", "Resume", int(Reason.UNKNOWN_INSTRUMENT)))
            return
        if book.crossed():
            ref = cmd.reference_price if cmd.reference_price is not None else book.last
            if not self._uncross(book, ref, out):
                out.append(("command_rejected", "Resume", int(Reason.BOOK_STILL_CROSSED)))
                return
        book.status = TRADING
        out.append(("status", cmd.instrument, TRADING))

    def _uncross(self, book: RefBook, ref: int | None, out: list[Outcome]) -> bool:
        bids = [(o.price, o.leaves) for o in book.resting if o.side == BUY]
        asks = [(o.price, o.leaves) for o in book.resting if o.side == SELL]
        unbanded = reference_uncross(bids, asks, ref, None, None)
        result = reference_uncross(bids, asks, ref, book.low, book.high)
        if result is None or unbanded is None or result[1] < unbanded[1]:
            return False  # the band blocks a full uncross: nothing trades, the call goes on
        price, volume = result
        done = 0
        while done < volume:
            buy, sell = book.side(BUY)[0], book.side(SELL)[0]
            q = min(buy.leaves, sell.leaves, volume - done)
            done += q
            for o in (buy, sell):
                o.leaves -= q
                o.cum += q
            self.trade_id += 1
            out.append(
                ("fill", self.trade_id, price, q, 0, buy.oid, buy.acct, buy.cum, buy.leaves,
                 sell.oid, sell.acct, sell.cum, sell.leaves)
            )  # fmt: skip
            for o in (buy, sell):
                if o.leaves == 0:
                    book.resting.remove(o)
        book.last = price
        out.append(("uncrossed", book.inst.symbol, price, volume))
        return not book.crossed()
