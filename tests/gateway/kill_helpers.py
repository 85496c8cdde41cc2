"""Helpers for the kill -9 and restart tests of ``crossbook serve`` (embedded and ``--role``).

- ``serve(*args)``: ``crossbook serve ARGS`` in a subprocess, its output read all along (so
  a chatty process never blocks on a full pipe); yields a ``Server`` once it has printed
  its start line(s), with the recovered journal seq and state hash when it printed them.
- ``Client``: a ``Bot`` whose messages a background task reads and feeds to ``Acked``, so
  a test can wait on replies while a flow is trading on the same session.
- ``Acked``: what the bots were told (fills, resting orders, highest ids).
- ``flow``: the seeded two-account flow (a post-only maker, an IOC taker crossing it).
- ``journal_under_load``: a state dir a real server journaled while ``flow`` traded, ended
  with SIGTERM or SIGKILL (the journal the replay and damaged-journal tests start from).
- ``check_after_restart``: every acknowledged fill is in the trade history, positions
  equal the history, resting orders are back, new ids continue past every one seen.
- ``live_l3`` (market-data snapshot service), ``replayed_l3`` (offline recovery) and
  ``journal_replay`` (``crossbook journal replay DIR --to N``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from gateway import keys as keyfiles
from gateway.auth import curve_client
from gateway.exchange_config import Endpoints, load_exchange_config
from gateway.md_translate import public_l3
from gateway.recovery import recover
from tests.gateway.serve_helpers import WAIT_S, Bot
from tests.gateway.test_serve_processes import write_config

START_S = 30.0
HASH = re.compile(r"journal seq (\d+)[,;]? state hash ([0-9a-f]{64})")


@dataclass
class Server:
    proc: asyncio.subprocess.Process
    banner: str
    journal_seq: int | None
    state_hash: str | None
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    async def kill(self) -> None:
        """SIGKILL, and wait for it to be gone."""
        self.proc.kill()
        await self.proc.wait()

    async def stop(self) -> int:
        """SIGTERM; the exit code once it is gone and its output read."""
        self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), START_S)
        await asyncio.sleep(0)  # the readers take the last lines
        return self.proc.returncode  # type: ignore[return-value]


async def _read_lines(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode(errors="replace"))


@contextlib.asynccontextmanager
async def serve(*args: str) -> AsyncIterator[Server]:
    """``crossbook serve ARGS``; yields once it has started (killed on leaving if still up)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    srv = Server(proc, "", None, None)
    readers = [asyncio.create_task(_read_lines(proc.stdout, srv.out)),
               asyncio.create_task(_read_lines(proc.stderr, srv.err))]  # fmt: skip
    try:
        role = "--role" in args
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_S
        while True:
            banner = srv.stdout
            if ("Ctrl-C" in banner) or (role and banner.endswith("\n")):
                break
            assert proc.returncode is None, f"serve exited {proc.returncode}: {srv.stderr}"
            assert loop.time() < deadline, f"no start line within {START_S} s: {srv.stderr}"
            await asyncio.sleep(0.02)
        srv.banner = banner
        m = HASH.search(banner)
        if m is not None:
            srv.journal_seq, srv.state_hash = int(m.group(1)), m.group(2)
        yield srv
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.gather(*readers, return_exceptions=True)


