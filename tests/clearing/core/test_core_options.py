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


def _counting_revalues(p: Pipeline) -> list[int]:
    opts = p.clearing.options
    assert opts is not None
    calls: list[int] = []
    revalue = opts.revalue

    def counted(ts: int, out: list | None) -> None:
        calls.append(ts)
        revalue(ts, out)

    opts.revalue = counted  # type: ignore[method-assign]
    return calls


def test_one_market_move_is_re_marked_once_to_the_same_figures() -> None:
    """An index price and smiles stamped the same instant are one market move: the chain
    is revalued once, after the last of them, to the figures one input at a time gives."""
    move = [IVUpdate(NOW, "BTC", E1, 550_000), IVUpdate(NOW, "BTC", E2, 650_000, -100_000, 0),
            IndexPrice(NOW, "BTC", 610_000)]  # fmt: skip
    grouped = Pipeline.from_config(load_config(EXAMPLE))
    one_at_a_time = Pipeline.from_config(load_config(EXAMPLE))
    calls_grouped = _counting_revalues(grouped)
    calls_single = _counting_revalues(one_at_a_time)
    grouped.run(move)
    for inp in move:
        one_at_a_time.run([inp])
    assert len(calls_grouped) == 1 and len(calls_single) == 3
    for sym, inst in grouped.clearing.instruments.items():
        assert inst.mark == one_at_a_time.clearing.instruments[sym].mark, sym
    a, b = grouped.clearing.table, one_at_a_time.clearing.table
    assert list(a.eq[: a.n]) == list(b.eq[: b.n])
    assert list(a.im[: a.n]) == list(b.im[: b.n])
    # different instants are different moves, each re-marked
    grouped.run([IndexPrice(NOW + 1, "BTC", 612_000), IVUpdate(NOW + 2, "BTC", E1, 560_000)])
    assert len(calls_grouped) == 3
