"""Read-only option figures for the interfaces: chain rows, position Greeks, what-if margin.

Pure functions of a ``ClearingEngine`` (nothing is changed) used by the clearing role to
answer ``query_option_chain`` / ``query_greeks`` and to fill the margin record, and by
the core to hand the market-data publisher each revaluation (``ticker_rows``).

Units: prices, strikes and forwards in the chain's price units; Greeks per one unit of
underlying in **quote currency**, i.e. the kernel's price-unit figures scaled by the
chain's ``price_decimals`` (``d``): ``vega_q = vega·10^-d`` (per vol point), ``theta_q =
theta·10^-d`` (per day), ``gamma_q = gamma·10^d`` (per quote-currency move); delta has
no unit. A position's Greeks are those times its size in units of the underlying
(``q · contract_size``); a perpetual or future on a chain's index has delta ``q ·
contract_size`` and no other Greek.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from clearing.margin import instrument_charges
from clearing.options.implied import implied_vols
from clearing.options.rows import row_charges

GREEKS = ("delta", "gamma", "vega", "theta")


def quote_scale(price_decimals: int) -> np.ndarray:
    """Factors turning (delta, gamma, vega, theta) in price units into quote currency."""
    s = 10.0**price_decimals
    return np.array([1.0, s, 1.0 / s, 1.0 / s])


def _pd(book: Any) -> int:
    return book.series[0].spec.price_decimals if book.series else 0


def ticker_rows(eng: Any, underlying: str) -> list[list]:
    """Per series, for market data: ``[symbol, mark, mark_iv_ppm, forward, years, strike,
    is_call, delta, gamma, vega, theta, stale_iv]`` (Greeks in quote currency)."""
    book = eng.options.books[underlying]
    g = book.greeks
    if g is None:
        return []
    k = quote_scale(_pd(book))
    ts = eng.ts
    out = []
    for i, inst in enumerate(book.series):
        if inst.expired:
            continue
        o = inst.spec.option
        out.append([inst.symbol, inst.mark, round(float(book.iv[i]) * 1_000_000),
                    float(book.F[i]), float(book.T[i]), o.strike, o.is_call,
                    float(g.delta[i]) * k[0], float(g.gamma[i]) * k[1],
                    float(g.vega[i]) * k[2], float(g.theta[i]) * k[3],
                    book.surface.is_stale(o.expiry_ts, ts)])  # fmt: skip
    return out


def chain(eng: Any, underlying: str) -> list[dict]:
    """``ClearingEngine.option_chain`` rows with the index, the best bid and ask of
    clearing's book and their implied vols (NaN: none), Greeks in quote currency."""
    rows = eng.option_chain(underlying)
    book = eng.options.books[underlying]
    k = quote_scale(_pd(book))
    bids = np.array([i.book.best_bid or np.nan for i in book.series], dtype=np.float64)
    asks = np.array([i.book.best_ask or np.nan for i in book.series], dtype=np.float64)
    if book.greeks is not None:
        bid_iv = implied_vols(bids, book.F, book.K, book.T, book.is_call)
        ask_iv = implied_vols(asks, book.F, book.K, book.T, book.is_call)
    else:
        bid_iv = ask_iv = np.full(len(rows), np.nan)
    for i, (row, inst) in enumerate(zip(rows, book.series, strict=True)):
        row["underlying"] = underlying
        row["index"] = book.index if book.ts is not None else None
        row["bid"], row["ask"] = inst.book.best_bid, inst.book.best_ask
        row["bid_iv"], row["ask_iv"] = float(bid_iv[i]), float(ask_iv[i])
        row["halted"] = eng.halted(inst)
        for j, name in enumerate(GREEKS):
            if name in row:
                row[name] = row[name] * k[j]
    return rows


def position_greeks(eng: Any, inst: Any, size: int) -> tuple[float, ...] | None:
    """``(delta, gamma, vega, theta)`` of ``size`` lots of ``inst`` in quote currency, or
    None when no option chain covers the instrument (or its chain has no figures yet)."""
    opts = eng.options
    if opts is None or inst.pm_col is None:
        return None
    units = size * float(Decimal(inst.spec.contract_size))
    if inst.opt is None:
        return (units, 0.0, 0.0, 0.0)
    book, i = inst.opt
    g = book.greeks
    if g is None:
        return None
    k = quote_scale(_pd(book))
    return tuple(units * float(x[i]) * k[j]
                 for j, x in enumerate((g.delta, g.gamma, g.vega, g.theta)))  # fmt: skip


def account_greeks(eng: Any, account_id: int) -> list[tuple[str, str | None, int | None,
                                                              tuple[float, ...]]]:  # fmt: skip
    """``(underlying, symbol, size, greeks)`` per position on a chain's index, then
    ``(underlying, None, None, sums)`` per underlying."""
    opts = eng.options
    acct = eng.accounts.get(account_id)
    if opts is None or acct is None:
        return []
    out: list = []
    for name, book in opts.books.items():
        tot = [0.0, 0.0, 0.0, 0.0]
        for inst in (*book.series, *book.linear):
            r = inst.ledger.row_of.get(acct.slot)
            size = inst.ledger.size[r] if r is not None else 0
            if not size:
                continue
            g = position_greeks(eng, inst, size)
            if g is None:
                continue
            out.append((name, inst.symbol, size, g))
            for j in range(4):
                tot[j] += g[j]
        out.append((name, None, None, tuple(tot)))
    return out


def standard_requirements(eng: Any, account_id: int) -> tuple[int, int]:
    """IM and MM that standard mode would charge for the account's positions (resting
    orders aside): option rows per ``clearing.options.rows``, the rest by their tiers."""
    acct = eng.accounts[account_id]
    im = mm = 0
    for sym, pos in acct.positions.items():
        inst = eng.instruments[sym]
        L = inst.ledger
        size = L.size[pos.row]
        if not size:
            continue
        if inst.opt is not None:
            book, i = inst.opt
            a, b, *_ = row_charges(size, 0, 0, 0, 0, 0, 0, inst.mult, *book.lot(i))
        else:
            a, b, *_ = instrument_charges(inst.im_tiers, inst.mm_tiers, inst.mark or 0,
                                          inst.mult, size, 0, 0, 0, 0, 0, 0)  # fmt: skip
        im += a
        mm += b
    return im, mm
