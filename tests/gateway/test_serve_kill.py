"""kill -9 of ``crossbook serve`` under load gives back everything it acknowledged.

A seeded two-account flow (a maker resting post-only orders, a taker hitting them with IOC
orders) runs against a real server process; at seeded random moments the server is killed
with SIGKILL while orders are in flight, then restarted on the same state directory.
After each restart: every fill acknowledged before the kill is in the trade history with
the same price and quantity, positions and balances equal what the history says, the
resting orders are back in their queues (the live L3 book equals the book an offline
replay of the journal rebuilds), no order, trade or exec id is ever reused, and the
recovered state hash equals ``crossbook journal replay`` of the directory.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from tests.gateway.kill_helpers import (
    Acked,
    check_after_restart,
    clients,
    flow,
    journal_replay,
    live_l3,
    replayed_l3,
    serve,
    stop_task,
)
from tests.gateway.test_serve_processes import write_config

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


async def test_kill_9_under_load_gives_back_every_acknowledged_fill(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path)
    rng = random.Random(20261206)
    acked = Acked()
    ctx = zmq.asyncio.Context()
    try:
        for cycle in range(3):
            async with serve("--config", str(cfg)) as srv:
                maker, taker = clients(ctx, eps, state, acked)
                await maker.logon()
                await taker.logon()
                if cycle:
                    await check_after_restart(srv, state, maker, taker, acked, f"r{cycle}")
                trading = asyncio.create_task(flow(maker, taker, rng, 10_000, f"c{cycle}"))
                await asyncio.sleep(rng.uniform(0.4, 1.2))  # a random moment under load
                await srv.kill()
                await asyncio.sleep(0.05)  # replies already on the wire are read
                await stop_task(trading)
                await maker.close()
                await taker.close()
            assert acked.n_fills() > 0
        # a last restart, checked, then stopped cleanly: the books survive a SIGTERM too
        async with serve("--config", str(cfg)) as srv:
            maker, taker = clients(ctx, eps, state, acked)
            await maker.logon()
            await taker.logon()
            await check_after_restart(srv, state, maker, taker, acked, "last")
            await maker.close()
            await taker.close()
            live = await live_l3(ctx, eps, state)
            assert await srv.stop() == 0, srv.stderr[-2000:]
        replayed, replay_hash, seq = replayed_l3(cfg, state)
        assert replayed == live  # the same resting orders in the same queue order
        assert journal_replay(state, seq)[1] == replay_hash
    finally:
        ctx.destroy(linger=0)
