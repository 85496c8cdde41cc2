"""During a reopening call the pre-trade check lets resting limit orders join the auction."""

from __future__ import annotations

from clearing.commands import MatcherEvents
from clearing.events import OrderAdmitted, PreTradeRejected
from clearing.pipeline import Pipeline
from matching import OpenAuction, Resume
from matching.enums import TimeInForce
from matching.reasons import Reason
from tests.clearing.helpers import of, order


def _to_call(p: Pipeline, ts: int) -> None:
    events = p.matcher.apply(OpenAuction(ts, "X"))
    p.clearing.apply(MatcherEvents(ts, events))


def test_call_phase_admits_gtc_limit_and_refuses_ioc(pipe: Pipeline) -> None:
    _to_call(pipe, 10)
    out = pipe.submit(order(11, 1, 1, 5, 101))
    assert of(out, OrderAdmitted) and not of(out, PreTradeRejected)
    out = pipe.submit(order(12, 2, -1, 5, 99))
    assert of(out, OrderAdmitted)
    out = pipe.submit(order(13, 2, -1, 1, 99, tif=int(TimeInForce.IOC)))
    rejected = of(out, PreTradeRejected)
    assert rejected and rejected[0].reason == Reason.MARKET_HALTED
    # the call book is crossed; resuming uncrosses it at one price and settles both sides
    events = pipe.matcher.apply(Resume(14, "X", reference_price=100))
    pipe.clearing.apply(MatcherEvents(14, events))
    assert pipe.clearing.position(1, "X")[0] == 5
    assert pipe.clearing.position(2, "X")[0] == -5


def test_market_halt_halts_instruments_with_and_without_breakers() -> None:
    from clearing.commands import MarketHalt, MarketResume
    from clearing.engine import ClearingEngine
    from matching import Halt
    from matching import Resume as MResume
    from tests.clearing.conftest import make_config

    config = make_config(
        instruments_add={"Y": {"kind": "perpetual", "index": "X", "contract_size": "0.000001",
                               "imf_ppm": 100_000, "mmf_ppm": 50_000, "max_qty": 1000,
                               "breakers": {"static_band_ppm": 50_000}}},
    )  # fmt: skip
    eng = ClearingEngine(config)
    assert "Y" in eng.breaker_symbols and "X" not in eng.breaker_symbols
    halted = {o.instrument for o in eng.apply(MarketHalt(10, "drill")) if isinstance(o, Halt)}
    assert halted == set(config.instruments)
    resumed = {o.instrument for o in eng.apply(MarketResume(20)) if isinstance(o, MResume)}
    assert "X" in resumed
