"""Liquidation of an account that holds options (the ladder of issue 10).

Used instead of the futures ladder (``clearing.liquidation``) for an account that holds
an option or is portfolio-margined. The trigger, the margin call and the cancellation of
the account's orders are the common ones (``check_account``, ``start``). Then, one step
at a time until ``E >= MM`` or nothing is left, each step an event with its figures:

1. **Delta** (``LiquidationHedge``), once per underlying and liquidation: an IOC on the
   underlying's perpetual for ``round(-net_delta / (P·m))`` lots, limit ``P ± band·P``
   (``liquidation_band_ppm`` of the chain), where ``net_delta`` is the account's money
   delta for a 100 % move (options ``q·δ·F·m``, linear ``q·P·m``).
2. **Worst scenario** (``LiquidationOptionClose``): the account's scenario losses (the
   portfolio tables of the last revaluation) give the worst weighted scenario; the option
   position that loses most in it is closed by a reduce-only IOC with limit
   ``mark ± band·F`` (rounded to the tick against the account). A position with no
   positive contribution left is taken by largest liability.
3. **Insurance takeover** (``InsuranceTakeover``): what the book did not take is
   transferred at the mark to the insurance account (id ``INSURANCE_ACCOUNT``), funded
   from the insurance fund with the premium it pays plus the standard margin of what it
   takes; if the fund cannot pay that, **ADL** (``AutoDeleveraged``) closes the rest
   against opposing holders at the mark, ranked as in the futures ladder.
4. Positions left in perpetuals/futures go through the futures ladder's step.

Ladder orders pay no trading fee and no liquidation fee (the band is the cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.events import InsuranceTakeover, LiquidationHedge, LiquidationOptionClose
from clearing.intmath import PPM, round_down_to, round_up_to
from clearing.options.scenarios import weighted_max
from clearing.orders import Order
from matching.commands import NewOrder
from matching.enums import OrdType, StpMode, TimeInForce

if TYPE_CHECKING:
    from clearing.accounts import Account
    from clearing.engine import ClearingEngine, InstrumentState
    from clearing.liquidation import LiqState
    from clearing.options.portfolio import Tables

INSURANCE_ACCOUNT = (1 << 63) - 1
"""The account the insurance fund holds taken-over positions in (refused to clients)."""


def applies(eng: ClearingEngine, acct: Account) -> bool:
    opts = eng.options
    if opts is None:
        return False
    if acct.slot in opts.pm_slots:
        return True
    for sym in acct.positions:
        inst = eng.instruments[sym]
        if inst.opt is not None and inst.ledger.size[inst.ledger.row_of[acct.slot]]:
            return True
    return False


def _held(eng: ClearingEngine, acct: Account) -> list[tuple[InstrumentState, int]]:
    out = []
    for sym in sorted(acct.positions):
        inst = eng.instruments[sym]
        r = inst.ledger.row_of[acct.slot]
        if inst.ledger.size[r]:
            out.append((inst, r))
    return out


def _tables(eng: ClearingEngine) -> Tables:
    opts = eng.options
    if opts.cache.tables is None:
        opts.cache.tables = opts.tables()
    return opts.cache.tables


def advance(eng: ClearingEngine, st: LiqState, ts: int, out: list) -> None:
    """The next step of the options ladder (or the end)."""
    from clearing import liquidation

    acct = eng.accounts[st.account]
    A, slot = eng.table, acct.slot
    opts = eng.options
    for _ in range(10_000):
        if st.order_id is not None:
            return
        held = _held(eng, acct)
        if not held:
            return liquidation.finish(eng, st, ts, out, "closed")
        if A.eq[slot] >= A.mm[slot]:
            return liquidation.finish(eng, st, ts, out, "recovered")
        t = _tables(eng)
        # 1. delta, once per underlying
        done = opts.liq_hedged.setdefault(acct.id, [])
        for name, book in opts.books.items():
            if name in done:
                continue
            if not any(i.opt is not None and i.opt[0] is book for i, _ in held):
                continue
            done.append(name)
            if _hedge(eng, st, acct, book, held, t, ts, out):
                return
        # 2. the option that loses most in the worst scenario
        options = [(i, r) for i, r in held if i.opt is not None and not i.expired]
        if not options:
            linear = [(i, r) for i, r in held if not eng.halted(i)]
            if not linear:
                st.waiting = True
                return
            st.waiting = False
            inst, r = linear[0]
            if liquidation._step(eng, st, acct, inst, r, ts, out):
                return
            continue
        open_ = [(i, r) for i, r in options if not eng.halted(i)]
        if not open_:
            st.waiting = True
            return
        st.waiting = False
        inst, r, scen, contrib = _worst(eng, acct, open_, held, t)
        if _close(eng, st, acct, inst, r, scen, contrib, ts, out):
            return
    return


def _hedge(eng: ClearingEngine, st: LiqState, acct: Account, book: object, held: list,
           t: object, ts: int, out: list) -> bool:
    perps = [i for i in book.linear if i.spec.kind == "perpetual" and not eng.halted(i)]  # type: ignore[attr-defined]
    if not perps or not perps[0].mark:
        return False
    hedge = perps[0]
    net = 0
    for inst, r in held:
        if inst.pm_col is not None and t.ul[inst.pm_col] == book.u:  # type: ignore[attr-defined]
            net += inst.ledger.size[r] * t.dl[inst.pm_col]  # type: ignore[attr-defined]
    per_lot = hedge.mark * hedge.mult
    lots = -((2 * net + per_lot) // (2 * per_lot))  # round(-net / per_lot)
    lots = min(abs(lots), hedge.spec.max_qty) * (1 if lots > 0 else -1) if lots else 0
    lots -= lots % hedge.spec.lot_size if lots > 0 else -((-lots) % hedge.spec.lot_size)
    if lots == 0 or abs(lots) < hedge.spec.min_qty:
        return False
    side = 1 if lots > 0 else -1
    band = hedge.mark * book.chain.liquidation_band_ppm // PPM  # type: ignore[attr-defined]
    tick = hedge.spec.tick_size
    limit = (round_down_to(hedge.mark + band, tick) if side > 0
             else max(round_up_to(hedge.mark - band, tick), tick))  # fmt: skip
    if hedge.book.liquidity(-side, limit) == 0:
        return False
    oid = _place(eng, st, acct, hedge, side, abs(lots), limit, False, ts, out)
    out.append(LiquidationHedge(ts, acct.id, hedge.symbol, oid, side, abs(lots), limit, net))
    return True


def _worst(eng: ClearingEngine, acct: Account, options: list, held: list, t: object
           ) -> tuple[InstrumentState, int, int, int]:
    """The option losing most in the account's worst weighted scenario."""
    S = eng.options.scan.n
    weights = eng.options.scan.weights
    losses: dict[int, list[int]] = {}
    for inst, r in held:
        if inst.pm_col is None:
            continue
        q = inst.ledger.size[r]
        vec = t.ll[inst.pm_col] if q > 0 else t.ls[inst.pm_col]  # type: ignore[attr-defined]
        u = t.ul[inst.pm_col]  # type: ignore[attr-defined]
        acc = losses.setdefault(u, [0] * S)
        for k in range(S):
            acc[k] += abs(q) * vec[k]
    best = (-1, -1, -1)
    for u, vec in sorted(losses.items()):
        v, at = weighted_max(vec, weights)
        if v > best[0]:
            best = (v, u, at)
    _, u, scen = best
    pick = None
    for inst, r in options:
        q = inst.ledger.size[r]
        col = inst.pm_col
        vec = t.ll[col] if q > 0 else t.ls[col]  # type: ignore[attr-defined]
        c = abs(q) * vec[scen] if scen >= 0 and t.ul[col] == u else 0  # type: ignore[attr-defined]
        book, i = inst.opt
        key = (c, abs(q) * book.hi[i], inst.symbol)
        if pick is None or key > pick[0]:
            pick = (key, inst, r, c)
    assert pick is not None
    return pick[1], pick[2], scen, pick[3]


