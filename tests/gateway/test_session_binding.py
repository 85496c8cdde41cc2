"""Routing-id takeover: a session is bound to its connection and its CURVE-authenticated
account, never to a ZeroMQ routing id. The issue's scenario: account 1 connects with a
fixed routing id, logs on, rests an order and disconnects; account 3 connects with the same
routing id and listens; account 4 trades against the order. Account 3 gets nothing of
account 1's, and what account 3 sends ends no session of account 1's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from gateway import keys as keyfiles
from tests.gateway.serve_helpers import Bot, running_exchange

pytestmark = pytest.mark.timeout(60)
RID = b"fixed-routing-id"


def _bot(ctx: zmq.asyncio.Context, ex, account: int, rid: bytes | None = None) -> Bot:
    assert ex.keys is not None
    pair = keyfiles.load_secret(ex.keys.files[account])
    b = Bot.__new__(Bot)
    b.sock = ctx.socket(zmq.DEALER)
    b.sock.linger = 0
    if rid is not None:
        b.sock.routing_id = rid
    from gateway.auth import curve_client

    curve_client(b.sock, pair, ex.keys.server.public)
    b.sock.connect(ex.endpoints["order_entry"])
    b.seen, b.last_seq, b._req = [], 0, 0
    return b


async def _silent(b: Bot, seconds: float) -> list[dict]:
    got = []
    with pytest.raises(TimeoutError):
        while True:
            got.append(await b.recv(seconds))
    return got


@pytest.mark.parametrize("cod", [True, False])
async def test_a_reused_routing_id_gets_nothing_of_the_previous_account(
        tmp_path: Path, cod: bool) -> None:  # fmt: skip
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            victim = _bot(ctx, ex, 1, RID)
            await victim.logon(cancel_on_disconnect=cod, heartbeat_ms=30_000)
            rest = await victim.order("v-sell", "sell", 5, 600_000)
            assert rest["exec_type"] == "0"
            gone = ex.gateway.stats.peers_gone
            victim.close()  # disconnects; its session must not outlive the connection
            intruder = _bot(ctx, ex, 3, RID)  # connects (CURVE) and just listens
            await asyncio.sleep(0.3)
            for _ in range(100):  # the gateway has seen the connection close (a busy
                if ex.gateway.stats.peers_gone > gone:  # machine may take a while): only
                    break  # then does the taker come, so cancel-on-disconnect came first
                await asyncio.sleep(0.05)
            assert ex.gateway.stats.peers_gone > gone
            taker = Bot.for_account(ctx, ex, 4)
            await taker.logon()
            took = await taker.order("t-buy", "buy", 5, 600_000, tif="ioc")
            assert took["exec_type"] == "0"
            leaked = await _silent(intruder, 1.0)
            assert leaked == [], leaked  # nothing of account 1's reached account 3
            # account 3 speaks on that routing id: it gets its own session, account 1's
            # orders are untouched by it
            ack = await intruder.logon()
            assert ack["account"] == 3
            assert all(m.get("account") in (None, 3) for m in intruder.seen)
            eng = ex.clearing.engine
            orders_1 = [o for o in eng.orders.values() if o.account == 1]
            if cod:  # the disconnect itself cancelled it, before anyone could trade
                assert orders_1 == [] and eng.position(4, "BTC-PERP")[0] == 0
                assert ex.gateway.stats.peers_gone >= 1
            else:  # it traded; the fill went to no one but account 1's next session
                assert eng.position(1, "BTC-PERP")[0] == -5 and eng.position(4, "BTC-PERP")[0] == 5
                again = Bot.for_account(ctx, ex, 1)
                await again.logon()
                trades = await again.query("trades")
                assert [(t["qty"], t["side"]) for t in trades] == [(5, "sell")]
                again.close()
            intruder.close()
            taker.close()
    finally:
        ctx.destroy(linger=0)