async def run_serve(*args: str, timeout: float = START_S) -> tuple[int, str, str]:
    """``crossbook serve ARGS`` expected to exit on its own: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@dataclass
class Acked:
    """What the bots were told."""

    fills: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    """account -> [(trade_id, signed qty, price)] of acknowledged fills."""
    open_orders: dict[int, int] = field(default_factory=dict)
    """order id -> leaves of account ``resting``'s orders, as last reported (gone once
    terminal)."""
    max_order_id: int = 0
    max_trade_id: int = 0
    max_exec_id: int = 0
    resting: int = 1

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
        if account == self.resting and oid is not None:
            if msg["ord_status"] in ("0", "1"):
                self.open_orders[oid] = msg["leaves_qty"]
            else:
                self.open_orders.pop(oid, None)

    def n_fills(self) -> int:
        return sum(len(v) for v in self.fills.values())


class Client:
    """A bot session whose messages a task reads all along (into ``bot.seen`` and
    ``acked``); replies are found by polling ``seen``, so a flow can trade meanwhile."""

    def __init__(self, bot: Bot, acked: Acked) -> None:
        self.bot = bot
        self.acked = acked
        self.task: asyncio.Task | None = None
        self.start()

    def start(self) -> None:
        assert self.task is None or self.task.done()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            self.acked.see(await self.bot.recv(timeout=3600))

    async def pause(self) -> None:
        """Stop reading (only when nothing can arrive, or before closing)."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def close(self) -> None:
        await self.pause()
        self.bot.close()

    async def send(self, msg: dict) -> int:
        return await self.bot.send(msg)

    async def wait_for(self, pred: Callable[[dict], bool], timeout: float = WAIT_S,
                       since: int = 0) -> dict:  # fmt: skip
        """The first message from index ``since`` of ``seen`` matching ``pred``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        i = since
        while True:
            seen = self.bot.seen
            while i < len(seen):
                if pred(seen[i]):
                    return seen[i]
                i += 1
            task = self.task
            if task is not None and task.done() and not task.cancelled():
                task.result()  # a reader that failed (a seq gap, a bad message) fails here
            if loop.time() > deadline:
                raise TimeoutError(f"no matching message within {timeout} s")
            await asyncio.sleep(0.005)

    async def request(self, msg: dict, timeout: float = WAIT_S) -> dict:
        since = len(self.bot.seen)
        req_id = await self.send(msg)
        return await self.wait_for(lambda m: m.get("req_id") == req_id, timeout, since)

    async def logon(self, **fields: Any) -> dict:
        ack = await self.request({"type": "logon", **fields})
        assert ack["type"] == "logon_ack", ack
        return ack

    async def query(self, what: str, **fields: Any) -> list[dict]:
        since = len(self.bot.seen)
        req_id = await self.send({"type": f"query_{what}", **fields})
        items: list[dict] = []
        while True:
            m = await self.wait_for(lambda m: m.get("req_id") == req_id, since=since)
            assert m["type"] == "query_reply", m
            items += m["items"]
            since = self.bot.seen.index(m) + 1
            if m["last"]:
                return items

    async def order(self, clid: str, side: str, qty: int, price: int | None,
                    instrument: str = "BTC-PERP", **fields: Any) -> dict:  # fmt: skip
        """Place an order; its first report (New or Rejected) or a reject."""
        since = len(self.bot.seen)
        req_id = await self.send({"type": "new_order", "instrument": instrument, "side": side,
                                  "qty": qty, "price": price, "client_order_id": clid,
                                  **fields})  # fmt: skip
        return await self.wait_for(
            lambda m: m.get("req_id") == req_id
            and (m["type"] == "reject" or m.get("exec_type") in ("0", "8")), since=since)


def bot(ctx: zmq.asyncio.Context, eps: Endpoints, state: Path, account: int) -> Bot:
    pair = keyfiles.load_account_keys(state, account)
    return Bot(ctx, eps.order_entry, pair, keyfiles.load_server_public(state))


def clients(ctx: zmq.asyncio.Context, eps: Endpoints, state: Path, acked: Acked,
            accounts: tuple[int, ...] = (1, 2)) -> list[Client]:  # fmt: skip
    return [Client(bot(ctx, eps, state, a), acked) for a in accounts]


async def flow(maker: Client, taker: Client, rng: random.Random, n: int, tag: str) -> None:
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


async def stop_task(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@dataclass
class Journaled:
    cfg: Path
    state: Path
    server: Server
    """The stopped (or killed) server, its output kept."""
    acked: Acked


async def journal_under_load(tmp: Path, *, seed: int, tag: str, seconds: float,
                             kill: bool = False, **exchange: int) -> Journaled:  # fmt: skip
    """A state dir a real ``crossbook serve`` journaled while the seeded maker/taker
    ``flow`` traded for ``seconds``, on a config of its own (``write_config(tmp,
    **exchange)``). ``kill``: SIGKILL under load; else the flow stops first, then SIGTERM
    (exit code 0 checked)."""
    cfg, eps, state = write_config(tmp, **exchange)
    acked = Acked()
    ctx = zmq.asyncio.Context()
    try:
        async with serve("--config", str(cfg)) as srv:
            maker, taker = clients(ctx, eps, state, acked)
            await maker.logon()
            await taker.logon()
            trading = asyncio.create_task(flow(maker, taker, random.Random(seed), 10_000, tag))
            await asyncio.sleep(seconds)
            if kill:
                await srv.kill()
            await stop_task(trading)
            if not kill:
                await asyncio.sleep(0.3)
            await maker.close()
            await taker.close()
            if not kill:
                assert await srv.stop() == 0, srv.stderr[-2000:]
    finally:
        ctx.destroy(linger=0)
    return Journaled(cfg, state, srv, acked)


async def live_l3(ctx: zmq.asyncio.Context, eps: Endpoints, state: Path) -> list:
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


def replayed_l3(cfg_path: Path, state: Path, *, earliest: bool = False,
                to_seq: int | None = None) -> tuple[list, str, int]:  # fmt: skip
    """The BTC-PERP book, state hash and seq an offline recovery of ``state`` gives
    (``earliest``: from the configuration, through the whole journal)."""
    cfg = replace(load_exchange_config(cfg_path), state_dir=state)
    rec = recover(cfg, repair=False, earliest=earliest, to_seq=to_seq)
    if earliest:
        assert rec.snapshot is None, "the journal does not reach back to the configuration"
    l3 = public_l3(rec.matcher.books["BTC-PERP"].l3())
    return [l3["bids"], l3["asks"]], rec.state_hash(), rec.core.seq


def journal_replay(state: Path, to: int | None = None) -> tuple[int, str]:
    """``crossbook journal replay STATE [--to N]``: (journal seq, state hash) it prints."""
    args = ["--to", str(to)] if to is not None else []
    out = subprocess.run([sys.executable, "-m", "gateway", "journal", "replay", str(state),
                          *args], capture_output=True, check=True, timeout=120)  # fmt: skip
    m = HASH.search(out.stdout.decode())
    assert m is not None, out
    seq = int(m.group(1))
    assert to is None or seq == to
    return seq, m.group(2)


def stopped_hash(srv: Server) -> tuple[int, str]:
    """The ``stopped at journal seq N state hash H`` a clean stop logged."""
    found = [m for m in HASH.finditer(srv.stderr) if "stopped at" in
             srv.stderr[max(0, m.start() - 12):m.start()]]  # fmt: skip
    assert found, srv.stderr[-2000:]
    return int(found[-1].group(1)), found[-1].group(2)


def signed(trade: dict) -> int:
    return trade["qty"] * (1 if trade["side"] == "buy" else -1)


async def check_history(acked: Acked, by_account: dict[int, Client]) -> dict[int, int]:
    """Every acknowledged fill is in its account's trade history with the same quantity
    and price, and each position equals the history; return the positions."""
    positions = {}
    for account, c in by_account.items():
        trades = {t["trade_id"]: t for t in await c.query("trades", limit=1000)}
        assert len(trades) < 1000, "the history is truncated: keep the flow shorter"
        for trade_id, qty, price in acked.fills.get(account, []):
            t = trades.get(trade_id)
            assert t is not None, f"acknowledged fill {trade_id} of account {account} lost"
            assert (signed(t), t["price"]) == (qty, price)
        [pos] = await c.query("positions", instrument="BTC-PERP") or [{"qty": 0}]
        assert pos["qty"] == sum(signed(t) for t in trades.values() if
                                 t["instrument"] == "BTC-PERP")  # fmt: skip
        positions[account] = pos["qty"]
    return positions


async def check_after_restart(srv: Server, state: Path, maker: Client, taker: Client,
                              acked: Acked, tag: str) -> None:  # fmt: skip
    """After a restart of the server (or of its clearing role): see the module docstring."""
    if srv.state_hash is not None:  # the recovered state is exactly what the journal replays to
        assert srv.journal_seq is not None
        assert journal_replay(state, srv.journal_seq)[1] == srv.state_hash
    await check_history(acked, {1: maker, 2: taker})
    # resting orders that were never reported finished are still there
    open_now = {o["order_id"]: o for o in await maker.query("orders")}
    finished = {o["order_id"] for o in await maker.query("orders", open_only=False)
                if o["ord_status"] not in ("0", "1")}  # fmt: skip
    for oid, leaves in list(acked.open_orders.items()):
        assert oid in open_now or oid in finished, f"resting order {oid} vanished"
        if oid in open_now:
            assert open_now[oid]["leaves_qty"] <= leaves
        else:  # filled in a batch journaled before the kill, never acknowledged: known now
            del acked.open_orders[oid]
    # ids continue past everything acknowledged
    max_order, max_exec, max_trade = acked.max_order_id, acked.max_exec_id, acked.max_trade_id
    new = await maker.order(f"{tag}-after", "sell", 1, 600_100)
    assert new["exec_type"] == "0", new
    assert new["order_id"] > max_order and new["exec_id"] > max_exec
    hit = await taker.order(f"{tag}-after-t", "buy", 1, 600_100, tif="ioc")
    fill = await taker.wait_for(lambda m: m.get("exec_type") == "F"
                                and m.get("client_order_id") == f"{tag}-after-t")  # fmt: skip
    assert hit["order_id"] > new["order_id"] and fill["trade_id"] > max_trade
