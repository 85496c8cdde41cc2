"""A minimal asyncio market-data subscriber that rebuilds one instrument's L2 book.

The Clone-pattern client side, on which the SDK builds:

1. Subscribe first (``l2.<SYM>|`` and ``hb|``) and wait for the first message, which proves
   the subscription is live (or give up waiting after ``subscribe_wait`` and go on).
2. Ask the snapshot service for the full L2 book; deltas arriving meanwhile are buffered.
3. Load the snapshot (its checksum must match), drop buffered deltas at or below its
   ``seq``, apply the rest: the first must be ``seq + 1``.
4. Live: apply each delta whose seq is exactly one more than the book's, and verify the
   book checksum after every one. Resynchronise (back to 2, subscription kept) on a gap, a
   checksum mismatch, or a heartbeat showing a higher L2 seq than the book has.

``LocalBook`` is the pure part (no sockets) and ``BookClient`` the socket shell. The client
owns both its sockets inside ``run()`` and closes them (linger 0) when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from gateway.auth import curve_client
from gateway.keys import KeyPair
from gateway.md_translate import BOOK_SIDES, HB_TOPIC, MD_VERSION, L2Book, topic
from gateway.zmq_util import close_socket

MAX_FRAME_BYTES = 64 << 20
MAX_BUFFERED = 100_000


class MarketDataError(Exception):
    """The snapshot service refused the request for a reason retrying will not fix."""


@dataclass
class ClientStats:
    snapshots: int = 0
    resyncs: int = 0
    gaps: int = 0
    checksum_failures: int = 0
    applied: int = 0
    stale: int = 0
    heartbeats: int = 0
    bad_messages: int = 0


class LocalBook:
    """One instrument's L2 book as rebuilt from a snapshot plus deltas (pure)."""

    APPLIED, STALE, GAP, CHECKSUM = "applied", "stale", "gap", "checksum"

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = L2Book()
        self.seq: int | None = None  # None until a snapshot is loaded

    @property
    def synced(self) -> bool:
        return self.seq is not None

    def reset(self) -> None:
        self.book = L2Book()
        self.seq = None

    def load_snapshot(self, snap: dict[str, Any]) -> bool:
        """Load ``snap``; False (and still unsynced) if its own checksum does not match."""
        book = L2Book()
        book.load(snap["bids"], snap["asks"])
        if book.checksum() != snap["checksum"]:
            self.reset()
            return False
        self.book = book
        self.seq = snap["seq"]
        return True

    def apply(self, delta: dict[str, Any]) -> str:
        """Apply one L2 delta; returns APPLIED, STALE (already reflected), GAP or CHECKSUM."""
        assert self.seq is not None, "load a snapshot first"
        seq = delta["seq"]
        if seq <= self.seq:
            return self.STALE
        if seq != self.seq + 1:
            return self.GAP
        self.book.set_level(BOOK_SIDES[delta["side"]], delta["price"], delta["qty"], delta["count"])
        self.seq = seq
        if self.book.checksum() != delta["checksum"]:
            return self.CHECKSUM
        return self.APPLIED


def _decode(frame: bytes) -> dict[str, Any] | None:
    if len(frame) > MAX_FRAME_BYTES:
        return None
    try:
        msg = msgpack.unpackb(frame, raw=False)
    except Exception:
        return None
    if not isinstance(msg, dict) or msg.get("v") != MD_VERSION:
        return None
    return msg


