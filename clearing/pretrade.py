"""Pre-trade admission: the check an order passes before it may reach the book.

Admission (risk.md §9.2, the issue's rule), for an order of ``qty`` at limit ``price``
(a market order: its protection price) on instrument i:

1. Shape and state: known account and instrument, sane fields, instrument trading and
   not expired, account not in liquidation, settlement not stopped, a mark exists, price
   inside the static band the breakers give around the mark (buys <= high, sells >= low).
2. Reduce-only: the position must be on the other side and
   ``qty + other resting reduce-only leaves on that side <= |position|``.
3. Position limit: ``(|s| + all leaves on the order's side) · max(price, mark) · m``
   must not exceed the instrument's ``max_position_notional``.
4. Margin: add the order to its side's aggregates (leaves, leaves·price and the fee at
   the worst rate, rounded up) and recompute that side's charge; the instrument's
   requirement becomes ``max(im, cb', cs')`` and the account's ``REQ' = REQ - req + req'``.
   Accept if ``E >= REQ'``. Otherwise, if the account is already below its requirement
   (``E < REQ``), consider the order filled completely at its limit (open loss and fee
   included: ``E' = E - max(0, open loss) - fee``) and accept it if that leaves the
   account at or above initial margin (``E' >= IM'``, the positions' IM after the fill),
   or else if it does not raise MM and does not lower E/MM (the risk-reducing rule).
   Else reject ``INSUFFICIENT_MARGIN`` with ``required = REQ'`` and ``available = E``.

On acceptance the hold ``max(0, req' - req)`` is reserved, an order id is assigned and
a ``matching.NewOrder`` goes out with an ``OrderAdmitted`` event.

Cost: the check reads the account's cached equity/requirement and its one ledger row
(plain ints from ``array('q')``), never the other positions: O(1) in their number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.commands import AmendRequest, CancelRequest, MassCancelRequest, OrderRequest
from clearing.events import AmendAdmitted, OrderAdmitted, PreTradeRejected, RequestRejected
from clearing.holds import RELEASED, change_leaves, release_part
from clearing.margin import risk_reducing
from clearing.orders import Order
from matching.commands import AmendOrder, CancelOrder, MassCancel, NewOrder
from matching.enums import InstrumentStatus
from matching.instrument import MAX_PRICE
from matching.reasons import Reason

if TYPE_CHECKING:
    from clearing.engine import ClearingEngine, InstrumentState

_new = tuple.__new__
_TRADING = int(InstrumentStatus.TRADING)


def _reject(eng: ClearingEngine, out: list, ts: int, account: object, clid: object,
            reason: Reason, required: int = 0, available: int = 0, text: str = "") -> None:
    eng.count_reject(reason)
    out.append(_new(PreTradeRejected, (ts, account, clid, reason, required, available,
                                       text or reason.text)))  # fmt: skip


def _state_refusal(eng: ClearingEngine, inst: InstrumentState, aid: int, side: int, price: int,
                   halted: bool) -> tuple[Reason, int, int] | None:
    """What the market and account state refuse, for new orders and amends alike.

    Returns (reason, required, available) or None; with None the instrument has a mark.
    """
    if halted:
        return Reason.MARKET_HALTED, 0, 0
    if aid in eng.liquidations:
        return Reason.ACCOUNT_IN_LIQUIDATION, 0, 0
    if eng.pending:
        return Reason.SETTLEMENT_STOPPED, 0, 0
    mark = inst.mark
    if mark is None:
        return Reason.NO_MARK_PRICE, 0, 0
    sym = inst.symbol
    if eng.breakers is not None and sym in eng.breaker_symbols:
        low, high = eng.breakers.static_band(sym, mark)
        if side > 0 and price > high:
            return Reason.PRICE_OUTSIDE_STATIC_BAND, high, price
        if side < 0 and price < low:
            return Reason.PRICE_OUTSIDE_STATIC_BAND, low, price
    return None


def order_request(eng: ClearingEngine, cmd: OrderRequest, out: list, ts: int) -> None:
    (_, aid, sym, side, qty, price, otype, tif, clid, post_only, reduce_only, stp,
     expire_ts) = cmd  # fmt: skip
    acct = eng.accounts.get(aid) if type(aid) is int else None
    if acct is None:
        return _reject(eng, out, ts, aid, clid, Reason.UNKNOWN_ACCOUNT)
    inst = eng.instruments.get(sym) if type(sym) is str else None
    if inst is None:
        return _reject(eng, out, ts, aid, clid, Reason.UNKNOWN_CLEARING_INSTRUMENT)
    spec = inst.spec
    if (side != 1 and side != -1) or type(side) is not int:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST, text="side must be 1 or -1")
    if type(qty) is not int or qty <= 0 or qty > spec.max_qty:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST,
                       text=f"qty must be an integer in 1..{spec.max_qty}")
    if (otype != 1 and otype != 2) or type(otype) is not int:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST, text="bad order type")
    if type(price) is not int or price <= 0 or price > MAX_PRICE:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST,
                       text="price (a market order's protection price) must be a positive int")
    if type(post_only) is not bool or type(reduce_only) is not bool or type(clid) is not str:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST, text="bad flag")
    if inst.expired:
        return _reject(eng, out, ts, aid, clid, Reason.INSTRUMENT_EXPIRED)
    # eng.halted(inst) and _state_refusal, in line (the same checks in the same order)
    breakers = eng.breakers
    if inst.status != _TRADING or eng.market_halted:
        halted = True
    else:
        halted = breakers is not None and sym in eng.breaker_symbols and bool(
            breakers.is_halted(sym))
    if halted and not eng.in_call(inst, otype, tif):
        return _reject(eng, out, ts, aid, clid, Reason.MARKET_HALTED, 0, 0)
    if aid in eng.liquidations:
        return _reject(eng, out, ts, aid, clid, Reason.ACCOUNT_IN_LIQUIDATION, 0, 0)
    if eng.pending:
        return _reject(eng, out, ts, aid, clid, Reason.SETTLEMENT_STOPPED, 0, 0)
    mark = inst.mark
    if mark is None:
        return _reject(eng, out, ts, aid, clid, Reason.NO_MARK_PRICE, 0, 0)
    if breakers is not None and sym in eng.breaker_symbols:
        low, high = breakers.static_band(sym, mark)
        if side > 0 and price > high:
            return _reject(eng, out, ts, aid, clid, Reason.PRICE_OUTSIDE_STATIC_BAND, high, price)
        if side < 0 and price < low:
            return _reject(eng, out, ts, aid, clid, Reason.PRICE_OUTSIDE_STATIC_BAND, low, price)
    L = inst.ledger
    slot = acct.slot
    r = L.row_of.get(slot)
    if r is None:
        s = bq = bv = bf = sq = sv = sf = im = mm = cb = cs = req = 0
    else:
        s = L.size[r]
        bq, bv, bf, sq, sv, sf = L.bq[r], L.bv[r], L.bf[r], L.sq[r], L.sv[r], L.sf[r]
        im, mm, cb, cs, req = L.im[r], L.mm[r], L.cb[r], L.cs[r], L.req[r]
    if reduce_only:
        ro = acct.ro_leaves.get((sym, side), 0)
        if s == 0 or (s > 0) == (side > 0) or qty + ro > abs(s):
            return _reject(eng, out, ts, aid, clid, Reason.REDUCE_ONLY_WOULD_INCREASE,
                           qty + ro, 0 if s == 0 or (s > 0) == (side > 0) else abs(s))
    m = inst.mult
    side_qty = bq + qty if side > 0 else sq + qty
    worst = (abs(s) + side_qty) * (price if price > mark else mark) * m
    if worst > spec.max_position_notional:
        return _reject(eng, out, ts, aid, clid, Reason.POSITION_LIMIT_EXCEEDED,
                       worst, spec.max_position_notional)
    fee_ppm = inst.fee_post if post_only else inst.fee_any  # worst_fee_ppm(spec, post_only)
    fee_res = -((-qty * price * m * fee_ppm) // 1_000_000) if fee_ppm else 0
    A = eng.table
    E = A.eq[slot]
    opts = eng.options
    # an option, or any instrument of a portfolio account (clearing.options); in line:
    # opts.covers(inst, slot)
    pm = inst.pm_col is not None and slot in opts.pm_slots
    covered = pm or inst.opt is not None
    if covered:
        if opts.stale(inst, ts) and not (s and (s > 0) != (side > 0) and qty <= abs(s)):
            return _reject(eng, out, ts, aid, clid, Reason.NO_MARK_PRICE,
                           text="implied volatility feed is stale: only reducing orders")
        if pm:  # the cached scenario vectors; the row itself carries no charges
            ok, REQ2 = opts.admit_portfolio(inst, slot, s, side, qty, price, fee_res, bq, bv,
                                            bf, sq, sv, sf)  # fmt: skip
            cb = cs = req2 = 0
        if side > 0:
            bq, bv, bf = bq + qty, bv + qty * price, bf + fee_res
        else:
            sq, sv, sf = sq + qty, sv + qty * price, sf + fee_res
        if not pm:
            ok, REQ2, cb, cs, req2 = opts.admit(inst, slot, s, side, qty, price, fee_res,
                                                [bq, bv, bf, sq, sv, sf], (im, mm, cb, cs, req))
        if not ok:
            return _reject(eng, out, ts, aid, clid, Reason.INSUFFICIENT_MARGIN, REQ2, E)
    else:
        tiers = inst.im_charge
        if side > 0:
            bq += qty
            bv += qty * price
            bf += fee_res
            loss = bv - bq * mark
            cb = tiers(abs(s + bq) * mark * m) + (loss * m if loss > 0 else 0) + bf
        else:
            sq += qty
            sv += qty * price
            sf += fee_res
            loss = sq * mark - sv
            cs = tiers(abs(s - sq) * mark * m) + (loss * m if loss > 0 else 0) + sf
        req2 = im if im > cb else cb
        if cs > req2:
            req2 = cs
        REQ = A.req[slot]
        REQ2 = REQ - req + req2
        if E < REQ2:
            ok = False
            if E < REQ:
                after = abs(s + side * qty) * mark * m
                loss = (price - mark) * side * qty * m
                E2 = E - (loss if loss > 0 else 0) - fee_res
                im_after = A.im[slot] - im + tiers(after)
                ok = im_after <= E2 or risk_reducing(E, A.mm[slot], E2,
                                                     A.mm[slot] - mm + inst.mm_charge(after))
            if not ok:
                return _reject(eng, out, ts, aid, clid, Reason.INSUFFICIENT_MARGIN, REQ2, E)
    # -- accepted: from here on the state changes
    if r is None:
        r = L.row(slot)
    if side > 0:
        L.bq[r] = bq
        L.bv[r] = bv
        L.bf[r] = bf
        L.cb[r] = cb
    else:
        L.sq[r] = sq
        L.sv[r] = sv
        L.sf[r] = sf
        L.cs[r] = cs
    L.req[r] = req2
    REQ = A.req[slot]
    if pm:
        opts.commit_pm(slot)  # the portfolio's requirement now holds the order
    else:
        A.req[slot] = REQ2
    hold = REQ2 - REQ if REQ2 > REQ else 0
    oid = eng.next_order_id
    eng.next_order_id = oid + 1
    order = Order(oid, aid, sym, side, price, qty, hold, fee_ppm, fee_res, reduce_only, clid)
    eng.orders[oid] = order
    acct.orders[oid] = order
    acct.held += hold
    acct.placed += hold
    if reduce_only:
        acct.ro_leaves[(sym, side)] = acct.ro_leaves.get((sym, side), 0) + qty
    out.append(_new(NewOrder, (ts, sym, oid, aid, side, qty, price, otype, tif, clid, post_only,
                               reduce_only, stp, expire_ts)))  # fmt: skip
    out.append(_new(OrderAdmitted, (ts, aid, sym, oid, clid, side, qty, price, hold)))
    return None


def _owned(eng: ClearingEngine, cmd: CancelRequest | AmendRequest) -> tuple[Reason, str] | Order:
    acct = eng.accounts.get(cmd.account) if type(cmd.account) is int else None
    if acct is None:
        return Reason.UNKNOWN_ACCOUNT, ""
    if type(cmd.instrument) is not str or cmd.instrument not in eng.instruments:
        return Reason.UNKNOWN_CLEARING_INSTRUMENT, ""
    order = acct.orders.get(cmd.order_id) if type(cmd.order_id) is int else None
    if order is None or order.symbol != cmd.instrument or order.liquidation:
        return Reason.UNKNOWN_CLEARING_ORDER, ""
    return order


def cancel_request(eng: ClearingEngine, cmd: CancelRequest, out: list, ts: int) -> None:
    found = _owned(eng, cmd)
    if not isinstance(found, Order):
        eng.count_reject(found[0])
        out.append(RequestRejected(ts, cmd.account, "CancelRequest", found[0], 0, 0,
                                   found[0].text))  # fmt: skip
        return
    out.append(CancelOrder(ts, found.symbol, found.order_id, found.account))


def mass_cancel_request(eng: ClearingEngine, cmd: MassCancelRequest, out: list, ts: int) -> None:
    if type(cmd.account) is not int or cmd.account not in eng.accounts:
        reason = Reason.UNKNOWN_ACCOUNT
    elif cmd.instrument is not None and (
        type(cmd.instrument) is not str or cmd.instrument not in eng.instruments
    ):
        reason = Reason.UNKNOWN_CLEARING_INSTRUMENT
    else:
        out.append(MassCancel(ts, cmd.account, cmd.instrument))
        return
    eng.count_reject(reason)
    out.append(RequestRejected(ts, cmd.account, "MassCancelRequest", reason, 0, 0, reason.text))


def amend_request(eng: ClearingEngine, cmd: AmendRequest, out: list, ts: int) -> None:
    found = _owned(eng, cmd)
    aid = cmd.account
    if not isinstance(found, Order):
        return _reject(eng, out, ts, aid, cmd.order_id, found[0])
    order = found
    clid = order.client_order_id
    inst = eng.instruments[order.symbol]
    price = order.price if cmd.price is None else cmd.price
    qty = order.qty if cmd.qty is None else cmd.qty
    if type(price) is not int or price <= 0 or price > MAX_PRICE:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST, text="bad price")
    if type(qty) is not int or qty <= order.cum or qty > inst.spec.max_qty:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST, text="bad quantity")
    if order.cancel_pending or order.amend_prev is not None:
        return _reject(eng, out, ts, aid, clid, Reason.INVALID_REQUEST,
                       text="order has a cancel or amend in flight")
    side = order.side
    refused = _state_refusal(eng, inst, aid, side, price, eng.halted(inst))
    if refused is not None:
        return _reject(eng, out, ts, aid, clid, *refused)
    mark = inst.mark
    acct = eng.accounts[aid]
    L = inst.ledger
    slot = acct.slot
    r = L.row_of[slot]
    s = L.size[r]
    leaves = qty - order.cum
    if order.reduce_only:
        ro = acct.ro_leaves.get((order.symbol, side), 0) - order.leaves
        if leaves + ro > abs(s) or s == 0 or (s > 0) == (side > 0):
            return _reject(eng, out, ts, aid, clid, Reason.REDUCE_ONLY_WOULD_INCREASE,
                           leaves + ro, abs(s))
    A = eng.table
    E, REQ, MM = A.eq[slot], A.req[slot], A.mm[slot]
    req_before = L.req[r]
    prev = (order.price, order.qty, order.leaves, order.fee_res)
    # try the new values, measure, and undo if refused
    change_leaves(eng, inst, order, leaves, RELEASED, price, move_hold=False)
    REQ2 = A.req[slot]
    ok = E >= REQ2
    if not ok and E < REQ and inst.pm_col is not None and eng.options.covers(inst, slot):
        ok = REQ2 <= REQ  # options / portfolio: an amend that does not raise the requirement
    elif not ok and E < REQ:
        after = abs(s + side * leaves) * mark * inst.mult
        loss = (price - mark) * side * leaves * inst.mult
        E2 = E - (loss if loss > 0 else 0) - order.fee_res
        im_after = A.im[slot] - L.im[r] + inst.im_tiers(after)
        ok = im_after <= E2 or risk_reducing(E, MM, E2, MM - L.mm[r] + inst.mm_tiers(after))
    if not ok:
        change_leaves(eng, inst, order, prev[2], RELEASED, prev[0], move_hold=False)
        return _reject(eng, out, ts, aid, clid, Reason.INSUFFICIENT_MARGIN, REQ2, E)
    release_part(acct, order, prev[2], leaves, RELEASED)
    hold = L.req[r] - req_before
    if hold > 0:
        order.hold += hold
        acct.held += hold
        acct.placed += hold
    else:
        hold = 0
    order.qty = qty
    order.amend_prev = (prev[0], prev[1])
    out.append(AmendOrder(ts, order.symbol, order.order_id, aid, price, qty))
    out.append(AmendAdmitted(ts, aid, order.symbol, order.order_id, price, qty, hold))
    return None
