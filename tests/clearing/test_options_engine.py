"""Options in the clearing engine: marks, standard and portfolio modes, expiry, snapshots.

Index BTC in whole USD (price_decimals 0); option lots of 0.01 BTC (multiplier 10,000)
and perpetual lots of 0.001 BTC (multiplier 1,000), at 6 settlement decimals.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from clearing.commands import (
    Deposit,
    IndexPrice,
    IVUpdate,
    OpenAccount,
    OrderRequest,
    SetMarginMode,
    Tick,
)
from clearing.config import ConfigError, parse_config
from clearing.engine import ClearingEngine
from clearing.events import (
    IVUpdated,
    MarginModeSet,
    OptionSettled,
    OptionsRevalued,
    OrderAdmitted,
    PreTradeRejected,
    RequestRejected,
)
from clearing.options.black76 import greeks, year_fraction
from clearing.options.series import expiry_ts_of
from clearing.pipeline import Pipeline
from matching.reasons import Reason
from tests.clearing.helpers import IOC, of

T0 = expiry_ts_of(2026, 11, 25)
EXP = expiry_ts_of(2026, 12, 25)
DAY = 86_400_000_000_000
CALL, PUT = "BTC-25DEC26-60000-C", "BTC-25DEC26-60000-P"


def config(**portfolio: Any) -> dict:
    return {
        "clearing": {"settlement_asset": "USD", "insurance_fund": 10**12},
        "assets": {"USD": {"decimals": 6}},
        "indices": {"BTC": 60_000},
        "instruments": {"BTC-PERP": {
            "kind": "perpetual", "index": "BTC", "contract_size": "0.001", "imf_ppm": 100_000,
            "mmf_ppm": 50_000, "max_qty": 10**6, "mark_band_ppm": 0}},
        "options": {"BTC": {"index": "BTC", "expiries": [EXP],
                            "strikes": [54_000, 60_000, 66_000], "contract_size": "0.01",
                            "tick_size": 5, "max_qty": 10**6}},
        "portfolio": portfolio,
        "accounts": [{"id": a, "deposits": {"USD": 10**12}} for a in (1, 2, 3)],
    }  # fmt: skip


def pipe(**portfolio: Any) -> Pipeline:
    p = Pipeline.from_config(parse_config(config(**portfolio)))
    p.submit(IVUpdate(T0, "BTC", EXP, 600_000))
    return p


def fill(p: Pipeline, ts: int, buyer: int, seller: int, sym: str, qty: int, price: int) -> None:
    out = p.submit(OrderRequest(ts, seller, sym, -1, qty, price))
    assert of(out, OrderAdmitted), out
    out = p.submit(OrderRequest(ts, buyer, sym, 1, qty, price, tif=IOC))
    assert of(out, OrderAdmitted), out


def _b76(strike: float, call: bool, F: float = 60_000.0, ts: int = T0, vol: float = 0.6) -> float:
    return float(greeks(F, strike, year_fraction(EXP, ts), vol, call).price)


def test_the_chain_is_listed_with_both_names_and_marked_by_black76() -> None:
    p = pipe()
    c = p.clearing
    chain = c.option_chain("BTC")
    assert [r["symbol"] for r in chain][:2] == ["BTC-25DEC26-54000-C", "BTC-25DEC26-54000-P"]
    assert chain[2]["ccxt_symbol"] == "BTC/USD:USD-261225-60000-C"
    atm = chain[2]
    assert atm["mark_price"] == pytest.approx(_b76(60_000, True), rel=1e-12)
    assert atm["mark_iv"] == 0.6 and not atm["stale_iv"]
    assert c.instruments[CALL].mark == round(_b76(60_000, True))
    assert 0.5 < atm["delta"] < 0.6 and atm["vega"] > 0 > atm["theta"]


def test_an_index_or_iv_update_revalues_the_chain() -> None:
    p = pipe()
    out = p.submit(IndexPrice(T0 + 1, "BTC", 61_000))
    assert of(out, OptionsRevalued)
    assert p.clearing.option_chain("BTC")[2]["mark_price"] == pytest.approx(
        _b76(60_000, True, F=61_000, ts=T0 + 1), rel=1e-12)
    out = p.submit(IVUpdate(T0 + 2, "BTC", EXP, 700_000, -100_000, 0))
    assert of(out, IVUpdated) and of(out, OptionsRevalued)
    p.clearing.validate()


def test_standard_mode_short_call_margin_and_value() -> None:
    p = pipe()
    fill(p, T0 + 1, buyer=2, seller=1, sym=CALL, qty=100, price=5_000)
    c = p.clearing
    mark = _b76(60_000, True)
    m = 10_000
    s = c.account_summary(1)
    # short 100 lots: IM = 100 x ceil((max(0.15 x 60,000 - 0, 0.10 x 60,000) + mark) x m)
    assert s["initial_margin"] == 100 * math.ceil((9_000 + mark) * m)
    assert s["maintenance_margin"] == 100 * math.ceil((4_500 + mark) * m)
    # equity: cash + premium received - the liability at the mark, rounded up
    assert s["equity"] == 10**12 + 100 * 5_000 * m - 100 * math.ceil(mark * m)
    b = c.account_summary(2)  # the long: value rounded down, IM = MM = ceil(mark·m) per lot
    assert b["equity"] == 10**12 - 100 * 5_000 * m + 100 * math.floor(mark * m)
    assert b["initial_margin"] == b["maintenance_margin"] == 100 * math.ceil(mark * m)
    c.validate()


def test_position_and_account_greeks() -> None:
    p = pipe()
    _straddle(p, T0 + 1)
    c = p.clearing
    g = c.greeks(1)
    chain = {r["symbol"]: r for r in c.option_chain("BTC")}
    # 100 lots of 0.01 BTC short: -1 BTC of each option's delta, gamma, vega, theta
    assert g["positions"][CALL]["delta"] == -chain[CALL]["delta"]
    assert g["positions"][PUT]["vega"] == -chain[PUT]["vega"]
    assert g["positions"]["BTC-PERP"]["delta"] == g["positions"]["BTC-PERP"]["size"] * 0.001
    tot = g["underlyings"]["BTC"]
    assert abs(tot["delta"]) < 0.001  # delta-hedged to the nearest perpetual lot
    assert tot["gamma"] < 0 and tot["vega"] < 0 and tot["theta"] > 0  # short options


def test_stale_iv_refuses_opening_orders_but_not_reducing_ones() -> None:
    p = pipe()
    fill(p, T0 + 1, buyer=2, seller=1, sym=CALL, qty=10, price=5_000)
    late = T0 + 301 * 10**9  # past iv_stale_ns (5 min)
    r = of(p.submit(OrderRequest(late, 3, CALL, 1, 1, 5_000)), PreTradeRejected)[0]
    assert r.reason == Reason.NO_MARK_PRICE and "stale" in r.text
    assert of(p.submit(OrderRequest(late, 1, CALL, 1, 5, 4_000)), OrderAdmitted)


def _straddle(p: Pipeline, ts: int) -> None:
    """Account 1 shorts 100 calls and 100 puts at 60,000 and buys the perpetual delta."""
    fill(p, ts, buyer=2, seller=1, sym=CALL, qty=100, price=5_000)
    fill(p, ts, buyer=2, seller=1, sym=PUT, qty=100, price=5_000)
    g = greeks(60_000.0, 60_000.0, year_fraction(EXP, ts), 0.6, [True, False])
    lots = round(100 * float(g.delta.sum()) * 10_000 / 1_000)
    fill(p, ts, buyer=1, seller=3, sym="BTC-PERP", qty=lots, price=60_000)


def test_portfolio_mode_nets_a_delta_hedged_short_straddle() -> None:
    p = pipe()
    _straddle(p, T0 + 1)
    c = p.clearing
    std = c.account_summary(1)
    out = p.submit(SetMarginMode(T0 + 2, 1, "portfolio"))
    pm = of(out, MarginModeSet)[0]
    assert pm.mode == "portfolio" and pm.initial_margin < std["initial_margin"]
    s = c.account_summary(1)
    assert s["margin_mode"] == "portfolio" and s["worst_scenario"]["vol"] == 1
    assert s["initial_margin"] == s["portfolio_im"] and s["maintenance_margin"] < pm.initial_margin
    c.validate()
    p.submit(IndexPrice(T0 + 3, "BTC", 58_000))  # re-margined with the chain
    c.validate()


def test_portfolio_admission_that_standard_mode_refuses() -> None:
    ref = pipe()
    _straddle(ref, T0 + 1)
    need_std = ref.clearing.account_summary(1)["required"]
    ref.submit(SetMarginMode(T0 + 2, 1, "portfolio"))
    need_pm = ref.clearing.account_summary(1)["required"]
    assert need_pm < need_std
    results = {}
    for mode in ("standard", "portfolio"):
        q = pipe()
        q.submit(OpenAccount(T0, 4))
        q.submit(Deposit(T0, 4, "USD", (need_pm + need_std) // 2))
        if mode == "portfolio":
            assert of(q.submit(SetMarginMode(T0, 4, "portfolio")), MarginModeSet)
        g = greeks(60_000.0, 60_000.0, year_fraction(EXP, T0 + 1), 0.6, [True, False])
        lots = round(100 * float(g.delta.sum()) * 10_000 / 1_000)
        steps = [(3, "BTC-PERP", 1, lots, 60_000), (2, CALL, -1, 100, 5_000),
                 (2, PUT, -1, 100, 5_000)]  # fmt: skip
        got = []
        for other, sym, side, qty, price in steps:
            q.submit(OrderRequest(T0 + 1, other, sym, -side, qty, price))
            out = q.submit(OrderRequest(T0 + 1, 4, sym, side, qty, price, tif=IOC))
            got.append(of(out, PreTradeRejected)[0].reason if of(out, PreTradeRejected) else 0)
        q.clearing.validate()
        results[mode] = got
    assert results["portfolio"] == [0, 0, 0]
    assert results["standard"][-1] == Reason.INSUFFICIENT_MARGIN


def test_expiry_pays_intrinsic_and_delists() -> None:
    p = pipe()
    fill(p, T0 + 1, buyer=2, seller=1, sym=CALL, qty=10, price=5_000)
    c = p.clearing
    cash1, cash2 = c.accounts[1].balances["USD"], c.accounts[2].balances["USD"]
    p.submit(IVUpdate(EXP - DAY, "BTC", EXP, 600_000))
    p.submit(IndexPrice(EXP - DAY, "BTC", 63_000))  # held through the settlement window
    out = p.submit(Tick(EXP))
    s = next(e for e in of(out, OptionSettled) if e.instrument == CALL)
    assert (s.settlement_price, s.intrinsic, s.positions) == (63_000, 3_000, 2)
    assert c.accounts[2].balances["USD"] == cash2 + 10 * 3_000 * 10_000
    assert c.accounts[1].balances["USD"] == cash1 - 10 * 3_000 * 10_000
    assert c.position(1, CALL)[0] == 0 and c.instruments[CALL].expired
    r = of(p.submit(OrderRequest(EXP + 1, 2, CALL, 1, 1, 5)), PreTradeRejected)[0]
    assert r.reason == Reason.INSTRUMENT_EXPIRED
    c.validate()


def test_snapshot_restores_positions_modes_and_surface() -> None:
    p = pipe()
    _straddle(p, T0 + 1)
    p.submit(SetMarginMode(T0 + 2, 1, "portfolio"))
    p.submit(IVUpdate(T0 + 3, "BTC", EXP, 650_000, -50_000, 20_000))
    p.submit(OrderRequest(T0 + 4, 1, PUT, -1, 5, 7_000))  # a resting order
    c = p.clearing
    state = c.export_state()
    from clearing.snapshot import ZERO_ROOT, build_snapshot, load_snapshot, verify_snapshot

    blob = build_snapshot(state, ZERO_ROOT)  # the canonical settlement snapshot holds it
    assert verify_snapshot(blob).ok
    state = load_snapshot(blob).state
    again = ClearingEngine.from_state(c.config, state)
    assert again.state_hash() == c.state_hash()
    again.validate()
    for cmd in (IndexPrice(T0 + 5, "BTC", 59_000), IVUpdate(T0 + 6, "BTC", EXP, 550_000)):
        assert c.apply(cmd) == again.apply(cmd)
    assert again.state_hash() == c.state_hash()


@pytest.mark.parametrize("cmd,reason", [
    (IVUpdate(T0, "ETH", EXP, 600_000), Reason.UNKNOWN_ASSET),
    (IVUpdate(T0, "BTC", EXP + 1, 600_000), Reason.INVALID_REQUEST),
    (IVUpdate(T0, "BTC", EXP, 0), Reason.INVALID_REQUEST),
    (SetMarginMode(T0, 1, "cross"), Reason.INVALID_REQUEST),
    (SetMarginMode(T0, 99, "portfolio"), Reason.UNKNOWN_ACCOUNT),
])
def test_bad_option_commands_are_rejected_and_change_nothing(cmd: object, reason: Reason) -> None:
    p = pipe()
    before = p.clearing.export_state()
    r = of(p.clearing.apply(cmd), RequestRejected)[0]
    assert r.reason == reason
    after = p.clearing.export_state()
    after["engine"]["reject_counts"] = before["engine"]["reject_counts"]  # counted, not state
    assert after == before


def test_bad_option_config_is_refused_with_the_key() -> None:
    bad = config()
    bad["options"]["BTC"]["strikes"] = [0]
    with pytest.raises(ConfigError, match=r"options\.BTC\.strikes"):
        parse_config(bad)
    bad = config()
    bad["options"]["BTC"]["iv_floor_ppm"] = 10**7
    with pytest.raises(ConfigError, match=r"options\.BTC"):
        parse_config(bad)
    bad = config(default_mode="cross")
    with pytest.raises(ConfigError, match=r"portfolio\.default_mode"):
        parse_config(bad)


def _short_calls_then_rally(option_asks: bool) -> tuple[Pipeline, list]:
    """Account 4 shorts 10 ATM calls with thin equity; the index jumps 10 %."""
    p = pipe()
    p.submit(OpenAccount(T0, 4))
    p.submit(Deposit(T0, 4, "USD", 1_400_000_000))
    fill(p, T0 + 1, buyer=2, seller=4, sym=CALL, qty=10, price=5_000)
    p.submit(OrderRequest(T0 + 2, 3, "BTC-PERP", -1, 1_000, 66_000))  # liquidity to hedge
    if option_asks:
        p.submit(OrderRequest(T0 + 2, 3, CALL, -1, 10, 8_000))  # liquidity to close
    out = p.submit(IndexPrice(T0 + 3, "BTC", 66_000))
    return p, out


@pytest.mark.parametrize("option_asks", [True, False], ids=["book", "insurance takeover"])
def test_liquidation_of_an_option_account_goes_down_the_ladder(option_asks: bool) -> None:
    from clearing import events as ev

    p, out = _short_calls_then_rally(option_asks)
    c = p.clearing
    kinds = [type(e).__name__ for e in out if type(e).__module__ == "clearing.events"
             and getattr(e, "account", 4) == 4]  # fmt: skip
    ladder = [k for k in kinds if k in ("MarginCall", "LiquidationStarted", "LiquidationHedge",
                                        "LiquidationOptionClose", "InsuranceTakeover",
                                        "LiquidationEnded")]  # fmt: skip
    last = "LiquidationOptionClose" if option_asks else "InsuranceTakeover"
    assert ladder == ["MarginCall", "LiquidationStarted", "LiquidationHedge", last,
                      "LiquidationEnded"]  # fmt: skip
    hedge = of(out, ev.LiquidationHedge)[0]
    assert hedge.side == 1 and hedge.net_delta < 0 and hedge.qty > 0  # bought perp delta
    assert c.position(4, CALL)[0] == 0  # the short calls are gone
    assert c.position(4, "BTC-PERP")[0] == hedge.qty
    end = of(out, ev.LiquidationEnded)[0]
    assert end.outcome == "recovered" and end.equity >= end.maintenance
    if not option_asks:
        take = of(out, ev.InsuranceTakeover)[0]
        assert take.qty == 10 and c.position((1 << 63) - 1, CALL)[0] == -10
    c.validate()
    assert ClearingEngine.from_state(c.config, c.export_state()).state_hash() == c.state_hash()


def test_the_example_config_lists_the_default_chain() -> None:
    from pathlib import Path

    from clearing.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "docs/examples/options.toml")
    series = [s for s in cfg.instruments.values() if s.kind == "option"]
    assert len(series) == 2 * 9 * 2 and series[0].multiplier == 1_000
    eng = ClearingEngine(cfg)
    assert eng.account_summary(2)["margin_mode"] == "portfolio"
    assert len(eng.option_chain("BTC")) == 36
    eng.validate()
