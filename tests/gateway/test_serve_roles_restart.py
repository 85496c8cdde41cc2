"""kill -9 of one role of ``crossbook serve --role`` under load, restarted alone.

Three processes from one configuration (matching, clearing, gateway); the seeded
two-account flow of ``test_serve_kill`` trades through them; one role is killed with
SIGKILL at a seeded random moment and started again while the other two keep running.

- **clearing**: restarted, it recovers (its start line's state hash equals
  ``crossbook journal replay DIR --to N``), loads the running matcher with the recovered
  books and the running gateway sends its live sessions again: the bots, never logged on
  again, keep trading; every fill acknowledged before the kill is in the history; a
  cancel-on-disconnect session that stayed connected keeps its resting orders, one that
  logged out while clearing was down has them cancelled.
- **matching**: clearing sees the new matcher run, loads it with the state recomputed from
  snapshot + journal and trading continues; nothing is applied twice (positions equal the
  trade history and each other); the live L3 book equals an offline replay of the journal.
- **gateway**: sessions are gone (a request before a new logon is ``NOT_LOGGED_ON``); after
  50 silent heartbeats clearing cancels the orders of the accounts whose session asked for
  cancel-on-disconnect, and only those; a client order id used before the restart is still
  ``DUPLICATE_REQUEST``.

Each test ends with a clean SIGTERM of the three roles (exit 0), and the state clearing
logged at its stop equals an offline replay of the whole journal from the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from tests.gateway.kill_helpers import (
    Acked,
    Client,
    Server,
    check_after_restart,
    check_history,
    clients,
    flow,
    live_l3,
    replayed_l3,
    serve,
    stop_task,
    stopped_hash,
)
from tests.gateway.test_serve_processes import write_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

GATEWAY_LOST_S = 50 * 0.05
"""Clearing declares a silent gateway lost after 50 heartbeats (``stream_heartbeat_ms`` 50)."""


class Roles:
    """The three role processes of one configuration, each restartable alone."""

    def __init__(self, stack: contextlib.AsyncExitStack, cfg: Path) -> None:
        self.stack = stack
        self.cfg = cfg
        self.procs: dict[str, Server] = {}

    async def start(self, role: str) -> Server:
        srv = await self.stack.enter_async_context(
            serve("--config", str(self.cfg), "--role", role))
        self.procs[role] = srv
        return srv

    async def start_all(self) -> None:
        for role in ("matching", "clearing", "gateway"):
            await self.start(role)

    async def stop_all(self) -> Server:
        """SIGTERM gateway, clearing, matching (each exits 0); the clearing process."""
        for role in ("gateway", "clearing", "matching"):
            srv = self.procs[role]
            assert await srv.stop() == 0, f"{role}: {srv.stderr[-2000:]}"
        return self.procs["clearing"]


async def _kill_under_load(roles: Roles, role: str, maker: Client, taker: Client,
                           rng: random.Random, tag: str) -> None:  # fmt: skip
    trading = asyncio.create_task(flow(maker, taker, rng, 10_000, tag))
    await asyncio.sleep(rng.uniform(0.4, 1.2))  # a random moment under load
    await roles.procs[role].kill()
    await stop_task(trading)
    await asyncio.sleep(0.05)  # replies already on the wire are read


async def _trade_a_while(maker: Client, taker: Client, rng: random.Random, tag: str,
                         seconds: float) -> None:  # fmt: skip
    trading = asyncio.create_task(flow(maker, taker, rng, 10_000, tag))
    await asyncio.sleep(seconds)
    await stop_task(trading)
    await asyncio.sleep(0.3)  # the last answers come back


async def _end_and_compare(roles: Roles, ctx: zmq.asyncio.Context, cfg: Path, eps: object,
                           state: Path, gone: frozenset[int] = frozenset()) -> None:  # fmt: skip
    """The live book, then a clean stop; both equal a replay of the whole journal.

    ``gone``: orders of a cancel-on-disconnect session the test just closed. The live book
    is read once they have left it: read before, it would race the gateway noticing the
    disconnect, and the cancels would reach the journal after the read."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        live = await live_l3(ctx, eps, state)  # type: ignore[arg-type]
        if not gone & {row[0] for side in live for row in side}:
            break
        assert loop.time() < deadline, "the closed session's orders were never cancelled"
        await asyncio.sleep(0.05)
    clearing = await roles.stop_all()
    seq, stopped = stopped_hash(clearing)
    replayed, replay_hash, replay_seq = replayed_l3(cfg, state, earliest=True)
    assert (replay_seq, replay_hash) == (seq, stopped)
    assert replayed == live  # the same resting orders in the same queue order


