"""``crossbook serve`` embedded: the order path end to end over real sockets.

Logon, orders, fills on both sides, positions and margin, pre-trade refusals with their
figures, foreign cancels, idempotent client order ids, the gateway's limits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq.asyncio

from tests.gateway.serve_helpers import Bot, hops_ordered, running_exchange

pytestmark = pytest.mark.timeout(60)


async def test_logon_and_new_order_get_exec_reports_with_hops(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            ack = await bot.logon(heartbeat_ms=2000)
            assert ack["account"] == 1 and ack["heartbeat_ms"] == 2000
            new = await bot.order("o-1", "buy", 10, 590_000)
            assert new["exec_type"] == "0" and new["ord_status"] == "0"
            assert new["order_id"] >= 1 and new["leaves_qty"] == 10 and new["cum_qty"] == 0
            assert hops_ordered(new), new
            orders = await bot.query("orders")
            assert [o["client_order_id"] for o in orders] == ["o-1"]
            cancel = await bot.request({"type": "cancel", "client_order_id": "o-1"})
            assert cancel["exec_type"] == "4" and cancel["end_reason"] == "user_cancel"
            assert cancel["leaves_qty"] == 0 and hops_ordered(cancel)
            assert await bot.query("orders") == []
            bot.close()
    finally:
        ctx.destroy(linger=0)
