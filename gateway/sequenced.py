"""The lossless matcher -> clearing event stream: sequenced, windowed, replayable.

Every matcher event carries the engine's gapless ``seq``. The matching role publishes each
batch of events into a ``SequencedSender``; the clearing role reads them from a
``SequencedReceiver``, which hands its consumer every event exactly once, in ``seq`` order,
or stops loudly with ``StreamLost`` when that has become impossible.

Sockets. The sender binds a ROUTER, each receiver connects a DEALER; one connection
carries events and heartbeats one way, status and replay requests the other. Why these:
PUB drops silently when a subscriber falls behind, and so does a plain ROUTER at its
high-water mark or towards a vanished peer. With ``ROUTER_MANDATORY`` both cases become
errors the sender sees (EAGAIN, EHOSTUNREACH), and a DEALER blocks instead of dropping.
The sender never blocks the matcher on a slow receiver and never drops on its own: each
receiver has a *cursor* into the window; at the high-water mark the cursor simply stops
and resumes when the pipe drains. The only ways an event goes missing are a torn-down
connection (messages queued on it die with it) and the fault-injection hook, and both are
repaired from the window by sequence number.

Rules:

1. Sender window: the most recent published batches, at most ``max_events`` events and
   ``max_bytes`` bytes (whole batches leave from the front; the newest always stays),
   encoded once at publish, a whole batch in one msgpack call (``RecordCodec``). Messages
   and replays are cut at batch boundaries, so a replay may start a little before the
   requested seq (the receiver drops what it has). A replay request older than the window
   is answered with an explicit LOST notice, never with silence or a partial range.
2. Receiver: an event with ``seq <= last applied`` is a duplicate and is ignored; one with
   a higher seq than the next expected is buffered (up to ``max_buffer``) and the missing
   range is requested; delivery is strictly in order. The receiver knows it lost something
   when a later event arrives, when a heartbeat says the sender already streamed past its
   position (one connection is FIFO, so that is proof), or when nothing has arrived for
   ``stall_timeout`` while the sender's head moved on. An unanswered request is repeated
   after ``replay_timeout``.
3. Every receiver message carries its last applied seq, so a sender that does not know the
   peer (new connection, sender restart) starts streaming right after it. Receivers send a
   status every ``heartbeat_ivl``; the sender heartbeats every peer as often and forgets
   peers silent for ``peer_timeout``.
4. Restarts. A restarted *receiver* is created with the seq its consumer last applied
   (clearing's ``last_fill_seq``) and continues from there. A restarted *sender* has lost its
   window: it is a new epoch whose window starts empty after ``last_seq``, the seq its
   restored matcher state ends at. A receiver at ``last_seq`` or later-but-within-head
   carries on; one behind ``last_seq`` is told the gap is LOST (those events lived only in the
   dead process); one that applied events this sender never produced (its seq is beyond the
   sender's head, or it followed another epoch past ``last_seq``) is told the streams
   DIVERGED. Both end the receiver with ``StreamLost``: the shell must rebuild from a
   settlement snapshot rather than guess. Nothing is ever renumbered or re-invented.
5. Batch boundaries are not part of the contract: a lagging receiver gets several
   publishes coalesced into one message (at most ``max_batch`` events); events are.

Wire (msgpack, version ``STREAM_VERSION`` first in every header):
  sender -> receiver  ``[b"E", (v, epoch, first_seq, n), array of n [type name, fields]]``
                      ``[b"H", (v, epoch, head, sent, oldest)]``  sent = last seq streamed
                      ``[b"L", (v, epoch, from, to, oldest, head, why)]`` why: window |
                      diverged | ahead | version
  receiver -> sender  ``[b"S", (v, epoch | None, last)]`` status / hello
                      ``[b"R", (v, epoch | None, last, from, to)]`` replay request
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
import time
from bisect import bisect_right
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from gateway.zmq_util import Wakeup, bound_endpoint, close_socket, wait_for_work

STREAM_VERSION = 1
K_EVENTS = b"E"
K_HEARTBEAT = b"H"
K_LOST = b"L"
K_STATUS = b"S"
K_REPLAY = b"R"

DEFAULT_MAX_EVENTS = 1_000_000
DEFAULT_MAX_BYTES = 256 << 20
DEFAULT_MAX_BATCH = 512
_ROUND_BUDGET = 256  # messages per peer-pump round before yielding to the loop
_BLOCKED_RETRY_S = 0.001
_MAX_REPLAY_RANGES = 32
_MAX_INBOUND_BYTES = 1024

DropHook = Callable[[str, int, int], bool]
"""Fault injection: ``drop(kind, first_seq, last_seq)`` -> True to lose that message.

