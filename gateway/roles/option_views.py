"""Protocol records of the option interfaces, read from the clearing engine's state.

Pure functions of a ``ClearingEngine`` (read only) used by the clearing role and by
``gateway.roles.views``:

- ``instrument_fields``: what an ``instruments`` record adds for every instrument
  (``contract_size``), for futures (``expiry_ts``) and options (``underlying``,
  ``expiry_ts``, ``strike``, ``option_type``);
- ``position_fields``: a position's Greeks (decimal strings, quote currency) when an
  option chain covers its instrument;
- ``margin_fields``: the margin record's mode, what standard mode would require, and in
  portfolio mode SCAN, MinDelta and the worst scenario;
- ``option_chain`` / ``greeks``: the items of ``query_option_chain`` / ``query_greeks``.

Greeks and forwards are floats inside the kernel; on the wire they are exact decimal
strings of their first ``FLOAT_DIGITS`` significant digits (``gateway.protocol.
decimal_float``); IVs are ppm integers. Units: ``clearing.options.queries``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from clearing.instruments import FUTURE, OPTION
from clearing.options import queries
from gateway.protocol import decimal_float

_VOL = {1: "up", -1: "down", 0: "none"}


def _ppm(x: float) -> int | None:
    return None if not math.isfinite(x) or x < 0 else round(x * 1_000_000)


def _greeks(g: tuple[float, ...]) -> dict[str, str | None]:
    return {n: decimal_float(v) for n, v in zip(queries.GREEKS, g, strict=True)}


def instrument_fields(eng: Any, inst: Any) -> dict[str, Any]:
    spec = inst.spec
    out: dict[str, Any] = {"contract_size": f"{Decimal(spec.contract_size).normalize():f}"}
    if spec.kind == FUTURE and spec.expiry_ts is not None:
        out["expiry_ts"] = spec.expiry_ts
    elif spec.kind == OPTION and spec.option is not None:
        o = spec.option
        out.update(underlying=o.underlying, expiry_ts=o.expiry_ts, strike=o.strike,
                   option_type="call" if o.is_call else "put")  # fmt: skip
    return out


def position_fields(eng: Any, inst: Any, size: int) -> dict[str, Any]:
    g = queries.position_greeks(eng, inst, size) if size else None
    return {} if g is None else _greeks(g)


def margin_fields(eng: Any, account: int) -> dict[str, Any]:
    if eng.options is None:
        return {}
    risk = eng.options.account_risk(eng.accounts[account].slot)
    im, mm = queries.standard_requirements(eng, account)
    out: dict[str, Any] = {"margin_mode": risk["margin_mode"], "standard_initial_margin": im,
                           "standard_maintenance_margin": mm}  # fmt: skip
    if "scan" in risk:
        out.update(scan=risk["scan"], min_delta=risk["min_delta"])
    worst = risk.get("worst_scenario")
    if worst is not None:
        out.update(worst_underlying=worst["underlying"],
                   worst_spot_shock_ppm=worst["spot_shock_ppm"],
                   worst_vol_shock=_VOL.get(worst["vol"], "none"),
                   worst_weight_ppm=worst["weight_ppm"])  # fmt: skip
    return out


def option_chain(eng: Any, underlying: str | None, instrument: str | None) -> list[dict]:
    from gateway.roles.views import instrument_status

    opts = eng.options
    if opts is None:
        return []
    if instrument is not None:
        inst = eng.instruments.get(instrument)
        if inst is None or inst.opt is None:
            return []
        names = [inst.spec.option.underlying]
    else:
        names = sorted(opts.books) if underlying is None else [underlying]
    out = []
    for name in names:
        if name not in opts.books:
            continue
        for row, inst in zip(queries.chain(eng, name), opts.books[name].series, strict=True):
            if instrument is not None and inst.symbol != instrument:
                continue
            rec = {"symbol": inst.symbol, "underlying": name, "strike": row["strike"],
                   "expiry_ts": row["expiry_ts"], "option_type": row["type"],
                   "status": instrument_status(eng, inst), "expired": row["expired"],
                   "index": row["index"], "bid": row["bid"], "ask": row["ask"],
                   "stale_iv": row["stale_iv"], "ts": eng.ts}  # fmt: skip
            if "mark_iv" in row:
                rec.update(forward=decimal_float(row["forward"]), mark_price=inst.mark,
                           mark_iv_ppm=_ppm(row["mark_iv"]), bid_iv_ppm=_ppm(row["bid_iv"]),
                           ask_iv_ppm=_ppm(row["ask_iv"]),
                           **_greeks(tuple(row[n] for n in queries.GREEKS)))  # fmt: skip
            out.append(rec)
    return out


def greeks(eng: Any, account: int, underlying: str | None) -> list[dict]:
    out = []
    for name, sym, size, g in queries.account_greeks(eng, account):
        if underlying is not None and name != underlying:
            continue
        out.append({"underlying": name, "instrument": sym, "qty": size, **_greeks(g),
                    "ts": eng.ts})  # fmt: skip
    return out
