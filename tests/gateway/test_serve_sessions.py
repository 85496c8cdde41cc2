"""``crossbook serve`` embedded: sessions, authentication and the safety switches.

Cancel-on-disconnect when heartbeats stop (and on logout), the ``cancel_all_after`` dead
man's switch, and an unknown CURVE key that never gets a session.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from gateway import keys as keyfiles
from tests.gateway.serve_helpers import Bot, running_exchange

pytestmark = pytest.mark.timeout(60)


async def test_cancel_on_disconnect_fires_when_heartbeats_stop(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            quitter = Bot.for_account(ctx, ex, 1)
            watcher = Bot.for_account(ctx, ex, 1)  # a second session of the same account
            ack = await quitter.logon(cancel_on_disconnect=True, heartbeat_ms=100)
            assert ack["cancel_on_disconnect"] is True
            await watcher.logon(heartbeat_ms=60_000)
            await quitter.order("q-1", "buy", 5, 590_000)
            await quitter.order("q-2", "sell", 5, 610_000)
            quitter.close()  # the connection closes: its session ends (peer_watch)
            done = await watcher.wait_for(lambda m: m["type"] == "mass_cancel_report", 5)
            assert done["canceled"] == 2 and done["end_reason"] == "cancel_on_disconnect"
            cancels = [m for m in watcher.seen if m.get("exec_type") == "4"]
            assert {m["client_order_id"] for m in cancels} == {"q-1", "q-2"}
            assert all(m["end_reason"] == "cancel_on_disconnect" for m in cancels)
            assert await watcher.query("orders") == []
            assert ex.gateway.stats.peers_gone >= 1
            watcher.close()
    finally:
        ctx.destroy(linger=0)


async def test_logout_without_cod_keeps_orders_and_with_cod_cancels(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            keeper, leaver = Bot.for_account(ctx, ex, 2), Bot.for_account(ctx, ex, 2)
            await keeper.logon()
            await leaver.logon(cancel_on_disconnect=True)
            await keeper.order("k-1", "buy", 1, 590_000)
            bye = await keeper.request({"type": "logout"})
            assert bye["type"] == "logout_ack"
            assert len(await leaver.query("orders")) == 1
            bye = await leaver.request({"type": "logout"})
            assert bye["type"] == "logout_ack"
            keeper.close()
            leaver.close()
            checker = Bot.for_account(ctx, ex, 2)
            await checker.logon()
            for _ in range(50):
                if not await checker.query("orders"):
                    break
                await asyncio.sleep(0.05)
            assert await checker.query("orders") == []
            checker.close()
    finally:
        ctx.destroy(linger=0)


async def test_cancel_all_after_is_a_dead_mans_switch(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 4)
            await bot.logon(heartbeat_ms=60_000)
            await bot.order("d-1", "buy", 1, 590_000)
            ack = await bot.request({"type": "cancel_all_after", "seconds": 1})
            assert ack["type"] == "cancel_all_after_ack" and ack["seconds"] == 1
            assert ack["deadline_ts"] == ack["ts"] + 1_000_000_000
            off = await bot.request({"type": "cancel_all_after", "seconds": 0})
            assert off["deadline_ts"] == 0
            await asyncio.sleep(1.3)
            assert len(await bot.query("orders")) == 1  # disarmed: nothing happened
            await bot.request({"type": "cancel_all_after", "seconds": 1})
            done = await bot.wait_for(lambda m: m["type"] == "mass_cancel_report", 5)
            assert done["canceled"] == 1 and done["end_reason"] == "mass_cancel"
            assert await bot.query("orders") == []
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            assert ex.keys is not None
            stranger = Bot(ctx, ex.endpoints["order_entry"], keyfiles.generate(),
                           ex.keys.server.public)  # fmt: skip
            await stranger.send({"type": "logon"})
            with pytest.raises(asyncio.TimeoutError):
                await stranger.recv(timeout=1.0)
            assert ex.authenticator.refused >= 1
            assert len(ex.gateway.sessions) == 0
            stranger.close()
            friend = Bot.for_account(ctx, ex, 5)
            assert (await friend.logon())["account"] == 5
            friend.close()
    finally:
        ctx.destroy(linger=0)
