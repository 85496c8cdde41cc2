"""Blackout after a stall: with one role per process, clearing is stopped (SIGSTOP) for
longer than the gateway-loss expiry (50 link heartbeats) and continued (SIGCONT); then every
request is answered. Also the matcher is stalled the same way."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import zmq.asyncio

from tests.gateway.test_serve_processes import bot, serve, stop, write_config

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]
STALL_S = 4.0  # > 50 heartbeats of 50 ms


@pytest.mark.parametrize("stalled", ["clearing", "matching"])
async def test_every_request_is_answered_after_a_role_stalls(tmp_path: Path,
                                                            stalled: str) -> None:  # fmt: skip
    cfg, eps, state = write_config(tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        async with (
            serve("--config", str(cfg), "--role", "matching") as matching,
            serve("--config", str(cfg), "--role", "clearing") as clearing,
            serve("--config", str(cfg), "--role", "gateway") as gateway,
        ):
            a, b = bot(ctx, eps, state, 1), bot(ctx, eps, state, 2)
            await a.logon(heartbeat_ms=30_000)
            await b.logon(heartbeat_ms=30_000)
            assert (await a.order("before", "buy", 1, 590_000))["exec_type"] == "0"
            proc = clearing if stalled == "clearing" else matching
            proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(STALL_S)
            proc.send_signal(signal.SIGCONT)
            # requests sent right after the stall, and a while later: each one answered
            for i in range(20):
                rep = await a.order(f"after-{i}", "buy", 1, 590_000 - 5 * i)
                assert rep["exec_type"] == "0", rep
                q = await b.query("balances")
                assert q and q[0]["asset"] == "USD"
            assert len(await a.query("orders")) == 21
            a.close()
            b.close()
            codes = [(await stop(p))[0] for p in (gateway, clearing, matching)]
        assert codes == [0, 0, 0]
    finally:
        ctx.destroy(linger=0)