def _close(eng: ClearingEngine, st: LiqState, acct: Account, inst: InstrumentState, r: int,
           scen: int, contrib: int, ts: int, out: list) -> bool:
    size = inst.ledger.size[r]
    qty = min(abs(size), inst.spec.max_qty)
    side = -1 if size > 0 else 1
    book, i = inst.opt
    band = int(book.F[i]) * book.chain.liquidation_band_ppm // PPM
    tick = inst.spec.tick_size
    mark = inst.mark or 0
    limit = (round_down_to(mark + band, tick) if side > 0
             else max(round_up_to(mark - band, tick), tick))  # fmt: skip
    if limit > 0 and qty >= inst.spec.min_qty and inst.book.liquidity(-side, limit) > 0:
        oid = _place(eng, st, acct, inst, side, qty, limit, True, ts, out)
        out.append(LiquidationOptionClose(ts, acct.id, inst.symbol, oid, side, qty, limit,
                                          scen, contrib))  # fmt: skip
        return True
    take_over(eng, acct, inst, r, qty, ts, out)
    return False


def _place(eng: ClearingEngine, st: LiqState, acct: Account, inst: InstrumentState, side: int,
           qty: int, limit: int, reduce_only: bool, ts: int, out: list) -> int:
    oid = eng.next_order_id
    eng.next_order_id = oid + 1
    clid = f"liq-{oid}"
    order = Order(oid, acct.id, inst.symbol, side, limit, qty, 0, 0, 0, reduce_only, clid,
                  liquidation=True, bankruptcy_price=0)  # fmt: skip
    eng.orders[oid] = order
    acct.orders[oid] = order
    st.order_id = oid
    eng.options.ladder_orders.add(oid)
    out.append(NewOrder(ts, inst.symbol, oid, acct.id, side, qty, limit, int(OrdType.LIMIT),
                        int(TimeInForce.IOC), clid, False, reduce_only,
                        int(StpMode.EXPIRE_MAKER), 0))  # fmt: skip
    return oid


