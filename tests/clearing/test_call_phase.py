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
