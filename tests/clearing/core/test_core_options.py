"""The core hands market data each option chain's revaluation (the batch's last one), with
marks, IVs and Greeks in quote currency; and the option queries read the same figures."""

from __future__ import annotations

import math
from pathlib import Path

from clearing.commands import IndexPrice, IVUpdate
from clearing.config import load_config
from clearing.options import queries
from clearing.pipeline import Pipeline

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "options.toml"
E1, E2 = 1_798_185_600_000_000_000, 1_806_048_000_000_000_000
NOW = 1_790_000_000_000_000_000


def test_one_option_entry_per_chain_and_batch() -> None:
    p = Pipeline.from_config(load_config(EXAMPLE))
    res = p.run([IndexPrice(NOW, "BTC", 600_000), IVUpdate(NOW, "BTC", E1, 550_000),
                 IVUpdate(NOW, "BTC", E2, 650_000, -100_000, 0)])  # fmt: skip
    opts = [m for m in res.market if m[0] == "options"]
    assert len(opts) == 1
    _, u, ts, index, rows = opts[0]
    assert (u, ts, index, len(rows)) == ("BTC", NOW, 600_000, 36)
    by = {r[0]: r for r in rows}
    atm = by["BTC-25DEC26-60000-C"]
    assert atm[2] == 550_000 and atm[6] is True and atm[11] is False  # mark IV, call, fresh
    chain = {r["symbol"]: r for r in p.clearing.option_chain("BTC")}
    c = chain["BTC-25DEC26-60000-C"]
    assert atm[1] == p.clearing.instruments["BTC-25DEC26-60000-C"].mark
    # price units are 0.1 USD: vega and theta per USD are a tenth, gamma per USD ten times
    assert math.isclose(atm[9], c["vega"] / 10) and math.isclose(atm[10], c["theta"] / 10)
    assert math.isclose(atm[8], c["gamma"] * 10) and math.isclose(atm[7], c["delta"])
    put = by["BTC-26MAR27-40000-P"]
    assert put[2] > 650_000  # the skew makes the low strike's vol higher
    # nothing revalued, nothing published
    assert not [m for m in p.run([]).market if m[0] == "options"]


def test_chain_query_adds_book_ivs_and_standard_what_if() -> None:
    p = Pipeline.from_config(load_config(EXAMPLE))
    p.run([IndexPrice(NOW, "BTC", 600_000), IVUpdate(NOW, "BTC", E1, 600_000)])
    rows = {r["symbol"]: r for r in queries.chain(p.clearing, "BTC")}
    r = rows["BTC-25DEC26-60000-C"]
    assert r["bid"] is None and math.isnan(r["bid_iv"]) and r["index"] == 600_000
    assert r["stale_iv"] is False and rows["BTC-26MAR27-60000-C"]["stale_iv"] is True
    assert queries.standard_requirements(p.clearing, 1) == (0, 0)
    assert queries.account_greeks(p.clearing, 1) == [("BTC", None, None, (0.0, 0.0, 0.0, 0.0))]
