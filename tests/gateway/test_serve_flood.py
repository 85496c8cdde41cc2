"""A bounded flood from one account at full speed (valid orders and malformed frames) on a
real socket: the flooder is rejected a bounded number of times, then dropped, then cut; every
request of another account sent meanwhile is answered; nothing was decoded past the bucket.
The latency figures of the same scenario come from ``crossbook bench flood``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from gateway.roles.fairness import REJECTS_PER_WINDOW
from tests.gateway.serve_helpers import Bot, running_exchange

pytestmark = pytest.mark.timeout(60)
FLOOD = 20_000


async def test_a_flooding_account_is_cut_and_the_others_are_answered(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        limits = {"rate_per_s": 1000, "burst": 500}
        async with running_exchange(tmp_path, limits=limits) as ex:
            flooder, other = Bot.for_account(ctx, ex, 1), Bot.for_account(ctx, ex, 2)
            flooder.sock.sndhwm = FLOOD * 2
            await flooder.logon()
            await other.logon()
            order = msgpack.packb({"v": 1, "type": "new_order", "instrument": "BTC-PERP",
                                   "side": "buy", "qty": 1, "price": 100_000,
                                   "client_order_id": "x"})  # fmt: skip
            junk = b"\xc1not msgpack"

            async def flood() -> None:
                for i in range(FLOOD):
                    await flooder.sock.send(junk if i % 2 else order)

            task = asyncio.ensure_future(flood())
            answered = 0
            for i in range(20):  # the other account, during the flood
                rep = await other.order(f"o{i}", "buy", 1, 590_000 - 5 * i)
                answered += rep["exec_type"] == "0"
            await task
            await other.request({"type": "heartbeat"})  # after it: still served
            assert answered == 20
            st = ex.gateway.fair.stats
            assert st.cut >= 1 and st.dropped > 0
            assert st.charged >= FLOOD  # every frame was paid for
            windows = 1 + int(10 / 0.1)  # generous: at most REJECTS_PER_WINDOW per 100 ms
            assert st.rejected <= REJECTS_PER_WINDOW * windows
            assert ex.gateway.stats.errors == 0
            flooder.close()
            other.close()
    finally:
        ctx.destroy(linger=0)
