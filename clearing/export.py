"""The clearing state as a plain dict, its exact restoration, and the cache check.

``export_state`` (its layout in docs/snapshots.md, "File format") holds ints, strs,
bools, None, lists and dicts (int keys for account and order ids, str keys elsewhere),
nothing from numpy.
Each account entry (its Merkle leaf) holds balances, positions (size, cost, realised PnL,
fees, funding paid, funding index), its hold ledger and its resting orders' holds.
Everything else needed to continue exactly (orders, shadow books, mark smoothing,
funding samples, the gap buffer, liquidations, breaker state, row order) is under
``"engine"``.

``from_state`` rebuilds the structures and recomputes every cached figure (equity,
charges, side aggregates) from them; ``validate`` does the same recomputation on a live
engine and asserts it matches the incremental figures exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clearing.intmath import PPM
from clearing.margin import instrument_charges
from clearing.marks import MarkState
from clearing.orders import Order
from clearing.positions import COLUMNS, Ledger, Position
from clearing.shadowbook import ShadowBook
from matching import events as mev

if TYPE_CHECKING:
    from clearing.config import ClearingConfig
    from clearing.engine import ClearingEngine

VERSION = 1


def export_state(eng: ClearingEngine) -> dict:
    accounts: dict[int, Any] = {}
    for aid in sorted(eng.accounts):
        acct = eng.accounts[aid]
        positions = {}
        for sym in sorted(acct.positions):
            pos = acct.positions[sym]
            L = eng.instruments[sym].ledger
            positions[sym] = {
                "size": L.size[pos.row],
                "cost": L.cost[pos.row],
                "realized_pnl": pos.realized_pnl,
                "fees_paid": pos.fees_paid,
                "funding_paid": pos.funding_paid,
                "funding_index": pos.funding_index,
            }
        accounts[aid] = {
            "balances": {a: b for a, b in sorted(acct.balances.items())},
            "positions": positions,
            "holds": {
                "held": acct.held,
                "placed": acct.placed,
                "released": acct.released,
                "settled": acct.settled,
                "orders": {oid: acct.orders[oid].hold for oid in sorted(acct.orders)},
            },
        }
    instruments = {}
    for sym, inst in eng.instruments.items():
        instruments[sym] = {
            "status": inst.status,
            "expired": inst.expired,
            "band_low": inst.band_low,
            "band_high": inst.band_high,
            "top": list(inst.top),
            "book": inst.book.export(),
            "marks": inst.marks.export(),
            "funding": inst.funding.export() if inst.funding is not None else None,
            "expiry": inst.expiry.export() if inst.expiry is not None else None,
            "rows": [eng.by_slot[s].id for s in inst.ledger.slot],  # type: ignore[attr-defined]
        }
    pending = [[type(ev).__name__, *ev] for _, ev in sorted(eng.pending.items())]
    engine = {
        "started": eng.started,
        "next_order_id": eng.next_order_id,
        "orders": [eng.orders[oid].export() for oid in sorted(eng.orders)],
        "pending": pending,
        "gap_reported": eng.gap_reported,
        "instruments": instruments,
        "liquidations": [[st.account, st.order_id, st.waiting]
                         for _, st in sorted(eng.liquidations.items())],
        "margin_called": sorted(eng.margin_called),
        "market_halted": eng.market_halted,
        "counters": dict(sorted(eng.counters.items())),
        "reject_counts": dict(sorted(eng.reject_counts.items())),
        "slots": [a.id for a in eng.by_slot],
        "breakers": eng.breakers.export_state() if eng.breakers is not None else None,
        "options": eng.options.export() if eng.options is not None else None,
    }  # fmt: skip
    return {
        "version": VERSION,
        "ts": eng.ts,
        "last_fill_seq": eng.last_seq,
        "settlement_asset": eng.settle,
        "accounts": accounts,
        "fee_pool": dict(sorted(eng.fee_pool.items())),
        "insurance_fund": dict(sorted(eng.insurance_fund.items())),
        "deposits": dict(sorted(eng.deposits.items())),
        "withdrawals": dict(sorted(eng.withdrawals.items())),
        "marks": {s: i.mark for s, i in eng.instruments.items() if i.mark is not None},
        "index_prices": dict(sorted(eng.index_prices.items())),
        "funding_index": {s: i.funding.index for s, i in eng.instruments.items()
                          if i.funding is not None},
        "engine": engine,
    }


def from_state(cls: type[ClearingEngine], config: ClearingConfig, state: dict) -> ClearingEngine:
    from clearing import liquidation

    if state.get("version") != VERSION:
        raise ValueError(f"unsupported clearing state version {state.get('version')!r}")
    eng = cls(config, _empty=True)
    st = state["engine"]
    eng.ts = state["ts"]
    eng.started = st["started"]
    eng.last_seq = state["last_fill_seq"]
    eng.next_order_id = st["next_order_id"]
    eng.gap_reported = st["gap_reported"]
    eng.market_halted = st["market_halted"]
    eng.counters = dict(st["counters"])
    eng.reject_counts = dict(st["reject_counts"])
    eng.margin_called = set(st["margin_called"])
    for key in ("fee_pool", "insurance_fund", "deposits", "withdrawals"):
        getattr(eng, key).update(state[key])
    eng.index_prices = dict(state["index_prices"])
    accounts = state["accounts"]
    for aid in st["slots"]:
        a = accounts[aid]
        acct = eng.open(aid)
        acct.balances = dict(a["balances"])
        h = a["holds"]
        acct.held, acct.placed = h["held"], h["placed"]
        acct.released, acct.settled = h["released"], h["settled"]
        for asset, bal in acct.balances.items():
            if asset != eng.settle and bal:
                eng.coll_holders[asset].add(aid)
    for od in st["orders"]:
        o = Order.restore(od)
        eng.orders[o.order_id] = o
        eng.accounts[o.account].orders[o.order_id] = o
        if o.reduce_only:
            acct = eng.accounts[o.account]
            key = (o.symbol, o.side)
            acct.ro_leaves[key] = acct.ro_leaves.get(key, 0) + o.leaves
    for sym, d in st["instruments"].items():
        inst = eng.instruments[sym]
        inst.status = d["status"]
        inst.expired = d["expired"]
        inst.band_low, inst.band_high = d["band_low"], d["band_high"]
        inst.top = (d["top"][0], d["top"][1])
        inst.book = ShadowBook.restore(d["book"])
        inst.marks = MarkState.restore(d["marks"])
        inst.mark = inst.marks.mark
        if d["funding"] is not None and inst.funding is not None:
            inst.funding = type(inst.funding).restore(d["funding"])
        if d["expiry"] is not None and inst.expiry is not None:
            inst.expiry = type(inst.expiry).restore(d["expiry"])
        for aid in d["rows"]:
            inst.ledger.row(eng.accounts[aid].slot)
    for aid, a in accounts.items():
        acct = eng.accounts[aid]
        for sym, p in a["positions"].items():
            L = eng.instruments[sym].ledger
            r = L.row(acct.slot)
            L.size[r], L.cost[r] = p["size"], p["cost"]
            pos = Position(r, p["funding_index"])
            pos.realized_pnl, pos.fees_paid = p["realized_pnl"], p["fees_paid"]
            pos.funding_paid = p["funding_paid"]
            acct.positions[sym] = pos
    for name, *fields in st["pending"]:
        ev = getattr(mev, name)(*fields)
        eng.pending[ev.seq] = ev
    for aid, oid, waiting in st["liquidations"]:
        ls = liquidation.LiqState(aid)
        ls.order_id, ls.waiting = oid, waiting
        eng.liquidations[aid] = ls
    if eng.breakers is not None and st["breakers"] is not None:
        eng.breakers = type(eng.breakers).from_state(eng.breakers_configs, st["breakers"])
    if eng.options is not None and st.get("options") is not None:
        eng.options.restore(st["options"])
    recompute(eng, write=True)
    return eng


def recompute(eng: ClearingEngine, write: bool) -> list[str]:
    """Recompute every cached figure from first principles; write it or list mismatches."""
    problems: list[str] = []

    def put(arr: Any, i: int, value: int, what: str) -> None:
        if write:
            arr[i] = value
        elif arr[i] != value:
            problems.append(f"{what}[{i}]: cached {arr[i]} != recomputed {value}")

    A = eng.table
    eq = [0] * A.n
    im = [0] * A.n
    mm = [0] * A.n
    req = [0] * A.n
    for acct in eng.by_slot:
        coll = 0
        for asset, bal in acct.balances.items():
            if asset == eng.settle:
                eq[acct.slot] += bal
            elif bal:
                spec = eng.assets[asset]
                coll += spec.value(bal, eng.index_prices.get(spec.index or ""))
        if write:
            acct.coll_value = coll
        elif acct.coll_value != coll:
            problems.append(f"account {acct.id} collateral {acct.coll_value} != {coll}")
        eq[acct.slot] += coll
        held = sum(o.hold for o in acct.orders.values())
        if held != acct.held:
            problems.append(f"account {acct.id} held {acct.held} != sum of order holds {held}")
        if acct.placed != acct.released + acct.settled + acct.held:
            problems.append(f"account {acct.id} hold ledger does not balance")
        if any(o.hold < 0 for o in acct.orders.values()):
            problems.append(f"account {acct.id} has a negative hold")
    for inst in eng.instruments.values():
        L = inst.ledger
        agg = {r: [0] * 6 for r in range(L.n)}
        for o in eng.orders.values():
            if o.symbol != inst.symbol or o.liquidation:
                continue
            r = L.row_of[eng.accounts[o.account].slot]
            base = 0 if o.side > 0 else 3
            agg[r][base] += o.leaves
            agg[r][base + 1] += o.leaves * o.price
            agg[r][base + 2] += o.fee_res
            fee = -((-o.leaves * o.price * inst.mult * o.fee_ppm) // PPM) if o.fee_ppm else 0
            if fee != o.fee_res:
                problems.append(f"order {o.order_id} fee reserve {o.fee_res} != {fee}")
        mark = inst.mark or 0
        opts = eng.options
        for r in range(L.n):
            for col, value in zip(("bq", "bv", "bf", "sq", "sv", "sf"), agg[r]):
                put(getattr(L, col), r, value, f"{inst.symbol}.{col}")
            slot = L.slot[r]
            if inst.pm_col is not None and opts.covers(inst, slot):
                *charges, value = opts.row_figures(inst, slot, L.size[r], agg[r])
                if inst.opt is not None:
                    put(L.val, r, value, f"{inst.symbol}.val")
            else:
                charges = instrument_charges(inst.im_tiers, inst.mm_tiers, mark, inst.mult,
                                             L.size[r], *agg[r])  # fmt: skip
                value = L.size[r] * mark * inst.mult
            for col, value_ in zip(("im", "mm", "cb", "cs", "req"), charges):
                put(getattr(L, col), r, value_, f"{inst.symbol}.{col}")
            eq[slot] += value
            im[slot] += charges[0]
            mm[slot] += charges[1]
            req[slot] += charges[4]
    if eng.options is not None:  # portfolio accounts: their figures on top of the rows
        pm = eng.options.recompute_pm()
        applied = eng.options.applied
        for s in range(A.n):
            if write:
                applied[s] = pm[s]
            elif applied[s].tolist() != pm[s].tolist():
                problems.append(f"slot {s} portfolio figures {applied[s]} != {pm[s]}")
            im[s] += int(pm[s, 0])
            mm[s] += int(pm[s, 1])
            req[s] += int(pm[s, 2])
    for s in range(A.n):
        req_s = req[s]
        put(A.eq, s, eq[s], "equity")
        put(A.im, s, im[s], "im")
        put(A.mm, s, mm[s], "mm")
        put(A.req, s, req_s, "req")
    for asset in eng.assets:
        total = sum(a.balances.get(asset, 0) for a in eng.by_slot)
        ledger = total + eng.fee_pool[asset] + eng.insurance_fund[asset]
        if ledger != eng.deposits[asset] - eng.withdrawals[asset]:
            problems.append(f"conservation broken for {asset}")
    return problems


def validate(eng: ClearingEngine) -> None:
    problems = recompute(eng, write=False)
    assert not problems, "; ".join(problems[:10])


__all__ = ["COLUMNS", "Ledger", "export_state", "from_state", "recompute", "validate"]
