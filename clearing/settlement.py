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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
from clearing.intmath import PPM
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
_new = tuple.__new__
_TRADING = int(InstrumentStatus.TRADING)
_DECREMENT = int(StpMode.DECREMENT)


def matcher_events(eng: ClearingEngine, cmd: MatcherEvents, out: list, ts: int) -> None:
    events = cmd.events
    if not isinstance(events, list | tuple):
        eng.count_reject(Reason.INVALID_REQUEST)
        out.append(RequestRejected(ts, None, "MatcherEvents", Reason.INVALID_REQUEST, 0, 0,
                                   "events must be a list"))  # fmt: skip
        return
    pending = eng.pending
    for ev in events:
        try:  # getattr(ev, "seq", None)
            seq = ev.seq
        except AttributeError:
            seq = None
        if type(seq) is not int:
            out.append(SettlementAnomaly(ts, -1, f"event without an int seq: {type(ev).__name__}"))
            continue
        last = eng.last_seq
        if seq <= last or seq in pending:
            continue
        if seq != last + 1:
            if len(pending) < MAX_BUFFER:
                pending[seq] = ev
            if eng.gap_reported != last + 1:
                eng.gap_reported = last + 1
                out.append(SettlementGap(ts, last + 1, seq))
            continue
        handler = _HANDLERS.get(type(ev))
        if handler is not None:
            handler(eng, ev, out, ts)
        eng.last_seq = seq
        if pending:
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
    handler = _HANDLERS.get(type(ev))
    if handler is not None:  # other events (accepted orders, trades' prints) move nothing
        handler(eng, ev, out, ts)


def _level(eng: ClearingEngine, ev: LevelChanged, out: list, ts: int) -> None:
    inst = eng.instruments.get(ev.instrument)
    if inst is not None:
        inst.book.set_level(ev.side, ev.price, ev.qty)
        eng._touched.add(inst.symbol)


def _ended(eng: ClearingEngine, ev: OrderCanceled, out: list, ts: int) -> None:
    order = eng.orders.get(ev.order_id)
    if order is not None:
        _order_done(eng, order, out, ts)


def _amended(eng: ClearingEngine, ev: OrderAmended, out: list, ts: int) -> None:
    order = eng.orders.get(ev.order_id)
    if order is not None:
        inst = eng.instruments[order.symbol]
        change_leaves(eng, inst, order, ev.leaves_qty, RELEASED, ev.price)
        order.qty = ev.qty
        order.amend_prev = None


def _cancel_rejected(eng: ClearingEngine, ev: CancelRejected, out: list, ts: int) -> None:
    order = eng.orders.get(ev.order_id)
    if order is not None:
        if ev.response_to == CxlRejResponseTo.AMEND and order.amend_prev:
            price, qty = order.amend_prev
            inst = eng.instruments[order.symbol]
            change_leaves(eng, inst, order, qty - order.cum, RELEASED, price, move_hold=False)
            order.qty = qty
            order.amend_prev = None
        else:
            order.cancel_pending = False


def _self_trade(eng: ClearingEngine, ev: SelfTradePrevented, out: list, ts: int) -> None:
    if ev.mode == _DECREMENT:
        for oid in (ev.taker_order_id, ev.maker_order_id):
            order = eng.orders.get(oid)
            if order is not None:
                inst = eng.instruments[order.symbol]
                left = max(order.leaves - ev.qty, 0)
                change_leaves(eng, inst, order, left, RELEASED)
                order.qty -= ev.qty
                if left == 0:
                    _order_done(eng, order, out, ts)


def _status(eng: ClearingEngine, ev: InstrumentStatusChanged, out: list, ts: int) -> None:
    inst = eng.instruments.get(ev.instrument)
    if inst is not None:
        inst.status = int(ev.status)
        eng.touch(inst.symbol)
        if inst.status == _TRADING:
            liquidation.retry_waiting(eng, ts, out)


