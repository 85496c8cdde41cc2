"""SIGTERM stops a loaded ``crossbook serve`` within the drain timeout (issue 9).

A real server process on 127.0.0.1: one account floods new orders at full speed, another
with resting orders sends bursts of ``query_orders``, a third trades; the flood goes on
while the server stops. It must exit 0 within ``drain_timeout_ms`` plus a small margin,
having written its final snapshot, and the state it logged at the stop must be what the
journal replays to and what a restart recovers (``gateway.stopping``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from gateway import keys as keyfiles
from gateway.exchange_config import Endpoints
from tests.gateway.kill_helpers import journal_replay, serve, stopped_hash
from tests.gateway.test_serve_processes import write_config

pytestmark = pytest.mark.timeout(60)
DRAIN_MS = 3000
MARGIN_S = 0.5
"""Process exit after the deadline: the interpreter's teardown, the OS reaping it."""
RESTING = 1000


def _dealer(ctx: zmq.Context, eps: Endpoints, state: Path, account: int) -> zmq.Socket:
    pair = keyfiles.load_account_keys(state, account)
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.sndhwm = sock.rcvhwm = 1_000_000
    sock.curve_secretkey, sock.curve_publickey = pair.secret, pair.public
    sock.curve_serverkey = keyfiles.load_server_public(state)
    sock.connect(eps.order_entry)
    return sock


def _logon(sock: zmq.Socket) -> None:
    sock.send(msgpack.packb({"v": 1, "type": "logon", "req_id": 1, "heartbeat_ms": 60_000}))
    assert sock.poll(10_000), "no logon_ack"
    assert msgpack.unpackb(sock.recv())["type"] == "logon_ack"


def _order(n: int, price: int, clid: str) -> bytes:
    return msgpack.packb({"v": 1, "type": "new_order", "req_id": n, "instrument": "BTC-PERP",
                          "side": "buy", "qty": 1, "price": price, "client_order_id": clid})


class Load:
    """The flooder and the querier, on threads of their own, until ``stop``."""

    def __init__(self, eps: Endpoints, state: Path) -> None:
        self.ctx = zmq.Context()
        self.flooder = _dealer(self.ctx, eps, state, 1)
        self.querier = _dealer(self.ctx, eps, state, 5)
        _logon(self.flooder)
        _logon(self.querier)
        self.stop = threading.Event()
        self.sent = {"orders": 0, "queries": 0}
        self.threads = [threading.Thread(target=self._flood, daemon=True),
                        threading.Thread(target=self._query, daemon=True)]  # fmt: skip

    def rest(self, n: int) -> None:
        """``n`` resting orders of the querying account (inside its rate limit)."""
        for i in range(n):
            self.querier.send(_order(i + 2, 100_000 + i % 100, f"r{i}"))
        got, t0 = 0, time.monotonic()
        while got < n and time.monotonic() - t0 < 20:
            if self.querier.poll(100):
                got += msgpack.unpackb(self.querier.recv()).get("type") == "exec_report"
        assert got >= n

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _flood(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                self.flooder.send(_order(n, 100_000, f"f{n}"), zmq.NOBLOCK)
                n += 1
            except zmq.Again:
                time.sleep(0.0005)
            while self.flooder.poll(0):
                self.flooder.recv()
        self.sent["orders"] = n

    def _query(self) -> None:
        n = 0
        body = msgpack.packb({"v": 1, "type": "query_orders"})
        while not self.stop.is_set():
            for _ in range(300):
                self.querier.send(body, zmq.NOBLOCK)
                n += 1
            t0 = time.monotonic()
            while time.monotonic() - t0 < 0.2 and not self.stop.is_set():
                if self.querier.poll(10):
                    self.querier.recv()
        self.sent["queries"] = n

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)
        self.ctx.destroy(linger=0)


async def test_sigterm_under_a_flood_stops_within_the_drain_timeout(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path, drain_timeout_ms=DRAIN_MS)
    async with serve("--config", str(cfg), "--log-level", "info") as srv:
        load = Load(eps, state)
        try:
            await asyncio.to_thread(load.rest, RESTING)
            load.start()
            await asyncio.sleep(2.0)  # the flood is at full speed
            t0 = time.monotonic()
            srv.proc.terminate()
            await asyncio.wait_for(srv.proc.wait(), DRAIN_MS / 1000 + 10)
            took = time.monotonic() - t0
        finally:
            await asyncio.to_thread(load.close)
        await asyncio.sleep(0.1)  # the readers take the last lines
    assert srv.proc.returncode == 0, srv.stderr[-3000:]
    assert load.sent["orders"] > 10_000 and load.sent["queries"] >= 300
    assert took <= DRAIN_MS / 1000 + MARGIN_S, (took, srv.stderr[-3000:])
    assert "final snapshot cut" not in srv.stderr and "final snapshot skipped" not in srv.stdout
    seq, stopped = stopped_hash(srv)
    assert journal_replay(state) == (seq, stopped)
    async with serve("--config", str(cfg)) as again:
        assert (again.journal_seq, again.state_hash) == (seq, stopped)
        assert "restored from nothing" not in again.banner  # from the final snapshot
        assert await again.stop() == 0