``kind`` is ``"live"`` or ``"replay"``. The sender behaves as if the message had been sent."""


def _header_len(n: int) -> int:
    return 1 if n < 16 else 3 if n < 0x10000 else 5


class RecordCodec:
    """Flat engine records as msgpack ``[type name, [fields...]]``, a whole batch per call.

    Only registered record types cross (by default ``gateway.internal``'s registry of
    ``matching`` and ``clearing`` records): publishing another type is a ValueError, and a
    received unknown name or wrong field count is a decode error, never an arbitrary
    class. ``IntEnum`` fields travel as plain ints. Records must be flat (fields are
    msgpack scalars); a field msgpack cannot carry (only a reject echoing garbage input
    can have one) is sent as its ``repr`` string, so a bad input never stops the stream.
    Packing a batch in one call is what makes this cheaper than per-record extensions.
    """

    def __init__(self, types: dict[str, type] | None = None) -> None:
        if types is None:
            from gateway.internal import InternalCodec

            types = InternalCodec().types
        self.types = dict(types)
        self._classes = frozenset(self.types.values())
        self._spec = {name: (cls, len(cls._fields)) for name, cls in self.types.items()}  # type: ignore[attr-defined]
        self._packer = msgpack.Packer()

    def encode_batch(self, records: Sequence[Any]) -> bytes:
        """The records packed back to back (a msgpack array body without its header)."""
        classes = self._classes
        for r in records:
            if type(r) not in classes:
                raise ValueError(f"{type(r).__name__} is not a registered record type")
        items = [(type(r).__name__, r) for r in records]
        try:
            packed = self._packer.pack(items)
        except (TypeError, ValueError, OverflowError):
            self._packer.reset()
            packed = self._packer.pack([(n, _scalar_fields(r)) for n, r in items])
        return packed[_header_len(len(records)) :]

    def decode_body(self, body: bytes) -> list[Any]:
        """A msgpack array of ``[name, fields]`` items back into records; ValueError if bad."""
        try:
            items = msgpack.unpackb(body, raw=False, strict_map_key=False)
        except Exception as exc:
            raise ValueError(f"undecodable batch: {exc}") from None
        if not isinstance(items, list):
            raise ValueError("a batch must be an array")
        spec = self._spec
        out = []
        append = out.append
        for item in items:
            try:
                name, fields = item
                cls, arity = spec[name]
            except (TypeError, ValueError):
                raise ValueError("a record must be [name, fields]") from None
            except KeyError:
                raise ValueError(f"unknown record type {name!r}") from None
            if type(fields) is not list or len(fields) != arity:
                raise ValueError(f"{name} needs {arity} fields")
            append(_new(cls, fields))
        return out


def _scalar_fields(record: Any) -> list[Any]:
    out = []
    for v in record:
        try:
            msgpack.packb(v)
        except (TypeError, ValueError, OverflowError):
            v = repr(v)
        out.append(v)
    return out


_new = tuple.__new__


class StreamLost(Exception):
    """The receiver cannot continue in order: events ``first..last`` are gone for good."""

    def __init__(self, first: int, last: int, why: str, detail: str = "") -> None:
        self.first, self.last, self.why = first, last, why
        super().__init__(f"events {first}..{last} cannot be recovered ({why}) {detail}".strip())


def _array_header(n: int) -> bytes:
    """msgpack array header for ``n`` elements (fixarray, array 16 or array 32)."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _unpack_header(frame: bytes, size: int) -> list | None:
    """A small msgpack array of exactly ``size`` items, or None if it is anything else."""
    if len(frame) > _MAX_INBOUND_BYTES:
        return None
    try:
        value = msgpack.unpackb(frame, raw=False, max_array_len=16, max_map_len=0)
    except Exception:
        return None
    if not isinstance(value, list) or len(value) != size or value[0] != STREAM_VERSION:
        return None
    return value