class BookClient:
    """Keeps ``local.book`` equal to the publisher's book for ``symbol``; ``await run()``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        md_endpoint: str,
        snapshot_endpoint: str,
        symbol: str,
        *,
        snapshot_timeout: float = 2.0,
        subscribe_wait: float = 3.0,
        curve: tuple[KeyPair, bytes] | None = None,
        on_update: Callable[[BookClient], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.md_endpoint = md_endpoint
        self.snapshot_endpoint = snapshot_endpoint
        self.symbol = symbol
        self.topic = topic("l2", symbol)
        self.snapshot_timeout = snapshot_timeout
        self.subscribe_wait = subscribe_wait
        self.curve = curve
        self.on_update = on_update
        self.clock = clock
        self.local = LocalBook(symbol)
        self.stats = ClientStats()
        self.status: str | None = None
        self._changed = asyncio.Event()
        self._req_id = 0
        self._req_deadline = 0.0
        self._awaiting: int | None = None  # req_id of the outstanding snapshot request
        self._buffer: list[dict[str, Any]] = []

    @property
    def book(self) -> L2Book:
        return self.local.book

    @property
    def seq(self) -> int | None:
        return self.local.seq

    async def wait_until(self, predicate: Callable[[BookClient], bool], timeout: float) -> None:
        """Wait (with a deadline) until ``predicate(self)`` holds after some update."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        if self.on_update is not None:
            self.on_update(self)

    def _socket(self, kind: int) -> zmq.asyncio.Socket:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        if self.curve is not None:
            curve_client(sock, *self.curve)
        return sock

    async def run(self) -> None:
        """Subscribe, snapshot, follow; returns only by cancellation or MarketDataError."""
        sub = self._socket(zmq.SUB)
        req = self._socket(zmq.DEALER)
        try:
            sub.subscribe(self.topic)
            sub.subscribe(HB_TOPIC)
            sub.connect(self.md_endpoint)
            req.connect(self.snapshot_endpoint)
            sub_raw = zmq.Socket.shadow(sub.underlying)
            req_raw = zmq.Socket.shadow(req.underlying)
            poller = zmq.asyncio.Poller()
            poller.register(sub, zmq.POLLIN)
            poller.register(req, zmq.POLLIN)
            subscribed_by = self.clock() + self.subscribe_wait
            heard = False
            while True:
                now = self.clock()
                if self._awaiting is None and not self.local.synced:
                    if heard or now >= subscribed_by:
                        self._request(req_raw, now)
                elif self._awaiting is not None and now >= self._req_deadline:
                    self._request(req_raw, now)  # unanswered: ask again with a new id
                if self._awaiting is not None:
                    wait = self._req_deadline - now
                elif not self.local.synced and not heard:
                    wait = subscribed_by - now
                else:
                    wait = 1.0
                ready = dict(await poller.poll(max(1, int(wait * 1000) + 1)))
                if sub in ready:
                    heard = self._drain_sub(sub_raw) or heard
                if req in ready:
                    self._drain_req(req_raw)
        finally:
            close_socket(sub)
            close_socket(req)

    # -- snapshot requests -----------------------------------------------------------------
    def _request(self, raw: zmq.Socket, now: float) -> None:
        self._req_id += 1
        self._awaiting = self._req_id
        self._req_deadline = now + self.snapshot_timeout
        body = {"v": MD_VERSION, "type": "snapshot", "sym": self.symbol, "req_id": self._req_id}
        with contextlib.suppress(zmq.Again):  # not connected yet: the deadline retries
            raw.send(msgpack.packb(body), zmq.NOBLOCK)

    def _resync(self, why: str) -> None:
        self.stats.resyncs += 1
        if why == "gap":
            self.stats.gaps += 1
        elif why == "checksum":
            self.stats.checksum_failures += 1
        self.local.reset()
        self._buffer.clear()
        self._awaiting = None  # the run loop asks for a fresh snapshot at once

    def _drain_req(self, raw: zmq.Socket) -> None:
        while True:
            try:
                frame = raw.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            msg = _decode(frame)
            if msg is None:
                self.stats.bad_messages += 1
                continue
            if msg.get("req_id") != self._awaiting:
                continue  # an answer to a request we already gave up on
            if msg.get("type") == "error":
                raise MarketDataError(
                    f"snapshot of {self.symbol!r} refused: {msg.get('reason_name')} "
                    f"({msg.get('reason')}): {msg.get('text')}"
                )
            self._awaiting = None
            self._on_snapshot(msg)

    def _on_snapshot(self, snap: dict[str, Any]) -> None:
        self.stats.snapshots += 1
        if not self.local.load_snapshot(snap):
            self._resync("checksum")
            return
        self.status = snap.get("status")
        pending, self._buffer = self._buffer, []
        for delta in pending:
            if not self._apply(delta):
                return
        self._notify()

    # -- the feed ------------------------------------------------------------------------
    def _drain_sub(self, raw: zmq.Socket) -> bool:
        heard = False
        changed = False
        for _ in range(10_000):
            try:
                frames = raw.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            heard = True
            if len(frames) != 2:
                self.stats.bad_messages += 1
                continue
            msg = _decode(frames[1])
            if msg is None:
                self.stats.bad_messages += 1
                continue
            if frames[0] == HB_TOPIC:
                self.stats.heartbeats += 1
                self._on_heartbeat(msg)
            elif frames[0] == self.topic:
                if not self.local.synced:
                    self._buffer.append(msg)
                    if len(self._buffer) > MAX_BUFFERED:
                        self._resync("overflow")
                elif self._apply(msg):
                    changed = True
        if changed:
            self._notify()
        return heard

    def _apply(self, delta: dict[str, Any]) -> bool:
        """Apply a live delta; False if it forced a resync."""
        try:
            result = self.local.apply(delta)
        except (KeyError, TypeError):
            self.stats.bad_messages += 1
            self._resync("bad")
            return False
        if result == LocalBook.APPLIED:
            self.stats.applied += 1
            return True
        if result == LocalBook.STALE:
            self.stats.stale += 1
            return True
        self._resync(result)
        return False

    def _on_heartbeat(self, hb: dict[str, Any]) -> None:
        seqs = hb.get("seqs")
        mine = seqs.get(self.symbol) if isinstance(seqs, dict) else None
        l2 = mine.get("l2") if isinstance(mine, dict) else None
        if type(l2) is int and self.local.seq is not None and l2 > self.local.seq:
            self._resync("gap")  # deltas were published that never reached us
