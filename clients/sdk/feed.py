"""The public feed beside the books: trades, instrument status and mark prices, per symbol.

``PublicFeed`` owns one SUB socket (CURVE client when keys are given) inside ``run()`` and
subscribes to ``trade.<SYM>|``, ``status.<SYM>|``, ``mark.<SYM>|``, ``funding.<SYM>|`` and
``option.<SYM>|`` (option tickers) for every symbol ``add()``-ed (also after ``run()``
started: the task applies new subscriptions itself, the socket never leaves it), and to
the heartbeat ``hb|``: the first message received sets ``live`` (a subscription is in
place; PUB drops what was published before). Each message is checked for its stream's
sequence number: a jump is counted in ``gaps[(stream, symbol)]`` (a lost trade print cannot be
recovered; status and marks are state, so the next message repairs them) and then handed to
``on_message(stream, symbol, msg)``. Books are not here: ``gateway.md_client.BookClient``
rebuilds them from snapshot + deltas with their own sequence and checksum checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from gateway.auth import curve_client
from gateway.keys import KeyPair
from gateway.md_translate import HB_TOPIC, MD_VERSION, topic
from gateway.zmq_util import Wakeup, close_socket, wait_for_work

log = logging.getLogger(__name__)

FEED_STREAMS = ("trade", "status", "mark", "funding", "option")
MAX_FRAME = 1 << 20
SETTLE_S = 0.05


class PublicFeed:
    """SUB to trades, status, marks and funding of the symbols ``add()``-ed."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        on_message: Callable[[str, str, dict[str, Any]], None],
        *,
        curve: tuple[KeyPair, bytes] | None = None,
        on_stale: Callable[[str, str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.on_message = on_message
        self.on_stale = on_stale
        self.curve = curve
        self.symbols: set[str] = set()
        self.gaps: Counter[tuple[str, str]] = Counter()
        self.received = 0
        self.bad_messages = 0
        self._seqs: dict[bytes, int] = {}
        self._pending: list[bytes] = []
        self._wake = Wakeup()
        self._topics: dict[bytes, tuple[str, str]] = {}
        self.live = asyncio.Event()
        """Set by the first message (heartbeats included): the socket is connected."""
        self.subscribed = asyncio.Event()
        """Set by a heartbeat received ``SETTLE_S`` after the latest subscriptions were
        made, cleared by new ones: by then the publisher applies them (best effort: PUB
        gives no acknowledgement)."""
        self._sub_time = 0.0

    def add(self, symbol: str) -> None:
        """Subscribe to ``symbol``'s public streams (idempotent)."""
        if symbol in self.symbols:
            return
        self.symbols.add(symbol)
        for stream in FEED_STREAMS:
            t = topic(stream, symbol)
            self._topics[t] = (stream, symbol)
            self._pending.append(t)
        self._wake.set()

    def note_seq(self, stream: str, symbol: str, seq: int) -> None:
        """``seq`` of ``stream`` is known to be reflected (e.g. by a snapshot)."""
        t = topic(stream, symbol)
        if seq > self._seqs.get(t, -1):
            self._seqs[t] = seq

    def _check_state(self, frame: bytes) -> None:
        """A heartbeat ahead of the last ``status`` message seen means one was missed (or
        published before the subscription): report it so the owner refreshes the state."""
        try:
            hb = msgpack.unpackb(frame, raw=False)
            seqs = hb.get("seqs") if isinstance(hb, dict) else None
        except Exception:
            return
        if not isinstance(seqs, dict):
            return
        for sym in self.symbols:
            mine = seqs.get(sym)
            got = mine.get("status") if isinstance(mine, dict) else None
            if type(got) is not int:
                continue
            t = topic("status", sym)
            if got > self._seqs.get(t, 0):
                self._seqs[t] = got
                self.gaps[("status", sym)] += 1
                if self.on_stale is not None:
                    self.on_stale("status", sym)

    def _pending_ids(self) -> set[str]:
        """Symbols whose subscriptions the task has not applied yet."""
        return {self._topics[t][1] for t in self._pending}

    async def run(self) -> None:
        """Receive until cancelled."""
        sock = self.ctx.socket(zmq.SUB)
        try:
            sock.linger = 0
            sock.rcvhwm = 100_000
            if self.curve is not None:
                curve_client(sock, *self.curve)
            sock.subscribe(HB_TOPIC)
            sock.connect(self.endpoint)
            raw = zmq.Socket.shadow(sock.underlying)
            while True:
                self._wake.clear()
                if self._pending:
                    while self._pending:
                        sock.subscribe(self._pending.pop())
                    self._sub_time = time.monotonic()
                    self.subscribed.clear()
                if await wait_for_work(sock, self._wake, 1.0):
                    self._drain(raw)
        finally:
            close_socket(sock)

    def _drain(self, raw: zmq.Socket) -> None:
        for _ in range(10_000):
            try:
                frames = raw.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.received += 1
            self.live.set()
            if len(frames) != 2 or len(frames[1]) > MAX_FRAME:
                self.bad_messages += 1
                continue
            if frames[0] == HB_TOPIC:
                if time.monotonic() - self._sub_time >= SETTLE_S:
                    self.subscribed.set()
                self._check_state(frames[1])
                continue
            where = self._topics.get(frames[0])
            if where is None:
                continue
            try:
                msg = msgpack.unpackb(frames[1], raw=False)
            except Exception:
                self.bad_messages += 1
                continue
            if not isinstance(msg, dict) or msg.get("v") != MD_VERSION:
                self.bad_messages += 1
                continue
            seq = msg.get("seq")
            if type(seq) is int:
                last = self._seqs.get(frames[0])
                if last is not None and seq > last + 1:
                    self.gaps[where] += seq - last - 1
                if last is None or seq > last:
                    self._seqs[frames[0]] = seq
                elif seq <= last:
                    continue  # a repeat
            try:
                self.on_message(where[0], where[1], msg)
            except Exception:
                log.exception("feed handler failed on %s %s", *where)
