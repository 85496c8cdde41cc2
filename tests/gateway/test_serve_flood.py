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

from gateway.roles.fairness import REFUSED_COST, REJECTS_PER_WINDOW
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
            # while the other account was active the flooder had a small share of each
            # read turn (fairness rule 5) and most of its frames waited unread in ZeroMQ;
            # alone, it is read at full speed, past its bucket and cut
            for _ in range(200):
                if st.cut and st.charged >= FLOOD:
                    break
                await asyncio.sleep(0.05)
            assert st.cut >= 1 and st.dropped > 0
            assert st.charged >= FLOOD  # every frame was paid for
            windows = 1 + int(10 / 0.1)  # generous: at most REJECTS_PER_WINDOW per 100 ms
            assert st.rejected <= REJECTS_PER_WINDOW * windows
            assert ex.gateway.stats.errors == 0
            flooder.close()
            other.close()
    finally:
        ctx.destroy(linger=0)


async def test_junk_costs_more_than_a_request(tmp_path: Path) -> None:
    """Fairness rule 7: every malformed frame is rejected as such until the bucket is
    spent, and each costs ``REFUSED_COST`` tokens: 20 of them spend a 100-token bucket."""
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path, limits={"rate_per_s": 1, "burst": 100}) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            assert 20 * REFUSED_COST > 100 > 20
            for _ in range(20):
                await bot.send_raw(b"\xc1not msgpack")
            reasons = [(await bot.recv())["reason_name"] for _ in range(20)]
            assert reasons[0] == "MALFORMED_MESSAGE"
            assert "RATE_LIMITED" in reasons, reasons  # at one token each, 80 were left
            assert set(reasons) == {"MALFORMED_MESSAGE", "RATE_LIMITED"}
            bot.close()
    finally:
        ctx.destroy(linger=0)