def _foreign_version(frame: bytes) -> bool:
    """Whether ``frame`` is a header array from a peer speaking another stream version."""
    try:
        value = msgpack.unpackb(frame[:_MAX_INBOUND_BYTES], raw=False, max_array_len=16)
    except Exception:
        return False
    return isinstance(value, list) and bool(value) and value[0] != STREAM_VERSION


def _is_seq(v: object) -> bool:
    return type(v) is int and v >= 0


# ---------------------------------------------------------------------------- window ----
class EventWindow:
    """The most recent published batches, encoded, bounded by event count and bytes (pure).

    A batch is stored as published (one encoding, ``n`` events from ``first``); whole
    batches leave from the front when the window holds more than ``max_events`` events or
    ``max_bytes`` bytes (the newest batch always stays). Trimming advances a start index;
    the dead prefix is compacted away once it is at least as long as the live part.
    """

    def __init__(self, last_seq: int, max_events: int, max_bytes: int) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("window bounds must be positive")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.head = last_seq
        self._firsts: list[int] = []
        self._blobs: list[bytes] = []
        self._start = 0
        self.events = 0
        self.bytes = 0

    @property
    def oldest(self) -> int:
        """Seq of the oldest event still held (``head + 1`` when empty)."""
        return self._firsts[self._start] if self._start < len(self._firsts) else self.head + 1

    def __len__(self) -> int:
        """Events held."""
        return self.events

    def append(self, first: int, n: int, blob: bytes) -> None:
        if first != self.head + 1:
            raise ValueError(f"window expects seq {self.head + 1}, was {first}")
        if n < 1:
            raise ValueError("a batch holds at least one event")
        firsts, blobs = self._firsts, self._blobs
        firsts.append(first)
        blobs.append(blob)
        self.head = first + n - 1
        self.events += n
        self.bytes += len(blob)
        start = self._start
        while len(firsts) - start > 1 and (
            self.events > self.max_events or self.bytes > self.max_bytes
        ):
            self.events -= firsts[start + 1] - firsts[start]
            self.bytes -= len(blobs[start])
            start += 1
        if start >= 1024 and start * 2 >= len(firsts):
            del firsts[:start]
            del blobs[:start]
            start = 0
        self._start = start

    def chunk(self, first: int, max_events: int) -> tuple[int, int, list[bytes]]:
        """Whole batches from the one holding ``first``: ``(first_seq, n, blobs)``.

        Adds batches while the total stays within ``max_events`` (always at least one).
        ``first`` must be held (``oldest <= first <= head``).
        """
        if first < self.oldest or first > self.head:
            raise IndexError(f"{first} not within {self.oldest}..{self.head}")
        firsts, blobs = self._firsts, self._blobs
        i = bisect_right(firsts, first, self._start) - 1
        start_seq = firsts[i]
        end = len(firsts)
        j = i + 1
        while j < end and firsts[j] - start_seq <= max_events - 1:
            j += 1
        # batches i..j-1; the last one ends where the next begins (or at head)
        last_seq = firsts[j] - 1 if j < end else self.head
        if j > i + 1 and last_seq - start_seq + 1 > max_events:
            j -= 1
            last_seq = firsts[j] - 1
        return start_seq, last_seq - start_seq + 1, blobs[i:j]


# ---------------------------------------------------------------------------- sender ----
@dataclass
class SenderStats:
    published: int = 0
    messages: int = 0
    events_sent: int = 0
    replay_requests: int = 0
    replay_events: int = 0
    lost_notices: int = 0
    hwm_waits: int = 0
    unreachable: int = 0
    hook_drops: int = 0
    peers_expired: int = 0
    bad_messages: int = 0


class _Peer:
    __slots__ = ("acked", "blocked", "cursor", "last_seen", "replays", "rid")

    def __init__(self, rid: bytes, cursor: int, now: float) -> None:
        self.rid = rid
        self.cursor = cursor  # next seq to stream live
        self.acked = cursor - 1
        self.replays: deque[list[int]] = deque()  # [next, to] ranges
        self.last_seen = now
        self.blocked = False