async def test_clearing_killed_under_load_and_restarted_alone(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path, snapshot_every_fills=300)
    rng = random.Random(8_2026_1)
    acked = Acked()
    ctx = zmq.asyncio.Context()
    try:
        async with contextlib.AsyncExitStack() as stack:
            roles = Roles(stack, cfg)
            await roles.start_all()
            maker, taker, leaver = clients(ctx, eps, state, acked, (1, 2, 3))
            await maker.logon(cancel_on_disconnect=True)
            await taker.logon()
            await leaver.logon(cancel_on_disconnect=True)
            for i in range(2):
                r = await leaver.order(f"leaver{i}", "buy", 1, 585_000 - 5 * i)
                assert r["exec_type"] == "0", str(r)
            loop = asyncio.get_running_loop()
            for cycle in range(2):
                await _kill_under_load(roles, "clearing", maker, taker, rng, f"c{cycle}")
                assert acked.n_fills() > 0
                trades_before = acked.max_trade_id
                if cycle == 0:  # a cancel-on-disconnect session ends while clearing is down
                    assert (await leaver.request({"type": "logout"}))["type"] == "logout_ack"
                    await leaver.close()
                clearing = await roles.start("clearing")
                restarted = loop.time()
                assert clearing.journal_seq is not None and clearing.journal_seq > 0
                # the same sessions, never logged on again: the state is all there
                await check_after_restart(clearing, state, maker, taker, acked, f"r{cycle}")
                await maker.wait_for(lambda m, t=trades_before: m.get("exec_type") == "F"
                                     and m["trade_id"] > t)  # fmt: skip
                if cycle == 0:  # the session that ended has its orders cancelled
                    [back] = clients(ctx, eps, state, Acked(), (3,))
                    await back.logon()
                    deadline = loop.time() + 10
                    while await back.query("orders"):
                        assert loop.time() < deadline, "the ended session's orders stay"
                        await asyncio.sleep(0.1)
                    await back.close()
            assert "sessions sent again" in roles.procs["gateway"].stderr
            # past the time a silent gateway is lost: the live one is not, and the
            # cancel-on-disconnect session that stayed connected keeps its orders
            await _trade_a_while(maker, taker, rng, "late",
                                 max(1.0, GATEWAY_LOST_S + 1.0 - (loop.time() - restarted)))
            cod = [m for m in maker.bot.seen if m.get("end_reason") == "cancel_on_disconnect"]
            assert not cod, cod[:3]
            open_now = {o["order_id"] for o in await maker.query("orders")}
            assert set(acked.open_orders) <= open_now, "resting orders vanished"
            await check_history(acked, {1: maker, 2: taker})
            cancelled = frozenset(acked.open_orders)  # the maker's: cancel-on-disconnect
            await maker.close()
            await taker.close()
            await _end_and_compare(roles, ctx, cfg, eps, state, gone=cancelled)
    finally:
        ctx.destroy(linger=0)


async def test_matching_killed_under_load_and_restarted_alone(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path, snapshot_every_fills=300)
    rng = random.Random(8_2026_2)
    acked = Acked()
    ctx = zmq.asyncio.Context()
    try:
        async with contextlib.AsyncExitStack() as stack:
            roles = Roles(stack, cfg)
            await roles.start_all()
            maker, taker = clients(ctx, eps, state, acked)
            await maker.logon()
            await taker.logon()
            for cycle in range(2):
                await _kill_under_load(roles, "matching", maker, taker, rng, f"c{cycle}")
                trades_before = acked.max_trade_id
                await roles.start("matching")
                # clearing loads the new matcher run; the sessions trade on
                await check_after_restart(roles.procs["matching"], state, maker, taker, acked,
                                          f"r{cycle}")  # fmt: skip
                await maker.wait_for(lambda m, t=trades_before: m.get("exec_type") == "F"
                                     and m["trade_id"] > t)  # fmt: skip
            reloads = roles.procs["clearing"].stderr.count("does not hold this run's state")
            assert reloads == 2, roles.procs["clearing"].stderr[-2000:]
            await _trade_a_while(maker, taker, rng, "late", 0.5)
            # nothing applied twice: each position is its own trade history, and the two
            # accounts trading only with each other hold opposite positions
            positions = await check_history(acked, {1: maker, 2: taker})
            assert positions[1] == -positions[2]
            assert acked.n_fills() == len({(a, t) for a, fills in acked.fills.items()
                                           for t, _, _ in fills})  # no fill reported twice
            await maker.close()
            await taker.close()
            await _end_and_compare(roles, ctx, cfg, eps, state)
    finally:
        ctx.destroy(linger=0)


