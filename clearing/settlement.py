"""Settlement: the matcher's event stream applied exactly once, in ``seq`` order.

Rules:

1. Every matcher event carries the matcher's gapless ``seq``. An event with
   ``seq <= last_fill_seq`` is a duplicate and is ignored. An event beyond
   ``last_fill_seq + 1`` is a gap: it is buffered, a ``SettlementGap`` goes out, and
   nothing more is applied (new orders and withdrawals are refused with
   ``SETTLEMENT_STOPPED``) until the missing events arrive; then the buffer drains in
   order and a ``SettlementResumed`` goes out.
2. A ``Fill`` moves, for each side: cash by ``-d·price·m`` (the buyer pays the seller)
   and the trading fee (taker rate for the taker, maker rate for the maker, the taker
   rate for both in an auction uncross, none on a liquidation order) into the fee pool;
   the position and its cost basis (``positions.apply_trade``); the order's leaves, its
   side aggregates and its hold (settled pro rata). Then both accounts are checked for
   liquidation, and resting reduce-only orders that now exceed the position are cancelled.
3. Cancels, expiries, rejects and self-trade decrements release the hold of what left
   the order; amends re-sync the order to the matcher's figures.
4. ``LevelChanged`` keeps the shadow book, ``InstrumentStatusChanged`` the status,
   ``BandChanged`` the band; each may move the mark, recomputed at the end of the batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing import liquidation
from clearing.events import (
    FillSettled,
    RequestRejected,
    SettlementAnomaly,
    SettlementGap,
    SettlementResumed,
)
from clearing.holds import RELEASED, SETTLED, change_leaves, forget
from clearing.instruments import trade_fee
from clearing.positions import Position, apply_trade
from matching.commands import CancelOrder
from matching.enums import CxlRejResponseTo, EndReason, InstrumentStatus, StpMode
from matching.events import (
    BandChanged,
    CancelRejected,
    Fill,
    InstrumentStatusChanged,
    LevelChanged,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    SelfTradePrevented,
)
from matching.reasons import Reason

if TYPE_CHECKING:
    from clearing.accounts import Account
    from clearing.commands import MatcherEvents
    from clearing.engine import ClearingEngine, InstrumentState
    from clearing.orders import Order

MAX_BUFFER = 1_000_000
_TRADING = int(InstrumentStatus.TRADING)
_DECREMENT = int(StpMode.DECREMENT)


def matcher_events(eng: ClearingEngine, cmd: MatcherEvents, out: list, ts: int) -> None:
    events = cmd.events
    if not isinstance(events, list | tuple):
        eng.count_reject(Reason.INVALID_REQUEST)
        out.append(RequestRejected(ts, None, "MatcherEvents", Reason.INVALID_REQUEST, 0, 0,
                                   "events must be a list"))  # fmt: skip
        return
    for ev in events:
        seq = getattr(ev, "seq", None)
        if type(seq) is not int:
            out.append(SettlementAnomaly(ts, -1, f"event without an int seq: {type(ev).__name__}"))
            continue
        last = eng.last_seq
        if seq <= last or seq in eng.pending:
            continue
        if seq != last + 1:
            if len(eng.pending) < MAX_BUFFER:
                eng.pending[seq] = ev
            if eng.gap_reported != last + 1:
                eng.gap_reported = last + 1
                out.append(SettlementGap(ts, last + 1, seq))
            continue
        _apply(eng, ev, out, ts)
        eng.last_seq = seq
        if eng.pending:
            _drain(eng, out, ts)


def _drain(eng: ClearingEngine, out: list, ts: int) -> None:
    pending = eng.pending
    while eng.last_seq + 1 in pending:
        ev = pending.pop(eng.last_seq + 1)
        _apply(eng, ev, out, ts)
        eng.last_seq += 1
    if not pending:
        eng.gap_reported = 0
        out.append(SettlementResumed(ts, eng.last_seq))
    elif eng.gap_reported != eng.last_seq + 1:
        eng.gap_reported = eng.last_seq + 1
        out.append(SettlementGap(ts, eng.last_seq + 1, min(pending)))


def _apply(eng: ClearingEngine, ev: object, out: list, ts: int) -> None:
    t = type(ev)
    if t is LevelChanged:
        inst = eng.instruments.get(ev.instrument)  # type: ignore[attr-defined]
        if inst is not None:
            inst.book.set_level(ev.side, ev.price, ev.qty)  # type: ignore[attr-defined]
            eng.touch(inst.symbol)
    elif t is Fill:
        settle_fill(eng, ev, out, ts)  # type: ignore[arg-type]
    elif t is OrderCanceled or t is OrderExpired or t is OrderRejected:
        order = eng.orders.get(ev.order_id)  # type: ignore[attr-defined]
        if order is not None:
            _order_done(eng, order, out, ts)
    elif t is OrderAmended:
        order = eng.orders.get(ev.order_id)  # type: ignore[attr-defined]
        if order is not None:
            inst = eng.instruments[order.symbol]
            change_leaves(eng, inst, order, ev.leaves_qty, RELEASED, ev.price)  # type: ignore[attr-defined]
            order.qty = ev.qty  # type: ignore[attr-defined]
            order.amend_prev = None
    elif t is CancelRejected:
        order = eng.orders.get(ev.order_id)  # type: ignore[attr-defined]
        if order is not None:
            if ev.response_to == CxlRejResponseTo.AMEND and order.amend_prev:  # type: ignore[attr-defined]
                price, qty = order.amend_prev
                inst = eng.instruments[order.symbol]
                change_leaves(eng, inst, order, qty - order.cum, RELEASED, price,
                              move_hold=False)  # fmt: skip
                order.qty = qty
                order.amend_prev = None
            else:
                order.cancel_pending = False
    elif t is SelfTradePrevented:
        if ev.mode == _DECREMENT:  # type: ignore[attr-defined]
            for oid in (ev.taker_order_id, ev.maker_order_id):  # type: ignore[attr-defined]
                order = eng.orders.get(oid)
                if order is not None:
                    inst = eng.instruments[order.symbol]
                    left = max(order.leaves - ev.qty, 0)  # type: ignore[attr-defined]
                    change_leaves(eng, inst, order, left, RELEASED)
                    order.qty -= ev.qty  # type: ignore[attr-defined]
                    if left == 0:
                        _order_done(eng, order, out, ts)
    elif t is InstrumentStatusChanged:
        inst = eng.instruments.get(ev.instrument)  # type: ignore[attr-defined]
        if inst is not None:
            inst.status = int(ev.status)  # type: ignore[attr-defined]
            eng.touch(inst.symbol)
            if inst.status == _TRADING:
                liquidation.retry_waiting(eng, ts, out)
    elif t is BandChanged:
        inst = eng.instruments.get(ev.instrument)  # type: ignore[attr-defined]
        if inst is not None:
            inst.band_low, inst.band_high = ev.low, ev.high  # type: ignore[attr-defined]


def _order_done(eng: ClearingEngine, order: Order, out: list, ts: int) -> None:
    inst = eng.instruments[order.symbol]
    remaining = order.leaves
    if remaining:
        change_leaves(eng, inst, order, 0, RELEASED)
    forget(eng, order)
    if order.liquidation:
        liquidation.on_order_done(eng, order, remaining, ts, out)


def settle_fill(eng: ClearingEngine, ev: Fill, out: list, ts: int) -> None:
    inst = eng.instruments.get(ev.instrument)
    taker = eng.accounts.get(ev.taker_account)
    maker = eng.accounts.get(ev.maker_account)
    if inst is None or taker is None or maker is None:
        out.append(SettlementAnomaly(ts, ev.seq, "fill for an unknown account or instrument"))
        return
    spec = inst.spec
    auction = ev.aggressor == 0
    tside = ev.aggressor if ev.aggressor else 1
    torder = eng.orders.get(ev.taker_order_id)
    morder = eng.orders.get(ev.maker_order_id)
    maker_fee = spec.taker_fee_ppm if auction else spec.maker_fee_ppm
    _settle_side(eng, inst, taker, tside, ev, torder, spec.taker_fee_ppm, ev.taker_leaves, out, ts)
    _settle_side(eng, inst, maker, -tside, ev, morder, maker_fee, ev.maker_leaves, out, ts)
    inst.marks.last_trade = ev.price
    eng.touch(inst.symbol)
    if eng.breakers is not None and inst.symbol in eng.breaker_symbols:
        eng.forward_breakers(eng.breakers.on_trade(inst.symbol, ts, ev.price), out)
    for acct in (taker, maker) if taker is not maker else (taker,):
        clip_reduce_only(eng, acct, inst, ts, out)
        liquidation.check_account(eng, acct, ts, out)


def _settle_side(eng: ClearingEngine, inst: InstrumentState, acct: Account, side: int, ev: Fill,
                 order: Order | None, fee_ppm: int, leaves: int, out: list, ts: int) -> None:
    q, price = ev.qty, ev.price
    liq = order is not None and order.liquidation
    if liq:
        fee_ppm = 0
    fee, realized = trade(eng, inst, acct, side * q, price, fee_ppm)
    if order is not None:
        order.cum += q
        change_leaves(eng, inst, order, leaves, SETTLED)
    L = inst.ledger
    r = L.row_of[acct.slot]
    A = eng.table
    out.append(FillSettled(ts, ev.seq, acct.id, inst.symbol,
                           order.order_id if order is not None else 0, side, q, price,
                           fee, realized, L.size[r], A.eq[acct.slot], A.mm[acct.slot]))  # fmt: skip
    if order is not None:
        if liq:
            liquidation.on_fill(eng, inst, acct, order, q, price, ts, out)
        if leaves == 0:
            _order_done(eng, order, out, ts)


def trade(eng: ClearingEngine, inst: InstrumentState, acct: Account, d: int, price: int,
          fee_ppm: int) -> tuple[int, int]:
    """Apply a trade of signed ``d`` at ``price`` to an account; return (fee, realised)."""
    L = inst.ledger
    r = L.row(acct.slot)
    sym = inst.symbol
    pos = acct.positions.get(sym)
    if pos is None:
        pos = Position(r, inst.funding.index if inst.funding is not None else 0)
        acct.positions[sym] = pos
    m = inst.mult
    size2, cost2, realized = apply_trade(L.size[r], L.cost[r], d, price, m)
    fee = trade_fee(abs(d) * price * m, fee_ppm) if fee_ppm else 0
    eng.add_cash(acct, -d * price * m - fee)
    eng.fee_pool[eng.settle] += fee
    if inst.opt is None:  # an option's value enters equity through its row (refresh_row)
        mark = inst.mark if inst.mark is not None else price
        eng.table.eq[acct.slot] += d * mark * m
    L.size[r] = size2
    L.cost[r] = cost2
    pos.realized_pnl += realized
    pos.fees_paid += fee
    eng.refresh_row(inst, r)
    return fee, realized


def clip_reduce_only(eng: ClearingEngine, acct: Account, inst: InstrumentState, ts: int,
                     out: list) -> None:
    """Cancel the newest reduce-only orders that no longer fit the position."""
    if not acct.ro_leaves:
        return
    r = inst.ledger.row_of.get(acct.slot)
    s = inst.ledger.size[r] if r is not None else 0
    for side in (1, -1):
        if not acct.ro_leaves.get((inst.symbol, side)):
            continue
        allowed = abs(s) if s != 0 and (s > 0) != (side > 0) else 0
        live = sorted((o for o in acct.orders.values() if o.symbol == inst.symbol
                       and o.reduce_only and o.side == side and not o.cancel_pending
                       and not o.liquidation), key=lambda o: o.order_id)  # fmt: skip
        total = sum(o.leaves for o in live)
        while total > allowed and live:
            o = live.pop()
            o.cancel_pending = True
            total -= o.leaves
            out.append(CancelOrder(ts, o.symbol, o.order_id, acct.id, int(EndReason.REDUCE_ONLY)))