class SequencedSender:
    """Matching-role end: bind, ``publish`` batches, and ``await run()`` in one task."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str = "tcp://127.0.0.1:*",
        *,
        last_seq: int = 0,
        codec: RecordCodec | None = None,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_batch: int = DEFAULT_MAX_BATCH,
        heartbeat_ivl: float = 1.0,
        peer_timeout: float | None = None,
        sndhwm: int = 10_000,
        epoch: str | None = None,
        drop: DropHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        configure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self.codec = codec or RecordCodec()
        self.window = EventWindow(last_seq, max_events, max_bytes)
        self.start_seq = last_seq
        self.epoch = epoch or secrets.token_hex(8)
        self.max_batch = max_batch
        self.heartbeat_ivl = heartbeat_ivl
        self.peer_timeout = peer_timeout if peer_timeout is not None else 5 * heartbeat_ivl
        self.drop = drop
        self.clock = clock
        self.stats = SenderStats()
        self.peers: dict[bytes, _Peer] = {}
        self._wake = Wakeup()
        sock = ctx.socket(zmq.ROUTER)
        sock.linger = 0
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        sock.sndhwm = sndhwm
        if configure is not None:
            configure(sock)
        sock.bind(endpoint)
        self._sock = sock
        self._raw = zmq.Socket.shadow(sock.underlying)
        self.endpoint = bound_endpoint(sock)

    # -- producer side (any task) ----------------------------------------------------
    @property
    def head(self) -> int:
        return self.window.head

    def publish(self, events: Sequence[Any]) -> None:
        """Append a batch of events (consecutive ``seq`` from ``head + 1``) and wake the pump.

        Never blocks. A batch that would leave a gap, or holds an unregistered record type,
        is a programming error: ValueError, and nothing of the batch is taken.
        """
        n = len(events)
        if not n:
            return
        first = self.window.head + 1
        for i, ev in enumerate(events):
            if ev[0] != first + i:
                raise ValueError(f"publish expects seq {first + i}, was {ev[0]}")
        self.window.append(first, n, self.codec.encode_batch(events))
        self.stats.published += n
        self._wake.set()

    # -- the socket task ---------------------------------------------------------------
    async def run(self) -> None:
        """Serve receivers until cancelled. Owns the socket; call ``close()`` afterwards."""
        clock = self.clock
        next_hb = clock()
        while True:
            self._wake.clear()
            self._drain_inbound()
            state = self._pump()
            now = clock()
            if now >= next_hb:
                self._heartbeat(now)
                next_hb = now + self.heartbeat_ivl
            if state == "more":
                await asyncio.sleep(0)
                continue
            timeout = next_hb - now
            if state == "blocked":
                timeout = min(timeout, _BLOCKED_RETRY_S)
            await wait_for_work(self._sock, self._wake, timeout)

    def reset(self, last_seq: int, epoch: str | None = None) -> None:
        """Start a new epoch after ``last_seq`` on the same socket (a matcher rebuilt from
        scratch, rule 4): the window is emptied and every peer forgotten, so each receiver
        is admitted again by its next status."""
        w = self.window
        self.window = EventWindow(last_seq, w.max_events, w.max_bytes)
        self.start_seq = last_seq
        self.epoch = epoch or secrets.token_hex(8)
        self.peers.clear()
        self._wake.set()

    def close(self) -> None:
        close_socket(self._sock)

    async def __aenter__(self) -> SequencedSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # -- inbound -----------------------------------------------------------------------
    def _drain_inbound(self) -> None:
        raw = self._raw
        for _ in range(1024):
            try:
                frames = raw.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._handle_inbound(frames)

    def _handle_inbound(self, frames: list[bytes]) -> None:
        now = self.clock()
        if len(frames) != 3 or frames[1] not in (K_STATUS, K_REPLAY):
            self.stats.bad_messages += 1
            return
        rid, kind, body = frames
        fields = _unpack_header(body, 3 if kind == K_STATUS else 5)
        if fields is None:
            self.stats.bad_messages += 1
            if _foreign_version(body):
                self._send_lost_raw(rid, 0, 0, "version")
            return
        epoch, last = fields[1], fields[2]
        if not _is_seq(last) or not (epoch is None or isinstance(epoch, str)):
            self.stats.bad_messages += 1
            return
        peer = self.peers.get(rid)
        if peer is None:
            peer = self._admit(rid, epoch, last, now)
            if peer is None:
                return
        peer.last_seen = now
        if last > peer.acked:
            peer.acked = last
        if last + 1 > peer.cursor:
            peer.cursor = last + 1  # it got these some other way: do not stream them again
        if kind == K_REPLAY:
            first, to = fields[3], fields[4]
            if not (_is_seq(first) and _is_seq(to)) or first < 1 or first > to:
                self.stats.bad_messages += 1
                return
            self.stats.replay_requests += 1
            to = min(to, self.window.head, peer.cursor - 1)  # later ones stream live anyway
            if first > to:
                return
            if len(peer.replays) >= _MAX_REPLAY_RANGES:
                peer.replays.popleft()
            peer.replays.append([first, to])
            self._wake.set()

    def _admit(self, rid: bytes, epoch: str | None, last: int, now: float) -> _Peer | None:
        """A receiver we do not know yet: check it can follow this epoch, then stream."""
        head = self.window.head
        if last > head:
            self._send_lost_raw(rid, head + 1, last, "ahead")
            return None
        if epoch is not None and epoch != self.epoch and last > self.start_seq:
            self._send_lost_raw(rid, self.start_seq + 1, last, "diverged")
            return None
        peer = _Peer(rid, last + 1, now)
        self.peers[rid] = peer
        self._wake.set()
        return peer

    # -- outbound ----------------------------------------------------------------------
    def _send(self, frames: list[bytes], peer: _Peer | None = None) -> str:
        """'ok', 'blocked' (HWM) or 'gone' (peer unreachable: forgotten)."""
        try:
            self._raw.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            self.stats.hwm_waits += 1
            return "blocked"
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self.stats.unreachable += 1
            if peer is not None:
                self.peers.pop(peer.rid, None)
            return "gone"
        return "ok"

    def _send_lost_raw(self, rid: bytes, first: int, last: int, why: str) -> str:
        self.stats.lost_notices += 1
        w = self.window
        body = _pack((STREAM_VERSION, self.epoch, first, last, w.oldest, w.head, why))
        return self._send([rid, K_LOST, body])

    def _pump(self) -> str:
        """Stream window contents to every peer; 'idle', 'more' or 'blocked'."""
        state = "idle"
        window = self.window
        max_batch = self.max_batch
        for peer in list(self.peers.values()):
            budget = _ROUND_BUDGET
            peer.blocked = False
            while True:
                if peer.replays:
                    rng = peer.replays[0]
                    kind, first = "replay", rng[0]
                    limit = min(max_batch, rng[1] - first + 1)
                elif peer.cursor <= window.head:
                    kind, first, limit = "live", peer.cursor, max_batch
                else:
                    break
                if budget == 0:
                    state = "more" if state != "blocked" else state
                    break
                if first < window.oldest:
                    result = self._send_lost_raw(peer.rid, first, window.oldest - 1, "window")
                    if result == "blocked":
                        peer.blocked, state = True, "blocked"
                        break
                    if kind == "replay":
                        peer.replays.popleft()
                        continue
                    self.peers.pop(peer.rid, None)  # it cannot go on; it will be told again
                    break
                start, n, blobs = window.chunk(first, limit)
                last = start + n - 1
                if self.drop is not None and self.drop(kind, start, last):
                    self.stats.hook_drops += 1
                    result = "ok"
                else:
                    header = _pack((STREAM_VERSION, self.epoch, start, n))
                    body = _array_header(n) + b"".join(blobs)
                    result = self._send([peer.rid, K_EVENTS, header, body], peer)
                if result == "blocked":
                    peer.blocked, state = True, "blocked"
                    break
                if result == "gone":
                    break
                self.stats.messages += 1
                self.stats.events_sent += n
                budget -= 1
                if kind == "replay":
                    self.stats.replay_events += n
                    rng[0] = last + 1
                    if rng[0] > rng[1]:
                        peer.replays.popleft()
                else:
                    peer.cursor = last + 1
        return state

    def _heartbeat(self, now: float) -> None:
        w = self.window
        for peer in list(self.peers.values()):
            # a peer whose pipe is full is connected (libzmq says EHOSTUNREACH otherwise):
            # it is slow, not gone, so only a silent peer with room in its pipe expires
            if now - peer.last_seen > self.peer_timeout and not peer.blocked:
                self.peers.pop(peer.rid, None)
                self.stats.peers_expired += 1
                continue
            body = _pack((STREAM_VERSION, self.epoch, w.head, peer.cursor - 1, w.oldest))
            self._send([peer.rid, K_HEARTBEAT, body], peer)


# ---------------------------------------------------------------------------- receiver --
class Reorderer:
    """Exactly-once, in-order delivery by seq over an unreliable arrival order (pure)."""

    def __init__(self, last_applied: int, max_buffer: int = DEFAULT_MAX_EVENTS) -> None:
        self.last = last_applied
        self.max_buffer = max_buffer
        self.pending: dict[int, Any] = {}
        self.duplicates = 0
        self.overflow = 0

    def offer(self, first: int, events: Sequence[Any]) -> list[Any]:
        """Take events ``first, first+1, ...``; return those now deliverable, in order."""
        out: list[Any] = []
        nxt = self.last + 1
        pending = self.pending
        for i, ev in enumerate(events):
            s = first + i
            if s < nxt:
                self.duplicates += 1
            elif s == nxt:
                out.append(ev)
                nxt += 1
                while pending and nxt in pending:
                    out.append(pending.pop(nxt))
                    nxt += 1
            elif s in pending:
                self.duplicates += 1
            elif len(pending) < self.max_buffer:
                pending[s] = ev
            else:
                self.overflow += 1
        self.last = nxt - 1
        return out

    def gap(self) -> tuple[int, int] | None:
        """The first missing range that something buffered proves, or None."""
        if not self.pending:
            return None
        return self.last + 1, min(self.pending) - 1


@dataclass
class ReceiverStats:
    delivered: int = 0
    messages: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    replay_requests: int = 0
    statuses: int = 0
    bad_messages: int = 0


class SequencedReceiver:
    """Clearing-role end: ``async for batch in receiver.batches()`` or ``await run(cb)``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        *,
        last_applied: int = 0,
        epoch: str | None = None,
        codec: RecordCodec | None = None,
        heartbeat_ivl: float = 1.0,
        replay_timeout: float | None = None,
        stall_timeout: float | None = None,
        max_buffer: int = DEFAULT_MAX_EVENTS,
        rcvhwm: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        configure: Callable[[zmq.Socket], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.codec = codec or RecordCodec()
        self.epoch = epoch
        self.heartbeat_ivl = heartbeat_ivl
        self.replay_timeout = replay_timeout if replay_timeout is not None else 2 * heartbeat_ivl
        self.stall_timeout = stall_timeout if stall_timeout is not None else 2 * heartbeat_ivl
        self.rcvhwm = rcvhwm
        self.clock = clock
        self.configure = configure
        self.reorder = Reorderer(last_applied, max_buffer)
        self.stats = ReceiverStats()
        self.head_hint = last_applied  # sender's head from its heartbeats
        self.sent_hint = last_applied  # last seq the sender says it streamed to us
        self._request: tuple[int, int, float] | None = None  # (from, to, deadline)
        self._last_progress = clock()
        self._next_status = 0.0

    @property
    def last_applied(self) -> int:
        return self.reorder.last

    async def run(self, on_events: Callable[[list[Any]], Awaitable[None] | None]) -> None:
        """Call ``on_events(batch)`` for every in-order batch; returns only by exception."""
        async for batch in self.batches():
            result = on_events(batch)
            if inspect.isawaitable(result):
                await result

    async def batches(self) -> AsyncIterator[list[Any]]:
        """In-order batches, each event exactly once. Raises ``StreamLost`` when stuck.

        The socket lives as long as the iteration: leave it early only inside
        ``contextlib.aclosing(receiver.batches())`` so the socket closes at once.
        """
        sock = self.ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.rcvhwm = self.rcvhwm
        sock.sndhwm = 100
        if self.configure is not None:
            self.configure(sock)
        raw = zmq.Socket.shadow(sock.underlying)
        sock.connect(self.endpoint)
        clock = self.clock
        try:
            self._last_progress = clock()
            self._next_status = 0.0
            while True:
                now = clock()
                if now >= self._next_status:
                    self._send(raw, K_STATUS, (STREAM_VERSION, self.epoch, self.last_applied))
                    self.stats.statuses += 1
                    self._next_status = now + self.heartbeat_ivl
                self._maybe_request(raw, now)
                timeout = self._next_status - now
                if self._request is not None:
                    timeout = min(timeout, self._request[2] - now)
                if not await wait_for_work(sock, None, max(timeout, 0.0005)):
                    continue
                for _ in range(256):
                    try:
                        frames = raw.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    batch = self._handle(frames)
                    if batch:
                        yield batch
                    self._maybe_request(raw, self.clock())
        finally:
            close_socket(sock)

    # -- internals ---------------------------------------------------------------------
    def _send(self, raw: zmq.Socket, kind: bytes, fields: tuple) -> None:
        # not connected or queue full: the next status or retry covers it
        with contextlib.suppress(zmq.Again):
            raw.send_multipart([kind, _pack(fields)], zmq.NOBLOCK)

    def _handle(self, frames: list[bytes]) -> list[Any] | None:
        kind = frames[0] if frames else b""
        if kind == K_EVENTS and len(frames) == 3:
            return self._on_events(frames[1], frames[2])
        if kind == K_HEARTBEAT and len(frames) == 2:
            hb = _unpack_header(frames[1], 5)
            if hb is None or not all(_is_seq(v) for v in hb[2:]):
                self.stats.bad_messages += 1
                return None
            self._adopt_epoch(hb[1])
            self.head_hint = max(self.head_hint, hb[2])
            self.sent_hint = hb[3]
            return None
        if kind == K_LOST and len(frames) == 2:
            lost = _unpack_header(frames[1], 7)
            if lost is None:
                self.stats.bad_messages += 1
                return None
            first, last, why = lost[2], lost[3], lost[6]
            if why == "window" and _is_seq(last) and last <= self.last_applied:
                return None  # stale: answered a request we no longer need
            raise StreamLost(
                first, last, str(why), f"(sender holds {lost[4]}..{lost[5]}, epoch {lost[1]})"
            )
        self.stats.bad_messages += 1
        return None

    def _adopt_epoch(self, epoch: object) -> None:
        if isinstance(epoch, str) and epoch != self.epoch:
            self.epoch = epoch
            # a new sender knows nothing of the old one's requests and positions
            self._request = None
            self.sent_hint = self.head_hint = self.reorder.last

    def _on_events(self, header: bytes, body: bytes) -> list[Any] | None:
        h = _unpack_header(header, 4)
        if h is None or not _is_seq(h[2]) or not _is_seq(h[3]):
            self.stats.bad_messages += 1
            return None
        try:
            events = self.codec.decode_body(body)
        except ValueError:
            self.stats.bad_messages += 1
            return None
        if len(events) != h[3]:
            self.stats.bad_messages += 1
            return None
        self._adopt_epoch(h[1])
        self.stats.messages += 1
        r = self.reorder
        dup_before = r.duplicates
        pending_before = len(r.pending)
        out = r.offer(h[2], events)
        self.stats.duplicates += r.duplicates - dup_before
        if len(r.pending) > pending_before:
            self.stats.out_of_order += len(r.pending) - pending_before
        if out:
            self.stats.delivered += len(out)
            self._last_progress = self.clock()
            self.head_hint = max(self.head_hint, r.last)
            return out
        return None

    def _maybe_request(self, raw: zmq.Socket, now: float) -> None:
        last = self.reorder.last
        req = self._request
        if req is not None and last >= req[1]:
            req = self._request = None
        gap = self.reorder.gap()
        if gap is None and self.sent_hint > last:
            gap = (last + 1, self.sent_hint)
        if (
            gap is None
            and self.head_hint > last
            and now - self._last_progress >= self.stall_timeout
        ):
            gap = (last + 1, self.head_hint)
        if gap is None or (req is not None and now < req[2]):
            return
        self._send(raw, K_REPLAY, (STREAM_VERSION, self.epoch, last, gap[0], gap[1]))
        self.stats.replay_requests += 1
        self._request = (gap[0], gap[1], now + self.replay_timeout)
        if gap[1] >= self.head_hint:
            self._last_progress = now  # do not re-fire the stall rule before the timeout
