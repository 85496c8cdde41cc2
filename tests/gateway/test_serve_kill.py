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
import contextlib
import random
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from gateway import keys as keyfiles
from gateway.auth import curve_client
from gateway.exchange_config import Endpoints, load_exchange_config
from gateway.md_translate import public_l3
from gateway.recovery import recover
from tests.gateway.serve_helpers import Bot
from tests.gateway.test_serve_processes import START_S, write_config

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

_HASH = re.compile(rb"journal seq (\d+)[,;]? state hash ([0-9a-f]{64})")


@dataclass
class Server:
    proc: asyncio.subprocess.Process
    banner: bytes
    journal_seq: int
    state_hash: str


@contextlib.asynccontextmanager
async def serve(*args: str) -> AsyncIterator[Server]:
    """``crossbook serve ARGS`` in a subprocess; yields once its banner is printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = b""
        while b"Ctrl-C" not in banner and b"--role" not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), START_S)
            assert line, banner + (await proc.stderr.read())  # type: ignore[union-attr]
            banner += line
        m = _HASH.search(banner)
        assert m is not None, banner
        yield Server(proc, banner, int(m.group(1)), m.group(2).decode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@dataclass
class Acked:
    """What the bots were told before the kill."""

    fills: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    """account -> [(trade_id, signed qty, price)] of acknowledged fills."""
    open_orders: dict[int, int] = field(default_factory=dict)
    """maker order id -> leaves, as last reported (gone once terminal)."""
    max_order_id: int = 0
    max_trade_id: int = 0
    max_exec_id: int = 0

    def see(self, msg: dict) -> None:
        if msg.get("type") != "exec_report":
            return
        oid, account = msg["order_id"], msg["account"]
        self.max_exec_id = max(self.max_exec_id, msg["exec_id"])
        if oid is not None:
            self.max_order_id = max(self.max_order_id, oid)
        if msg["exec_type"] == "F":
            sign = 1 if msg["side"] == "buy" else -1
            self.fills.setdefault(account, []).append(
                (msg["trade_id"], sign * msg["last_qty"], msg["last_px"]))
            self.max_trade_id = max(self.max_trade_id, msg["trade_id"])
        if account == 1 and oid is not None:
            if msg["ord_status"] in ("0", "1"):
                self.open_orders[oid] = msg["leaves_qty"]
            else:
                self.open_orders.pop(oid, None)


async def _pump(bot: Bot, acked: Acked) -> None:
    while True:
        acked.see(await bot.recv(timeout=3600))


async def _flow(maker: Bot, taker: Bot, rng: random.Random, n: int, tag: str) -> None:
    """``n`` cycles: a resting maker sell or buy, then (often) a taker IOC crossing it."""
    for i in range(n):
        side = rng.choice(("buy", "sell"))
        price = 600_000 + rng.randint(-4, 4) * 5 * (1 if side == "sell" else -1)
        await maker.send({"type": "new_order", "instrument": "BTC-PERP", "side": side,
                          "qty": rng.randint(1, 5), "price": price, "post_only": True,
                          "client_order_id": f"{tag}m{i}"})  # fmt: skip
        if rng.random() < 0.6:
            await taker.send({"type": "new_order", "instrument": "BTC-PERP",
                              "side": "sell" if side == "buy" else "buy",
                              "qty": rng.randint(1, 4), "price": price, "tif": "ioc",
                              "client_order_id": f"{tag}t{i}"})  # fmt: skip
        await asyncio.sleep(0.002)


def _bots(ctx: zmq.asyncio.Context, eps: Endpoints, state: Path) -> tuple[Bot, Bot]:
    server_pub = keyfiles.load_server_public(state)
    return tuple(Bot(ctx, eps.order_entry, keyfiles.load_account_keys(state, a), server_pub)
                 for a in (1, 2))  # type: ignore[return-value]


async def _l3(ctx: zmq.asyncio.Context, eps: Endpoints, state: Path) -> list:
    """The live BTC-PERP book from the market-data snapshot service, orders in priority."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    curve_client(sock, keyfiles.load_account_keys(state, 6), keyfiles.load_server_public(state))
    sock.connect(eps.snapshots)
    try:
        await sock.send(msgpack.packb({"v": 1, "type": "snapshot", "sym": "BTC-PERP",
                                       "req_id": 1, "l3": True}))  # fmt: skip
        reply = msgpack.unpackb(await asyncio.wait_for(sock.recv(), 10), raw=False)
    finally:
        sock.close()
    return [reply["l3"]["bids"], reply["l3"]["asks"]]