def _band(eng: ClearingEngine, ev: BandChanged, out: list, ts: int) -> None:
    inst = eng.instruments.get(ev.instrument)
    if inst is not None:
        inst.band_low, inst.band_high = ev.low, ev.high


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
    accounts = eng.accounts
    taker = accounts.get(ev.taker_account)
    maker = accounts.get(ev.maker_account)
    if inst is None or taker is None or maker is None:
        out.append(SettlementAnomaly(ts, ev.seq, "fill for an unknown account or instrument"))
        return
    spec = inst.spec
    aggressor = ev.aggressor
    tside = aggressor if aggressor else 1
    orders = eng.orders
    torder = orders.get(ev.taker_order_id)
    morder = orders.get(ev.maker_order_id)
    maker_fee = spec.taker_fee_ppm if aggressor == 0 else spec.maker_fee_ppm
    if inst.pm_col is None and inst.opt is None:  # futures: _settle_plain when it may
        if torder is None or torder.liquidation or torder.account != taker.id:
            _settle_side(eng, inst, taker, tside, ev, torder, spec.taker_fee_ppm,
                         ev.taker_leaves, out, ts)  # fmt: skip
        else:
            _settle_plain(eng, inst, taker, tside, ev, torder, spec.taker_fee_ppm,
                          ev.taker_leaves, out, ts)  # fmt: skip
        if morder is None or morder.liquidation or morder.account != maker.id:
            _settle_side(eng, inst, maker, -tside, ev, morder, maker_fee, ev.maker_leaves,
                         out, ts)  # fmt: skip
        else:
            _settle_plain(eng, inst, maker, -tside, ev, morder, maker_fee, ev.maker_leaves,
                          out, ts)  # fmt: skip
    else:
        _settle_side(eng, inst, taker, tside, ev, torder, spec.taker_fee_ppm, ev.taker_leaves,
                     out, ts)  # fmt: skip
        _settle_side(eng, inst, maker, -tside, ev, morder, maker_fee, ev.maker_leaves, out, ts)
    sym = inst.symbol
    inst.marks.last_trade = ev.price
    eng._touched.add(sym)
    if eng.breakers is not None and sym in eng.breaker_symbols:
        moved = eng.breakers.on_trade(sym, ts, ev.price)
        if moved:
            eng.forward_breakers(moved, out)
    A = eng.table
    ratio = eng.risk.margin_call_ratio_ppm
    for acct in (taker, maker) if taker is not maker else (taker,):
        if acct.ro_leaves:
            clip_reduce_only(eng, acct, inst, ts, out)
        # liquidation.check_account, whose only effect on a healthy account is to re-arm
        # its margin call
        slot = acct.slot
        E, MM = A.eq[slot], A.mm[slot]
        if E < MM or (MM > 0 and -((-MM * ratio) // PPM) > E):
            liquidation.check_account(eng, acct, ts, out)
        else:
            eng.margin_called.discard(acct.id)


def _settle_plain(eng: ClearingEngine, inst: InstrumentState, acct: Account, side: int,
                  ev: Fill, order: Order, fee_ppm: int, leaves: int, out: list,
                  ts: int) -> None:  # fmt: skip
    """``_settle_side`` for a futures fill of the account's own, ordinary order.

    The same steps in the same order (``trade``, then ``change_leaves`` with SETTLED, the
    report, the end of a filled order), with the row's charges recomputed once, after
    both the position and the order's leaves moved, instead of after each: nothing reads
    them in between, and ``refresh_row`` moves the account sums by the row's whole change.
    """
    q, price = ev.qty, ev.price
    L = inst.ledger
    slot = acct.slot
    r = L.row_of.get(slot)
    if r is None:
        r = L.row(slot)
    sym = inst.symbol
    pos = acct.positions.get(sym)
    if pos is None:
        pos = Position(r, inst.funding.index if inst.funding is not None else 0)
        acct.positions[sym] = pos
    m = inst.mult
    d = side * q
    size = L.size[r]
    value = d * price * m
    if d and (size == 0 or (size > 0) == (d > 0)):  # apply_trade, opening: no PnL realised
        size2, cost2, realized = size + d, L.cost[r] + value, 0
    else:
        size2, cost2, realized = apply_trade(size, L.cost[r], d, price, m)
    fee = 0
    if fee_ppm:  # trade_fee: a fee rounded up, a rebate down
        notional = (d if d >= 0 else -d) * price * m
        fee = -((-notional * fee_ppm) // PPM) if fee_ppm > 0 else -((notional * -fee_ppm) // PPM)
    settle = eng.settle
    cash = -value - fee
    acct.balances[settle] += cash
    A = eng.table
    mark = inst.mark
    A.eq[slot] += cash + d * (mark if mark is not None else price) * m
    eng.fee_pool[settle] += fee
    L.size[r] = size2
    L.cost[r] = cost2
    pos.realized_pnl += realized
    pos.fees_paid += fee
    # change_leaves(eng, inst, order, leaves, SETTLED)
    order.cum += q
    old = order.leaves
    oprice = order.price
    fee_new = 0
    if order.fee_ppm and leaves > 0:
        fee_new = -((-leaves * oprice * m * order.fee_ppm) // 1_000_000)
    if order.side > 0:
        L.bq[r] += leaves - old
        L.bv[r] += (leaves - old) * oprice
        L.bf[r] += fee_new - order.fee_res
    else:
        L.sq[r] += leaves - old
        L.sv[r] += (leaves - old) * oprice
        L.sf[r] += fee_new - order.fee_res
    order.fee_res = fee_new
    eng.refresh_row(inst, r)
    if order.reduce_only:
        key = (sym, order.side)
        ro = acct.ro_leaves.get(key, 0) + leaves - old
        if ro:
            acct.ro_leaves[key] = ro
        else:
            acct.ro_leaves.pop(key, None)
    order.leaves = leaves
    hold = order.hold
    if leaves < old and hold:
        part = hold if leaves == 0 else hold * (old - leaves) // old
        order.hold = hold - part
        acct.held -= part
        acct.settled += part
    out.append(_new(FillSettled, (ts, ev.seq, acct.id, sym, order.order_id, side, q, price, fee,
                                  realized, size2, A.eq[slot], A.mm[slot])))  # fmt: skip
    if leaves == 0:  # _order_done: nothing left to release, not a liquidation order
        oid = order.order_id
        eng.orders.pop(oid, None)
        acct.orders.pop(oid, None)


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


_HANDLERS: dict[type, Callable[[ClearingEngine, Any, list, int], None]] = {
    LevelChanged: _level,
    Fill: settle_fill,
    OrderCanceled: _ended,
    OrderExpired: _ended,
    OrderRejected: _ended,
    OrderAmended: _amended,
    CancelRejected: _cancel_rejected,
    SelfTradePrevented: _self_trade,
    InstrumentStatusChanged: _status,
    BandChanged: _band,
}
"""What each matcher event does to clearing's state (``_apply``)."""