def on_order_done(eng: ClearingEngine, order: Order, remaining: int, ts: int,
                  out: list) -> None:
    """A ladder order ended: an option's unfilled rest is taken over (or ADL); go on."""
    eng.options.ladder_orders.discard(order.order_id)
    st = eng.liquidations.get(order.account)
    if st is None or st.order_id != order.order_id:
        return
    st.order_id = None
    acct = eng.accounts[order.account]
    inst = eng.instruments[order.symbol]
    r = inst.ledger.row_of.get(acct.slot)  # None: a hedge that never filled, no row yet
    left = min(remaining, abs(inst.ledger.size[r])) if r is not None else 0
    if (inst.opt is not None and left and not eng.halted(inst)
            and eng.table.eq[acct.slot] < eng.table.mm[acct.slot]):
        take_over(eng, acct, inst, r, left, ts, out)
    advance(eng, st, ts, out)


def _insurance_account(eng: ClearingEngine) -> Account:
    acct = eng.accounts.get(INSURANCE_ACCOUNT)
    if acct is None:
        acct = eng.open(INSURANCE_ACCOUNT)
        if eng.options is not None and acct.slot in eng.options.pm_slots:
            eng.options.set_mode(acct.slot, "standard")
    return acct


def take_over(eng: ClearingEngine, acct: Account, inst: InstrumentState, r: int, qty: int,
              ts: int, out: list) -> None:
    """Move ``qty`` of the account's option position to the insurance account at the mark,
    funded by the insurance fund; ADL at the mark when the fund cannot carry it."""
    from clearing.settlement import clip_reduce_only, trade

    L = inst.ledger
    size = L.size[r]
    d = -qty if size > 0 else qty  # the account's side of the transfer
    price = inst.mark or 0
    book, i = inst.opt
    m = inst.mult
    # the fund buys a long (pays the premium) or takes a short (needs its margin)
    need = qty * price * m + qty * book.hi[i] if size > 0 else qty * book.short_im[i]
    settle = eng.settle
    if acct.id != INSURANCE_ACCOUNT and eng.insurance_fund[settle] >= need:
        fund = _insurance_account(eng)
        eng.insurance_fund[settle] -= need
        eng.add_cash(fund, need)
        trade(eng, inst, acct, d, price, 0)
        trade(eng, inst, fund, -d, price, 0)
        out.append(InsuranceTakeover(ts, acct.id, inst.symbol, qty, price, need))
        return
    _adl(eng, acct, inst, r, qty, price, ts, out)
    clip_reduce_only(eng, acct, inst, ts, out)


def _adl(eng: ClearingEngine, acct: Account, inst: InstrumentState, r: int, qty: int,
         price: int, ts: int, out: list) -> None:
    from clearing.events import AutoDeleveraged
    from clearing.settlement import clip_reduce_only, trade

    L = inst.ledger
    size = L.size[r]
    A = eng.table
    ranked = []
    for row in range(L.n):
        s2 = L.size[row]
        if s2 == 0 or (s2 > 0) == (size > 0) or row == r:
            continue
        slot = L.slot[row]
        e = A.eq[slot]
        upnl = L.val[row] - L.cost[row]
        key = (upnl * abs(L.val[row]) * PPM) // (e * e) if e > 0 else None
        ranked.append((0 if key is not None else 1, -(key or 0), eng.by_slot[slot].id))
    ranked.sort()
    left = qty
    d = -1 if size > 0 else 1
    for _, _, cp_id in ranked:
        if left == 0:
            break
        cp = eng.accounts[cp_id]
        take = min(left, abs(L.size[L.row_of[cp.slot]]))
        trade(eng, inst, acct, d * take, price, 0)
        trade(eng, inst, cp, -d * take, price, 0)
        out.append(AutoDeleveraged(ts, inst.symbol, acct.id, cp_id, take, price))
        eng.counters["adl"] += 1
        left -= take
        clip_reduce_only(eng, cp, inst, ts, out)
