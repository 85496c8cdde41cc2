"""The option records the clearing role sends are valid protocol messages (strict
outbound check) and carry the figures of the engine: instruments, the chain with bid/ask
IVs, position Greeks, the margin record's mode, what-if and worst scenario, and the
greeks query's per-position and total rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from clearing.commands import IndexPrice, IVUpdate, OrderRequest
from clearing.options.implied import implied_vol
from clearing.options.queries import standard_requirements
from clearing.pipeline import Pipeline
from gateway.exchange_config import default_config
from gateway.protocol import validate
from gateway.roles import option_views, views
from matching.enums import OrdType, StpMode, TimeInForce

T = 1_796_083_200_000_000_000
E1, E2 = 1_806_048_000_000_000_000, 1_813_910_400_000_000_000
CALL, PUT = "BTC-26MAR27-60000-C", "BTC-26MAR27-55000-P"
PINNED = date(2026, 12, 19)
"""The default chain as first started that day: 26MAR27 and 25JUN27 (E1, E2)."""


def _order(ts: int, account: int, sym: str, side: int, qty: int, price: int, tif: int,
           clid: str) -> OrderRequest:  # fmt: skip
    return OrderRequest(ts, account, sym, side, qty, price, int(OrdType.LIMIT), tif, clid,
                        False, False, int(StpMode.NONE), 0)  # fmt: skip


def _pipe() -> Pipeline:
    p = Pipeline.from_config(default_config(PINNED).clearing)
    assert p.clearing.config.options["BTC"].expiries == (E1, E2)
    p.run([IndexPrice(T, "BTC", 600_000), IVUpdate(T, "BTC", E1, 600_000, -100_000, 200_000),
           IVUpdate(T, "BTC", E2, 600_000)])  # fmt: skip
    gtc, ioc = int(TimeInForce.GTC), int(TimeInForce.IOC)
    eng = p.clearing
    for sym in (CALL, PUT):
        mark = eng.instruments[sym].mark
        p.submit(_order(T + 1, 1, sym, 1, 100, mark // 5 * 5 - 500, gtc, f"b{sym}"))
        p.submit(_order(T + 1, 1, sym, -1, 100, mark // 5 * 5 + 500, gtc, f"a{sym}"))
        p.submit(_order(T + 2, 7, sym, -1, 50, mark // 5 * 5 - 500, ioc, f"s{sym}"))
    p.submit(_order(T + 3, 1, "BTC-PERP", -1, 500, 600_000, gtc, "perp-ask"))
    p.submit(_order(T + 3, 7, "BTC-PERP", 1, 200, 600_000, ioc, "perp-buy"))
    return p


def _reply(query: str, items: list) -> dict:
    return views.query_replies(query, items, T, 1)[0]


def test_records_are_valid_and_carry_the_engine_figures() -> None:
    p = _pipe()
    eng = p.clearing
    inst = {r["symbol"]: r for r in views.instruments(eng)}
    c = inst[CALL]
    assert (c["kind"], c["underlying"], c["strike"], c["option_type"], c["expiry_ts"],
            c["contract_size"]) == ("option", "BTC", 600_000, "call", E1, "0.01")  # fmt: skip
    assert inst["BTC-PERP"]["contract_size"] == "0.001" and "strike" not in inst["BTC-PERP"]
    assert validate(_reply("instruments", list(inst.values()))) is None

    chain = option_views.option_chain(eng, "BTC", None)
    assert len(chain) == 36 and validate(_reply("option_chain", chain)) is None
    row = next(r for r in chain if r["symbol"] == CALL)
    book = eng.options.books["BTC"]
    i = next(k for k, s in enumerate(book.series) if s.symbol == CALL)
    want = implied_vol(row["bid"], float(book.F[i]), 600_000.0, float(book.T[i]), True)
    assert row["bid_iv_ppm"] == round(want * 1e6) and row["bid_iv_ppm"] < row["mark_iv_ppm"]
    assert row["ask_iv_ppm"] > row["mark_iv_ppm"] and row["mark_price"] == eng.instruments[
        CALL].mark  # fmt: skip
    # price units are 0.1 USD: vega per USD is a tenth of the kernel's
    assert abs(Decimal(row["vega"]) - Decimal(float(book.greeks.vega[i]) / 10)) < Decimal("1e-6")
    assert option_views.option_chain(eng, None, PUT)[0]["symbol"] == PUT
    assert option_views.option_chain(eng, "ETH", None) == []

    positions = views.positions(eng, 7)
    assert validate(_reply("positions", positions)) is None
    by = {r["instrument"]: r for r in positions}
    assert Decimal(by[CALL]["delta"]) < 0 and Decimal(by[PUT]["delta"]) > 0
    assert by["BTC-PERP"]["delta"] == "0.2" and by["BTC-PERP"]["vega"] == "0"
    push = views.update("position_update", 7, by[CALL])
    assert validate({**push, "seq": 1}) is None

    m = views.margin(eng, 7)
    assert m is not None and validate({**views.update("margin_update", 7, m), "seq": 2}) is None
    assert m["margin_mode"] == "portfolio" and m["scan"] >= 0
    assert (m["standard_initial_margin"], m["standard_maintenance_margin"]) == (
        standard_requirements(eng, 7))
    assert m["initial_margin"] < m["standard_initial_margin"]
    assert m["worst_underlying"] == "BTC" and m["worst_vol_shock"] in ("up", "down")
    m1 = views.margin(eng, 1)
    assert m1 is not None and m1["margin_mode"] == "standard" and "scan" not in m1

    g = option_views.greeks(eng, 7, None)
    assert validate(_reply("greeks", g)) is None
    total = g[-1]
    assert total["instrument"] is None and total["qty"] is None
    assert abs(Decimal(total["delta"]) - sum(Decimal(r["delta"]) for r in g[:-1])) < Decimal(
        "1e-8")
    assert {r["instrument"] for r in g[:-1]} == {CALL, PUT, "BTC-PERP"}
