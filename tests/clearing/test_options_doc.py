"""docs/options.md: every figure of its worked-examples table is recomputed by the code."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from clearing.options.black76 import greeks
from clearing.options.money import lot_values
from clearing.options.portfolio import PortfolioCache, make_tables
from clearing.options.scenarios import DEFAULT_SCENARIOS, ScanParams
from clearing.options.series import OptionSeries, expiry_ts_of
from clearing.options.standard import StandardParams, short_unit_margins
from clearing.positions import Ledger

DOC = Path(__file__).resolve().parents[2] / "docs" / "options.md"
F, T, VOL = 60_000.0, 30 / 365, 0.60
M_OPT, M_PERP = 10_000, 1_000  # 0.01 BTC and 0.001 BTC lots, whole-USD prices, 6 decimals


def _usd(x: float) -> str:
    return f"{x:,.2f}"


def _pm(legs: list[tuple]) -> tuple:
    """(scan, min_delta, im, mm, worst scenario) of one account's legs (K, call, qty | perp)."""
    cols = [(k, c) for k in (54_000, 60_000, 66_000) for c in (True, False)] + [("perp", None)]
    n = len(cols)
    lin = [k == "perp" for k, _ in cols]
    t = make_tables(ScanParams(), F=[F] * n, K=[1.0 if x else k for (k, _), x in zip(cols, lin)],
                    T=[T] * n, sigma=[VOL] * n, is_call=[bool(c) for _, c in cols], linear=lin,
                    mult=[M_PERP if x else M_OPT for x in lin], under=[0] * n, n_under=1)
    ledgers = [Ledger() for _ in cols]
    for k, c, q in legs:
        L = ledgers[cols.index((k, c))]
        L.size[L.row(0)] += q
    cache = PortfolioCache(ScanParams(), ledgers, 1)
    cache.remargin_all(t, 1)
    return cache.figures(0)


def figures() -> list[tuple[str, str]]:
    """(figure, value) rows of the doc's table, computed now."""
    g = greeks([F, F], [60_000, 60_000], [T, T], [VOL, VOL], [True, False])
    call, put = float(g.price[0]), float(g.price[1])
    rows = [
        ("ccxt / native name", OptionSeries("BTC", expiry_ts_of(2026, 12, 25), 60_000,
                                            "C").ccxt_symbol + " / BTC-25DEC26-60000-C"),
        ("ATM call value (USD per BTC)", _usd(call)),
        ("ATM put value (USD per BTC)", _usd(put)),
        ("ATM call delta", f"{float(g.delta[0]):.4f}"),
        ("ATM gamma (per USD)", f"{float(g.gamma[0]):.4e}"),
        ("ATM vega (USD per vol point)", _usd(float(g.vega[0]))),
        ("ATM theta (USD per day)", _usd(float(g.theta[0]))),
    ]
    lo, hi = lot_values(np.array([call]), M_OPT)
    rows += [("ATM call lot (0.01 BTC) value, long / short (minor units)",
              f"{int(lo[0]):,} / {int(hi[0]):,}")]
    gk = greeks([F, F], [66_000, 54_000], [T, T], [VOL, VOL], [True, False])
    im, mm = short_unit_margins(np.array([F, F]), np.array([66_000.0, 54_000.0]), gk.price,
                                np.array([True, False]), StandardParams())
    rows += [
        ("66,000 call: mark / short IM / short MM (USD per BTC)",
         f"{_usd(float(gk.price[0]))} / {_usd(float(im[0]))} / {_usd(float(mm[0]))}"),
        ("54,000 put: mark / short IM / short MM (USD per BTC)",
         f"{_usd(float(gk.price[1]))} / {_usd(float(im[1]))} / {_usd(float(mm[1]))}"),
    ]
    strangle = [(66_000, True, -100), (54_000, False, -100)]
    f = _pm(strangle)
    shock = DEFAULT_SCENARIOS[f.worst_scenario][0] / 10_000
    std_im = 100 * (math.ceil(float(im[0]) * M_OPT) + math.ceil(float(im[1]) * M_OPT))
    rows += [
        ("short strangle (1 BTC each leg): SCAN / MinDelta (USD)",
         f"{_usd(f.scan / 1e6)} / {_usd(f.min_delta / 1e6)}"),
        ("short strangle: IMR / MMR (USD), worst scenario",
         f"{_usd(f.im / 1e6)} / {_usd(f.mm / 1e6)}, spot {shock:+.0f} % vol up"),
        ("short strangle: standard IM (USD)", _usd(std_im / 1e6)),
    ]
    d = float(g.delta.sum())
    hedge = round(100 * d * M_OPT / M_PERP)
    straddle = [(60_000, True, -100), (60_000, False, -100), ("perp", None, hedge)]
    f = _pm(straddle)
    ims, _ = short_unit_margins(np.array([F, F]), np.array([F, F]), g.price,
                                np.array([True, False]), StandardParams())
    std = 100 * sum(math.ceil(float(x) * M_OPT) for x in ims) + math.ceil(
        abs(hedge) * F * M_PERP * 0.10)
    rows += [
        ("delta-hedged short straddle: perpetual lots (0.001 BTC)", f"{hedge:+d}"),
        ("delta-hedged short straddle: IMR portfolio / standard (USD)",
         f"{_usd(f.im / 1e6)} / {_usd(std / 1e6)}"),
    ]
    return rows


def _doc_rows() -> list[tuple[str, str]]:
    text = DOC.read_text()
    start = text.index("<!-- worked examples: begin -->")
    end = text.index("<!-- worked examples: end -->")
    rows = []
    for line in text[start:end].splitlines():
        m = re.match(r"^\| (.+?) \| (.+?) \|$", line)
        if m and not set(m.group(1)) <= set("-") and m.group(1) != "figure":
            rows.append((m.group(1), m.group(2).strip("`")))
    return rows


def test_the_docs_worked_examples_are_the_codes_numbers() -> None:
    assert _doc_rows() == figures()


if __name__ == "__main__":  # print the table for the doc
    for name, value in figures():
        print(f"| {name} | `{value}` |")
