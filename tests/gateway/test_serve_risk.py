"""``crossbook serve`` embedded: clearing's risk pushes reach the account they concern.

An index crash (an operator ``IndexPrice``) takes a levered long below maintenance: its
owner gets a ``margin_call`` and ``liquidation_notice``s, and nobody else does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq.asyncio

from clearing.commands import IndexPrice
from tests.gateway.serve_helpers import Bot, running_exchange

pytestmark = pytest.mark.timeout(60)


async def test_index_crash_sends_margin_call_and_liquidation_notices(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path, index_feed=_no_feed()) as ex:
            longer, shorter = Bot.for_account(ctx, ex, 3), Bot.for_account(ctx, ex, 4)
            await longer.logon()
            await shorter.logon()
            assert (await shorter.order("s", "sell", 80_000, 600_000))["exec_type"] == "0"
            assert (await longer.order("l", "buy", 80_000, 600_000))["exec_type"] == "0"
            await longer.wait_for(lambda m: m.get("exec_type") == "F")
            ex.clearing.admin(lambda ts: IndexPrice(ts, "BTC", 480_000))  # -20 %
            call = await longer.wait_for(lambda m: m["type"] == "margin_call")
            assert call["account"] == 3 and call["equity"] < 1_000_000_000_000
            assert call["margin_ratio_ppm"] is not None and call["margin_ratio_ppm"] > 0
            started = await longer.wait_for(
                lambda m: m["type"] == "liquidation_notice" and m["stage"] == "started")
            assert started["account"] == 3
            assert started["equity"] < started["maintenance_margin"]
            await longer.request({"type": "heartbeat"})
            assert not [m for m in shorter.seen
                        if m["type"] == "margin_call"
                        or (m["type"] == "liquidation_notice" and m["account"] != 4)]
            ex.clearing.engine.validate()
            longer.close()
            shorter.close()
    finally:
        ctx.destroy(linger=0)


def _no_feed():
    from gateway.exchange_config import IndexFeed

    return IndexFeed(enabled=False)
