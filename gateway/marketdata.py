"""The market-data publisher and snapshot service (the ZeroMQ Guide's Clone pattern).

``MarketDataPublisher`` owns two sockets, each driven by its own task inside ``run()``:

- a PUB socket: every message is two frames, the topic (``l2.BTC-PERP|``, ``hb|``, see
  ``gateway.md_translate``) and a msgpack body. Every ``heartbeat_ivl`` (idle or not) it
  sends ``hb|`` with every instrument's current sequence numbers, so a subscriber can tell
  silence from loss even for a quiet instrument on a busy feed. PUB drops messages for a
  subscriber that falls behind its high-water mark; the per-stream sequence numbers and
  heartbeats let that subscriber see the gap and resynchronise from a snapshot.
- a ROUTER snapshot service: a request ``{"v": 1, "type": "snapshot", "sym": ..., "req_id":
  n, "depth": n | None, "l3": bool}`` is answered with the instrument's L2 book (all
  levels, or the top ``depth``) and ``seq``, the L2 sequence number it reflects; with
  ``l3`` also the resting orders (order id, price, qty; never the account). Requests are
  decoded strictly (size, types, unknown fields); a bad one is answered with
  ``{"type": "error", "reason": <code>, "reason_name": ..., "text": ...}`` and the service
  carries on.

Producers call ``publish_events`` / ``publish_mark`` / ``publish_funding`` /
``publish_options`` from their own task: translation (and the book mirror the snapshots
come from) is updated and the messages are sent on the PUB socket in the same call (a PUB
send never blocks), so no task wakes per message; the PUB task only sends the heartbeats.
A snapshot therefore
always matches the sequence number it carries. L3 snapshots read the matcher's live book through
``l3_source``, so they are only offered in the process that runs the matcher, and
``publish_events`` must be called right after each ``engine.apply`` with no ``await`` in
between (then the live book and the mirror are the same state).

With ``curve`` both sockets are CURVE servers: bots need their key pair to subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from gateway.auth import CurveAuthenticator, curve_server
from gateway.keys import KeyPair
from gateway.md_translate import MD_VERSION, MarketDataTranslator, Message, public_l3
from gateway.reasons import Reason
from gateway.zmq_util import SNDMORE, bound_endpoint, close_socket, send_frame

MAX_REQUEST_BYTES = 4096
MAX_DEPTH = 100_000
_REQUEST_FIELDS = {"v", "type", "sym", "req_id", "depth", "l3"}

L3Source = Callable[[str], dict[str, list[tuple[int, int, int, int]]] | None]


class RequestError(Exception):
    def __init__(self, reason: Reason, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


def decode_snapshot_request(frame: bytes) -> dict[str, Any]:
    """A checked snapshot request, or ``RequestError`` naming what is wrong."""
    if len(frame) > MAX_REQUEST_BYTES:
        raise RequestError(Reason.MESSAGE_TOO_LARGE, f"request over {MAX_REQUEST_BYTES} bytes")
    try:
        msg = msgpack.unpackb(
            frame,
            raw=False,
            max_str_len=256,
            max_bin_len=0,
            max_array_len=0,
            max_map_len=16,
            max_ext_len=0,
            strict_map_key=True,
        )
    except Exception as exc:
        raise RequestError(Reason.MALFORMED_MESSAGE, f"not a msgpack map: {exc}") from None
    if not isinstance(msg, dict):
        raise RequestError(Reason.MALFORMED_MESSAGE, "a request must be a msgpack map")
    unknown = set(msg) - _REQUEST_FIELDS
    if unknown:
        raise RequestError(Reason.INVALID_FIELD, f"unknown field {sorted(unknown)[0]!r}")
    if "v" not in msg:
        raise RequestError(Reason.MISSING_FIELD, "missing field 'v'")
    if type(msg["v"]) is not int or msg["v"] != MD_VERSION:
        raise RequestError(Reason.UNSUPPORTED_VERSION, f"version must be {MD_VERSION}")
    if msg.get("type") != "snapshot":
        raise RequestError(Reason.UNKNOWN_MESSAGE_TYPE, "type must be 'snapshot'")
    if "sym" not in msg:
        raise RequestError(Reason.MISSING_FIELD, "missing field 'sym'")
    if not isinstance(msg["sym"], str):
        raise RequestError(Reason.INVALID_FIELD, "sym must be a string")
    req_id = msg.get("req_id")
    if req_id is not None and (type(req_id) is not int or not 0 <= req_id < 2**63):
        raise RequestError(Reason.INVALID_FIELD, "req_id must be an integer in 0..2^63-1")
    depth = msg.get("depth")
    if depth is not None and (type(depth) is not int or not 1 <= depth <= MAX_DEPTH):
        raise RequestError(Reason.INVALID_FIELD, f"depth must be an integer in 1..{MAX_DEPTH}")
    l3 = msg.get("l3", False)
    if type(l3) is not bool:
        raise RequestError(Reason.INVALID_FIELD, "l3 must be true or false")
    return {"sym": msg["sym"], "req_id": req_id, "depth": depth, "l3": l3}


def _error(req_id: object, reason: Reason, text: str) -> dict[str, Any]:
    return {
        "v": MD_VERSION,
        "type": "error",
        "req_id": req_id if type(req_id) is int else None,
        "reason": int(reason),
        "reason_name": reason.name,
        "text": text,
    }


class MarketDataPublisher:
    """PUB + snapshot ROUTER over one ``MarketDataTranslator``; ``await run()`` to serve."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        pub_endpoint: str = "tcp://127.0.0.1:*",
        snapshot_endpoint: str = "tcp://127.0.0.1:*",
        *,
        symbols: Iterable[str] = (),
        heartbeat_ivl: float = 1.0,
        clock_ns: Callable[[], int] = time.time_ns,
        clock: Callable[[], float] = time.monotonic,
        l3_source: L3Source | None = None,
        sndhwm: int = 100_000,
        curve: tuple[KeyPair, CurveAuthenticator] | None = None,
    ) -> None:
        self.translator = MarketDataTranslator(symbols)
        self.heartbeat_ivl = heartbeat_ivl
        self.clock_ns = clock_ns
        self.clock = clock
        self.l3_source = l3_source
        self.before_snapshot: Callable[[], None] | None = None
        """Called before a snapshot request is answered: the matching role publishes the
        deltas it still holds back, so a snapshot never runs ahead of its stream."""
        self.heartbeats = 0
        self.snapshots_served = 0
        self.bad_requests = 0
        self.sent = 0
        self._pub = ctx.socket(zmq.PUB)
        self._snap = ctx.socket(zmq.ROUTER)
        try:
            for sock in (self._pub, self._snap):
                sock.linger = 0
                if curve is not None:
                    curve_server(sock, *curve)
            self._pub.sndhwm = sndhwm
            self._snap.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self._pub.bind(pub_endpoint)
            self._snap.bind(snapshot_endpoint)
        except BaseException:
            self.close()
            raise
        self.pub_endpoint = bound_endpoint(self._pub)
        self.snapshot_endpoint = bound_endpoint(self._snap)
        self._raw_pub = zmq.Socket.shadow(self._pub.underlying)
        self._pack = msgpack.Packer().pack

    # -- producers (any task) ------------------------------------------------------------
    def publish_events(self, events: Iterable[Any]) -> int:
        """Translate one batch of matcher events and send its messages; returns how many."""
        messages = self.translator.on_events(events)
        if messages:
            raw = self._raw_pub
            pack = self._pack
            ts_send = self.clock_ns()
            for topic, body in messages:
                body["ts_send"] = ts_send
                send_frame(raw, topic, SNDMORE)  # PUB never blocks
                send_frame(raw, pack(body), 0)
            self.sent += len(messages)
        return len(messages)

    def publish_mark(self, symbol: str, ts: int, mark: int, index: int | None = None) -> None:
        self._enqueue(self.translator.mark(symbol, ts, mark, index))

    def publish_funding(
        self, symbol: str, ts: int, rate_ppm: int, next_ts: int | None = None
    ) -> None:
        self._enqueue(self.translator.funding(symbol, ts, rate_ppm, next_ts))

    def publish_options(self, underlying: str, ts: int, index: int, rows: list) -> None:
        """One ``option`` ticker per series of a revalued chain (``MarketDataTranslator.
        options``: bid and ask IVs from the book mirror)."""
        for message in self.translator.options(underlying, ts, index, rows):
            self._enqueue(message)

    def _enqueue(self, message: Message | None) -> None:
        if message is not None:
            topic, body = message
            body["ts_send"] = self.clock_ns()
            raw = self._raw_pub
            send_frame(raw, topic, SNDMORE)  # PUB never blocks
            send_frame(raw, self._pack(body), 0)
            self.sent += 1

    # -- the socket tasks ----------------------------------------------------------------
    async def run(self) -> None:
        """Serve until cancelled (one task per socket); call ``close()`` afterwards."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._pub_loop())
            tg.create_task(self._snapshot_loop())

    def close(self) -> None:
        close_socket(self._pub)
        close_socket(self._snap)

    async def __aenter__(self) -> MarketDataPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def _pub_loop(self) -> None:
        """The heartbeats (every message before them is on the wire already)."""
        raw = self._raw_pub
        while True:
            topic, body = self.translator.heartbeat()
            body["ts_send"] = self.clock_ns()
            raw.send_multipart([topic, msgpack.packb(body)])
            self.heartbeats += 1
            await asyncio.sleep(self.heartbeat_ivl)

    async def _snapshot_loop(self) -> None:
        sock = self._snap
        while True:
            frames = await sock.recv_multipart()
            if len(frames) < 2:
                continue
            envelope, body = frames[:-1], frames[-1]
            reply = self.answer(body)
            # a requester that vanished or stopped reading loses its reply (it will ask
            # again); it must not stall the service for everyone else
            with contextlib.suppress(zmq.ZMQError):
                await sock.send_multipart([*envelope, msgpack.packb(reply)], flags=zmq.NOBLOCK)

    def answer(self, frame: bytes) -> dict[str, Any]:
        """The reply to one snapshot request frame (pure apart from the counters)."""
        try:
            req = decode_snapshot_request(frame)
        except RequestError as exc:
            self.bad_requests += 1
            req_id = None
            with contextlib.suppress(Exception):
                maybe = msgpack.unpackb(frame[:MAX_REQUEST_BYTES], raw=False)
                req_id = maybe.get("req_id") if isinstance(maybe, dict) else None
            return _error(req_id, exc.reason, exc.text)
        if self.before_snapshot is not None:
            self.before_snapshot()
        snap = self.translator.snapshot(req["sym"], req["depth"])
        if snap is None:
            self.bad_requests += 1
            return _error(req["req_id"], Reason.UNKNOWN_INSTRUMENT, f"no instrument {req['sym']!r}")
        if req["l3"]:
            l3 = self.l3_source(req["sym"]) if self.l3_source is not None else None
            if l3 is None:
                self.bad_requests += 1
                return _error(req["req_id"], Reason.SERVICE_UNAVAILABLE, "no L3 data here")
            snap["l3"] = public_l3(l3)
        snap["req_id"] = req["req_id"]
        snap["ts_send"] = self.clock_ns()
        self.snapshots_served += 1
        return snap
