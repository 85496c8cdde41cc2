"""Out-of-range figures: a refusal whose figures do not fit int64 (a sell at the protocol's
highest price) reaches the bot as a valid message, the figure as a decimal string, and the
SDK raises the refusal instead of timing out. The property: every refusal the core makes,
rendered as the gateway renders it, decodes in the SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearing.core.inputs import PlaceOrder
from gateway.protocol import TIF_CODES, decode_push, encode
from gateway.recovery import new_core
from gateway.render import render
from gateway.roles import links
from gateway.schemas import INT64_MAX
from matching.instrument import MAX_PRICE
from tests.clients.serve_helpers import client
from tests.clients.serve_helpers import running_exchange as sdk_exchange
from tests.gateway.serve_helpers import Bot, make_config, running_exchange

pytestmark = pytest.mark.timeout(60)
HUGE = 9_007_199_254_740_990  # the price: allowed by the protocol (< 2**53)


async def test_a_refusal_with_figures_over_int64_decodes(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            rep = await bot.order("huge", "sell", 1000, HUGE)  # Bot.recv decodes strictly
            assert rep["type"] == "exec_report" and rep["exec_type"] == "8", rep
            figs = rep["figures"]
            assert isinstance(figs["required"], str) and int(figs["required"]) > INT64_MAX
            assert isinstance(figs["available"], int)
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def test_the_sdk_raises_the_refusal_instead_of_timing_out(tmp_path: Path) -> None:
    from clients.sdk import InvalidOrder

    async with sdk_exchange(tmp_path) as srv, client(srv, 1, timeout=3.0) as ex:
        m = ex.market("BTC/USD:USD")
        with pytest.raises(InvalidOrder, match="900719925474099000000"):  # not RequestTimeout
            await ex.create_order("BTC/USD:USD", "limit", "sell", "1",
                                  str(m.price(HUGE - HUGE % 5)))  # fmt: skip


_CORE = None
_N = 0


def _core():  # one core for every example: refusals leave it as it was
    global _CORE
    if _CORE is None:
        _CORE = new_core(make_config(Path("/nonexistent")))
    return _CORE


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(price=st.integers(1, MAX_PRICE), qty=st.integers(1, INT64_MAX),
       side=st.sampled_from([1, -1]), account=st.integers(1, 6),
       instrument=st.sampled_from(["BTC-PERP", "ETH-PERP", "AMZN-PERP"]))  # fmt: skip
def test_every_refusal_of_any_in_range_order_decodes_in_the_sdk(
        price: int, qty: int, side: int, account: int, instrument: str) -> None:  # fmt: skip
    global _N
    _N += 1
    core, matcher = _core()
    req = PlaceOrder(1, 1, 1, 7, account, instrument, side, qty, price, 0, TIF_CODES["ioc"],
                     f"c{_N}", False, False, 0, 0)  # fmt: skip
    res = core.run_batch([req], matcher)
    for _acct, _gw, _sid, req_id, gw_in, report, _direct, _matched in res.replies:
        (report,) = links.unpack(links.pack([report]))  # the internal link carries it too
        msg = render(report, (gw_in, 1, 2, 3, 4))
        msg["req_id"] = req_id
        msg["seq"] = 1
        if msg["type"] == "exec_report":
            msg["ts_gw_out"] = 5
        decoded = decode_push(encode(msg))
        assert isinstance(decoded, dict), (msg, decoded)
    assert not matcher.books[instrument].l3()["bids" if side == 1 else "asks"]  # IOC: none rest
