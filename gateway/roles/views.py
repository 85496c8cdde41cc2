"""Protocol records read from the clearing engine's state: positions, balances, margin,
instruments; and the ``query_reply`` / private-update messages built from them.

Pure functions of a ``ClearingEngine`` (read only, nothing is changed) used by the clearing
role to answer queries and to push ``position_update`` / ``balance_update`` /
``margin_update``. Definitions (docs/serve.md):

- position: ``qty`` the signed size, ``entry_price`` = cost / (qty · multiplier) as an exact
  decimal string, ``unrealized_pnl`` = qty · mark · multiplier - cost, the row's own initial
  and maintenance margin at the current mark; ``liquidation_price`` is not estimated (nil).
- balance of the settlement asset: ``total`` the cash balance, ``free`` =
  min(total, equity) - requirement (initial margin plus open-order holds), ``used`` =
  total - free; other assets (collateral): all free.
- margin: equity, initial and maintenance margin of the positions, ``free_collateral`` =
  equity - requirement, ``margin_ratio_ppm`` = ceil(maintenance · 10^6 / equity) (nil when
  equity <= 0).
- options (``gateway.roles.option_views``): instruments gain ``contract_size`` and, for an
  option, ``underlying``, ``expiry_ts``, ``strike``, ``option_type``; positions on an
  option chain's index their Greeks; the margin record the mode that produced it, what
  standard mode would require, and (portfolio mode) SCAN, MinDelta and the worst scenario.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.protocol import INSTRUMENT_STATUS_NAMES, PROTOCOL_VERSION, decimal_ratio
from gateway.roles import option_views
from matching.enums import InstrumentStatus

QUERY_CHUNK = 100
"""Records per ``query_reply`` frame: far below the 1024-item and 64 KiB limits."""

_TRADING = int(InstrumentStatus.TRADING)
_HALTED = "halted"


def position_record(eng: Any, account: int, symbol: str) -> dict | None:
    acct = eng.accounts.get(account)
    inst = eng.instruments.get(symbol)
    if acct is None or inst is None:
        return None
    pos = acct.positions.get(symbol)
    if pos is None:
        return None
    L = inst.ledger
    r = pos.row
    size, cost, mult = L.size[r], L.cost[r], inst.mult
    mark = inst.mark
    return {
        "instrument": symbol,
        "qty": size,
        "entry_price": decimal_ratio(cost, size * mult) if size else None,
        "mark_price": mark if mark else None,
        "unrealized_pnl": size * (mark or 0) * mult - cost,
        "realized_pnl": pos.realized_pnl,
        "initial_margin": max(L.im[r], 0),
        "maintenance_margin": max(L.mm[r], 0),
        "liquidation_price": None,
        "ts": eng.ts,
        **option_views.position_fields(eng, inst, size),
    }


def positions(eng: Any, account: int, instrument: str | None = None) -> list[dict]:
    acct = eng.accounts.get(account)
    if acct is None:
        return []
    out = []
    for sym in sorted(acct.positions):
        if instrument is not None and sym != instrument:
            continue
        rec = position_record(eng, account, sym)
        if rec is not None and rec["qty"] != 0:
            out.append(rec)
    return out


def balances(eng: Any, account: int, asset: str | None = None) -> list[dict]:
    acct = eng.accounts.get(account)
    if acct is None:
        return []
    A, s = eng.table, acct.slot
    out = []
    for name in sorted(acct.balances):
        if asset is not None and name != asset:
            continue
        total = acct.balances[name]
        if name == eng.settle:
            free = min(total, A.eq[s]) - A.req[s]
        else:
            free = total
        out.append({"asset": name, "total": total, "free": free, "used": total - free,
                    "ts": eng.ts})  # fmt: skip
    return out


def margin_ratio_ppm(maintenance: int, equity: int) -> int | None:
    if equity <= 0:
        return None
    return -((-maintenance * 1_000_000) // equity)


def margin(eng: Any, account: int) -> dict | None:
    acct = eng.accounts.get(account)
    if acct is None:
        return None
    A, s = eng.table, acct.slot
    eq, im, mm, req = A.eq[s], A.im[s], A.mm[s], A.req[s]
    return {
        "asset": eng.settle,
        "equity": eq,
        "initial_margin": max(im, 0),
        "maintenance_margin": max(mm, 0),
        "free_collateral": eq - req,
        "margin_ratio_ppm": margin_ratio_ppm(max(mm, 0), eq),
        "ts": eng.ts,
        **option_views.margin_fields(eng, account),
    }


def instrument_status(eng: Any, inst: Any) -> str:
    if inst.status == _TRADING and eng.halted(inst):
        return _HALTED
    return INSTRUMENT_STATUS_NAMES.get(inst.status, _HALTED)


def instruments(eng: Any, instrument: str | None = None) -> list[dict]:
    out = []
    for sym in sorted(eng.instruments):
        if instrument is not None and sym != instrument:
            continue
        inst = eng.instruments[sym]
        spec = inst.spec
        out.append({
            "symbol": sym,
            "kind": spec.kind,
            "tick_size": spec.tick_size,
            "lot_size": spec.lot_size,
            "min_qty": spec.min_qty,
            "max_qty": spec.max_qty,
            "price_decimals": spec.price_decimals,
            "qty_decimals": spec.qty_decimals,
            "status": instrument_status(eng, inst),
            "settlement_asset": eng.settle,
            **option_views.instrument_fields(eng, inst),
        })  # fmt: skip
    return out


def query_replies(query: str, items: Iterable[dict], ts: int, req_id: int | None) -> list[dict]:
    """One or more ``query_reply`` messages carrying ``items`` (``last`` on the final one)."""
    items = list(items)
    chunks = [items[i : i + QUERY_CHUNK] for i in range(0, len(items), QUERY_CHUNK)] or [[]]
    out = []
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        out.append({"v": PROTOCOL_VERSION, "type": "query_reply", "req_id": req_id,
                    "query": query, "items": chunk, "last": last, "ts": ts})  # fmt: skip
    return out


def update(kind: str, account: int, record: dict) -> dict:
    """A private update push (``position_update``, ...) from a record."""
    msg = {"v": PROTOCOL_VERSION, "type": kind, "account": account}
    msg.update(record)
    return msg