async def test_gateway_killed_under_load_and_restarted_alone(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path)
    rng = random.Random(8_2026_3)
    acked = Acked()
    ctx = zmq.asyncio.Context()
    try:
        async with contextlib.AsyncExitStack() as stack:
            roles = Roles(stack, cfg)
            await roles.start_all()
            maker, taker, quiet = clients(ctx, eps, state, acked, (1, 2, 3))
            await maker.logon(cancel_on_disconnect=True)
            await taker.logon(cancel_on_disconnect=False)
            await quiet.logon()
            # resting orders away from the flow's prices: the maker's (cancel-on-disconnect)
            # and two accounts' without it
            kept = {}
            for i in range(3):
                r = await maker.order(f"far-m{i}", "sell", 1, 615_000 + 5 * i)
                assert r["exec_type"] == "0", str(r)
                r = await quiet.order(f"far-q{i}", "buy", 2, 585_000 - 5 * i)
                assert r["exec_type"] == "0", str(r)
                kept[r["order_id"]] = 3
            r = await taker.order("far-t", "buy", 1, 584_000)
            assert r["exec_type"] == "0", r
            kept[r["order_id"]] = 2
            await _kill_under_load(roles, "gateway", maker, taker, rng, "c0")
            killed = asyncio.get_running_loop().time()
            assert acked.n_fills() > 0
            filled_clid = next(m["client_order_id"] for m in taker.bot.seen
                               if m.get("exec_type") == "F")  # fmt: skip
            for c in (maker, taker, quiet):
                await c.pause()  # nothing arrives from a dead gateway
                c.bot.last_seq = 0  # a new gateway: new sessions, their seq starts over
                c.start()
            await roles.start("gateway")
            # the sessions are gone: the bots' DEALERs reconnect by themselves, and must
            # log on again
            r = await taker.request({"type": "query_positions"}, timeout=15)
            assert r["type"] == "reject" and r["reason_name"] == "NOT_LOGGED_ON", r
            for c in (maker, taker, quiet):
                await c.logon()
            # clearing loses the silent gateway and cancels the cancel-on-disconnect
            # account's orders, and only those
            loop = asyncio.get_running_loop()
            while await maker.query("orders"):
                assert loop.time() - killed < GATEWAY_LOST_S + 10, "orders never cancelled"
                await asyncio.sleep(0.2)
            assert loop.time() - killed > GATEWAY_LOST_S - 0.5
            ended = {o["client_order_id"] for o in await maker.query("orders", open_only=False)
                     if o["ord_status"] == "4"}  # fmt: skip
            assert {f"far-m{i}" for i in range(3)} <= ended
            for c, account in ((quiet, 3), (taker, 2)):
                still = {o["order_id"] for o in await c.query("orders")}
                assert still == {oid for oid, a in kept.items() if a == account}
            # idempotency lives in the journal: used client order ids are still refused
            for c, clid in ((taker, filled_clid), (maker, "far-m0")):
                r = await c.order(clid, "buy", 1, 600_000, tif="ioc")
                assert r["type"] == "reject" and r["reason_name"] == "DUPLICATE_REQUEST", r
            # every acknowledged fill is there, and trading continues
            await check_history(acked, {1: maker, 2: taker})
            trades_before = acked.max_trade_id
            await _trade_a_while(maker, taker, rng, "after", 0.5)
            assert acked.max_trade_id > trades_before
            await check_history(acked, {1: maker, 2: taker})
            for c in (maker, taker, quiet):
                await c.close()
            clearing = await roles.stop_all()
            seq, stopped = stopped_hash(clearing)
            _, replay_hash, replay_seq = replayed_l3(cfg, state, earliest=True)
            assert (replay_seq, replay_hash) == (seq, stopped)
    finally:
        ctx.destroy(linger=0)