def _replayed_l3(cfg_path: Path, state: Path) -> tuple[list, str, int]:
    cfg = replace(load_exchange_config(cfg_path), state_dir=state)
    rec = recover(cfg, repair=False)
    l3 = public_l3(rec.matcher.books["BTC-PERP"].l3())
    return [l3["bids"], l3["asks"]], rec.state_hash(), rec.core.seq


def _journal_replay(state: Path, to: int) -> str:
    out = subprocess.run([sys.executable, "-m", "gateway", "journal", "replay", str(state),
                          "--to", str(to)], capture_output=True, check=True, timeout=120)
    m = _HASH.search(out.stdout)
    assert m is not None, out
    assert int(m.group(1)) == to
    return m.group(2).decode()


async def _check_after_restart(srv: Server, ctx: zmq.asyncio.Context, eps: Endpoints,
                               state: Path, acked: Acked, tag: str) -> None:  # fmt: skip
    # the recovered state is exactly what the journal replays to
    assert _journal_replay(state, srv.journal_seq) == srv.state_hash
    maker, taker = _bots(ctx, eps, state)
    try:
        for b in (maker, taker):
            await b.logon()
        for account, bot in ((1, maker), (2, taker)):
            trades = {t["trade_id"]: t for t in await bot.query("trades", limit=1000)}
            for trade_id, qty, price in acked.fills.get(account, []):
                t = trades.get(trade_id)
                assert t is not None, f"acknowledged fill {trade_id} of account {account} lost"
                assert (t["qty"] * (1 if t["side"] == "buy" else -1), t["price"]) == (qty, price)
            [pos] = await bot.query("positions") or [{"qty": 0}]
            assert pos["qty"] == sum(t["qty"] * (1 if t["side"] == "buy" else -1)
                                     for t in trades.values())  # fmt: skip
        # resting orders that were never reported finished are still there
        open_now = {o["order_id"]: o for o in await maker.query("orders")}
        finished = {o["order_id"] for o in await maker.query("orders", open_only=False)
                    if o["ord_status"] not in ("0", "1")}  # fmt: skip
        for oid, leaves in acked.open_orders.items():
            assert oid in open_now or oid in finished, f"resting order {oid} vanished"
            if oid in open_now:
                assert open_now[oid]["leaves_qty"] <= leaves
        # ids continue past everything acknowledged
        new = await maker.order(f"{tag}-after", "sell", 1, 600_100)
        assert new["order_id"] > acked.max_order_id and new["exec_id"] > acked.max_exec_id
        hit = await taker.order(f"{tag}-after-t", "buy", 1, 600_100, tif="ioc")
        fill = await taker.wait_for(lambda m: m.get("exec_type") == "F"
                                    and m.get("client_order_id") == f"{tag}-after-t")
        assert hit["order_id"] > new["order_id"] and fill["trade_id"] > acked.max_trade_id
        acked.see(new)
        acked.see(fill)
        acked.max_order_id = max(acked.max_order_id, hit["order_id"])
    finally:
        maker.close()
        taker.close()


async def test_kill_9_under_load_gives_back_every_acknowledged_fill(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path)
    rng = random.Random(20261206)
    acked = Acked()
    ctx = zmq.asyncio.Context()
    try:
        for cycle in range(3):
            async with serve("--config", str(cfg)) as srv:
                if cycle:
                    await _check_after_restart(srv, ctx, eps, state, acked, f"r{cycle}")
                maker, taker = _bots(ctx, eps, state)
                await maker.logon()
                await taker.logon()
                pumps = [asyncio.create_task(_pump(b, acked)) for b in (maker, taker)]
                flow = asyncio.create_task(_flow(maker, taker, rng, 10_000, f"c{cycle}"))
                await asyncio.sleep(rng.uniform(0.4, 1.2))  # a random moment under load
                srv.proc.send_signal(signal.SIGKILL)
                await srv.proc.wait()
                await asyncio.sleep(0.05)  # replies already on the wire are read
                for t in (flow, *pumps):
                    t.cancel()
                await asyncio.gather(flow, *pumps, return_exceptions=True)
                maker.close()
                taker.close()
            assert sum(len(v) for v in acked.fills.values()) > 0
        # a last restart, checked, then stopped cleanly: the books survive a SIGTERM too
        async with serve("--config", str(cfg)) as srv:
            await _check_after_restart(srv, ctx, eps, state, acked, "last")
            live = await _l3(ctx, eps, state)
            srv.proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(srv.proc.communicate(), START_S)
            assert srv.proc.returncode == 0, err[-2000:]
        replayed, replay_hash, seq = _replayed_l3(cfg, state)
        assert replayed == live  # the same resting orders in the same queue order
        assert _journal_replay(state, seq) == replay_hash
    finally:
        ctx.destroy(linger=0)
