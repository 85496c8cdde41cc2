"""The e2e load generator: prebuilt order flow, one CURVE DEALER per account, open-loop sends.

What it sends (docs/benchmarks.md, "e2e"): a repeating *cycle* of three requests

1. a maker account places a post-only GTC limit order of ``MAKER_QTY`` lots at the maker
   price (a bid on even cycles, an ask on odd ones; instruments alternate every two
   cycles, so a (instrument, side) *class* comes back every ``lag = 2 * instruments``
   cycles);
2. a taker account (never a maker, so no self-trade) sends an IOC order of 1 lot at that
   price on the other side: it trades with the oldest order resting there, the maker order
   of cycle ``k - lag``;
3. the maker of cycle ``k - lag`` cancels that order (its remaining lot).

So every maker order rests ``lag`` cycles, is hit once and is cancelled: a fill on every
cycle, at most two orders per price, positions swinging back and forth. Where cycle
``k - lag`` has no resting order (the first cycles of a run, or after a mass cancel) the
taker and cancel slots send heartbeats instead (``FILLER``, not counted). The cycle
counter and request ids run on across steps.

How it is fast enough (rules; ``crossbook bench e2e --sink`` measures it):

- every frame of a step is encoded before the step starts (``build``); sending is a
  non-blocking send on a DEALER with no send high-water mark (pyzmq's Cython ``send``,
  not its Python wrapper), so the generator never blocks on a slow server: a backlog
  shows up as latency;
- pacing with absolute deadlines (``bench.pacing.drive``): each wake-up sends every
  request already due, then empties the sockets that have replies. Below ``1 / TICK_NS``
  requests/s the loop sleeps in ``select`` on the sockets' descriptors with microsecond
  timeouts (timer slack cut to 1 µs), so it wakes for a reply as for a send, and spins
  the last ``SPIN_NS`` before a send, but never more than ``1 / SPIN_SHARE`` of the
  interval: asyncio (and uvloop) timers tick in whole milliseconds, which at 5,000/s
  would put up to 1 ms of the generator's own lateness on every order. Above it, it
  wakes once per ``TICK_NS`` and sends a batch: fewer wake-ups for the cores the server
  needs, at most a tick of lateness, charged to the requests like any other;
- while a step runs, replies are only copied into a ``bench.reply_log.ReplyLog`` with
  their receive time (no unpacking, no object per reply, no exception on an empty
  socket); ``read_replies`` matches them to requests once the sockets are quiet, finding
  ``type``, ``req_id``, ``exec_type`` and ``client_order_id`` in the msgpack bytes
  (``scan``); one acknowledgement in ``HOP_SAMPLE`` is unpacked in full for its hop
  timestamps.

Each request's planned time, send time, acknowledgement time and (for takers) first-fill
time are recorded in arrays indexed by its position in the step (``StepData``); the
analysis is ``bench.e2e``'s.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq
import zmq.backend

from bench.pacing import drive
from bench.reply_log import ReplyLog
from gateway.auth import curve_client
from gateway.keys import KeyPair
from gateway.protocol import HOP_FIELDS, PROTOCOL_VERSION, encode

MAKER, TAKER, CANCEL, FILLER = 0, 1, 2, 3
KIND_NAMES = ("maker", "taker", "cancel", "filler")
MAKER_QTY = 2
SPIN_NS = int(os.environ.get("CROSSBOOK_BENCH_SPIN_NS", "60000"))
"""below this much time to the next send the loop spins instead of sleeping ..."""
SPIN_SHARE = 10
"""... but never more than a tenth of the interval between requests: at 1,000/s the spin
takes 6 % of a core, at high rates it would take the core the server needs"""
TICK_NS = int(os.environ.get("CROSSBOOK_BENCH_TICK_NS", "100000"))
"""above 1 / TICK_NS requests/s the loop wakes once per tick: sends what is due, reads
what came"""
REPLY_BYTES_PER_REQUEST = 700
"""reply bytes to preallocate per request (a New ack is ~350 bytes; an order has 1 or 2)"""
HOP_SAMPLE = 4
"""unpack one acknowledgement in this many for its hop timestamps"""
HEARTBEAT_MS = 60_000

_POLLIN = zmq.POLLIN


# -- the flow -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Quote:
    """Where makers rest on one instrument: bids at ``bid``, asks at ``ask`` (> ``bid``)."""

    symbol: str
    bid: int
    ask: int


def quote_around(symbol: str, mark: int, tick: int, half_spread_ticks: int = 1) -> Quote:
    """Maker prices one tick (by default) either side of ``mark`` rounded to the tick."""
    mid = max(1, round(mark / tick)) * tick
    return Quote(symbol, max(tick, mid - half_spread_ticks * tick), mid + half_spread_ticks * tick)


@dataclass(slots=True)
class StepFrames:
    """One step's requests: frame, socket index and kind of each, the first request id, and
    the flow's lag (a cancel is request ``3 * lag + 2`` after the order it cancels)."""

    base: int
    frames: list[bytes]
    sock: array
    kind: bytearray
    lag: int = 4


class Flow:
    """Builds consecutive steps of the maker/taker/cancel cycle (state runs across steps)."""

    def __init__(self, makers: int, takers: int, quotes: Sequence[Quote]) -> None:
        if makers < 1 or takers < 1:
            raise ValueError("the flow needs at least one maker and one taker account")
        if not quotes:
            raise ValueError("the flow needs at least one instrument")
        self.makers = makers
        self.takers = takers
        self.quotes = list(quotes)
        self.lag = 2 * len(self.quotes)
        """cycles between a maker order and the taker/cancel that meet it (its class period)"""
        self.next_rid = 1
        """request id of the next request; request ``rid`` is slot ``(rid - 1) % 3`` of
        cycle ``(rid - 1) // 3``"""
        self._maker_cid: dict[int, str] = {}

    def set_quotes(self, quotes: Sequence[Quote]) -> None:
        """New maker prices for the same instruments (the cycle's classes stay)."""
        if [q.symbol for q in quotes] != [q.symbol for q in self.quotes]:
            raise ValueError("set_quotes must keep the instruments and their order")
        self.quotes = list(quotes)

    def forget_makers(self) -> None:
        """The resting maker orders are gone (mass cancel): the next cancel slots that would
        have cancelled them send heartbeats instead."""
        self._maker_cid.clear()

    def _cycle(self, k: int) -> tuple[Quote, bool]:
        return self.quotes[(k // 2) % len(self.quotes)], k % 2 == 0

    def build(self, n: int) -> StepFrames:
        """The next ``n`` requests, encoded."""
        base = self.next_rid
        frames: list[bytes] = []
        sock = array("H")
        kind = bytearray()
        v = PROTOCOL_VERSION
        for rid in range(base, base + n):
            k, slot = divmod(rid - 1, 3)
            if slot == 0:
                q, maker_buys = self._cycle(k)
                cid = f"b{rid}"
                self._maker_cid[k] = cid
                msg = {"v": v, "type": "new_order", "req_id": rid, "instrument": q.symbol,
                       "side": "buy" if maker_buys else "sell", "ord_type": "limit",
                       "qty": MAKER_QTY, "price": q.bid if maker_buys else q.ask,
                       "tif": "gtc", "client_order_id": cid, "post_only": True}  # fmt: skip
                sock.append(k % self.makers)
                kind.append(MAKER)
            elif slot == 1:
                target = k - self.lag
                if target not in self._maker_cid:
                    msg = {"v": v, "type": "heartbeat", "req_id": rid, "ts": 0}
                    kind.append(FILLER)
                else:
                    q, maker_buys = self._cycle(k)
                    msg = {"v": v, "type": "new_order", "req_id": rid, "instrument": q.symbol,
                           "side": "sell" if maker_buys else "buy", "ord_type": "limit",
                           "qty": 1, "price": q.bid if maker_buys else q.ask, "tif": "ioc",
                           "client_order_id": f"b{rid}"}  # fmt: skip
                    kind.append(TAKER)
                sock.append(self.makers + k % self.takers)
            else:
                target = k - self.lag
                cid = self._maker_cid.pop(target, None)
                if cid is None:
                    msg = {"v": v, "type": "heartbeat", "req_id": rid, "ts": 0}
                    sock.append(k % self.makers)
                    kind.append(FILLER)
                else:
                    msg = {"v": v, "type": "cancel", "req_id": rid, "client_order_id": cid}
                    sock.append(target % self.makers)
                    kind.append(CANCEL)
            frames.append(encode(msg, check=False))
        self.next_rid = base + n
        return StepFrames(base, frames, sock, kind, self.lag)


# -- reading replies without unpacking them ------------------------------------------------
_TYPE_KEY = b"\xa4type"
_REQ_ID_KEY = b"\xa6req_id"
_EXEC_TYPE_KEY = b"\xa9exec_type"
_CID_KEY = b"\xafclient_order_id"


def _str_at(frame: bytes, pos: int) -> str | None:
    """The msgpack fixstr / str8 at ``pos`` (None for nil or anything else)."""
    if pos >= len(frame):
        return None
    b = frame[pos]
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        return frame[pos + 1 : pos + 1 + n].decode("ascii", "replace")
    if b == 0xD9 and pos + 1 < len(frame):
        n = frame[pos + 1]
        return frame[pos + 2 : pos + 2 + n].decode("ascii", "replace")
    return None


def _uint_at(frame: bytes, pos: int) -> int | None:
    """The msgpack non-negative integer at ``pos`` (None for nil or anything else)."""
    if pos >= len(frame):
        return None
    b = frame[pos]
    if b <= 0x7F:
        return b
    width = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}.get(b)
    if width is None:
        return None
    value = int.from_bytes(frame[pos + 1 : pos + 1 + width], "big", signed=b >= 0xD0)
    return value if value >= 0 else None


def scan(frame: bytes) -> tuple[str | None, int | None, str | None, str | None]:
    """(type, req_id, exec_type, client_order_id) of an exchange message, read in place.

    Keys are found by their msgpack encoding; a value that is not the expected scalar
    gives None. ``exec_type`` and ``client_order_id`` are only looked for in
    ``exec_report`` messages.
    """
    i = frame.find(_TYPE_KEY)
    mtype = _str_at(frame, i + 5) if i >= 0 else None
    i = frame.find(_REQ_ID_KEY)
    req_id = _uint_at(frame, i + 7) if i >= 0 else None
    exec_type = cid = None
    if mtype == "exec_report":
        i = frame.find(_EXEC_TYPE_KEY)
        exec_type = _str_at(frame, i + 10) if i >= 0 else None
        if req_id is None:
            i = frame.find(_CID_KEY)
            cid = _str_at(frame, i + 16) if i >= 0 else None
    return mtype, req_id, exec_type, cid


# -- one step's measurements ---------------------------------------------------------------
@dataclass(slots=True)
class StepData:
    """Everything one step recorded; times are ``time.monotonic_ns()`` readings."""

    rate: float
    frames: StepFrames
    plan: array
    sent: array
    ack: array
    """first reply to the request (0 = none)"""
    fill: array
    """first fill report of a taker order (0 = none)"""
    hops: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    """sampled acknowledgements: (index, received, the six hop stamps ``HOP_FIELDS``)"""
    wall_offset_ns: int = 0
    """time.time_ns() - time.monotonic_ns(), to compare with the exchange's stamps"""
    replies: Counter = field(default_factory=Counter)
    """reply counts by type (exec_report split by ExecType, rejects by reason name)"""
    unmatched: int = 0
    """replies whose request could not be found in this step"""
    sent_count: int = 0
    answered: int = 0
    """requests with a first reply"""
    acks_seen: int = 0
    """first replies that were exec reports (one in ``HOP_SAMPLE`` is unpacked for hops)"""
    oversize: int = 0
    """replies longer than ``reply_log.MAX_REPLY`` (truncated)"""
    aborted: bool = False
    """sending stopped early: the backlog of unanswered requests passed its bound"""
    drained_ns: int = 0


def _set_timer_slack(ns: int) -> None:
    """Ask Linux for ``ns`` of timer slack on this thread (default 50 µs); no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(29, ns, 0, 0, 0)  # PR_SET_TIMERSLACK


def wall_offset_ns() -> int:
    """``time_ns() - monotonic_ns()``, the pair read closest together of a few tries."""
    best = None
    for _ in range(16):
        a = time.monotonic_ns()
        w = time.time_ns()
        b = time.monotonic_ns()
        if best is None or b - a < best[0]:
            best = (b - a, w - (a + b) // 2)
    assert best is not None
    return best[1]


def read_replies(data: StepData, replies: Iterable[tuple[int, bytes | bytearray, int]]) -> None:
    """Match logged replies ``(socket, frame, receive time)`` to ``data``'s requests.

    The first reply to a request is its acknowledgement (``ack``); a taker's first ``F``
    report is its fill. A reply names its request by ``req_id``; an execution report
    without one (a cancel's ``Canceled``, a resting maker's fill) by its client order id
    ``b<request id>``: a ``Canceled`` report answers the cancel sent ``3 * lag + 2``
    requests after the order. Anything else counts in ``replies`` only; an id outside
    the step counts in ``unmatched``.
    """
    step = data.frames
    base, n, lag, kind = step.base, len(step.frames), step.lag, step.kind
    ack, fill, counts, hops = data.ack, data.fill, data.replies, data.hops
    unpackb = msgpack.unpackb
    for _sock, frame, t in replies:
        mtype, rid, etype, cid = scan(frame)
        if rid is None and cid is not None and cid[:1] == "b" and cid[1:].isdigit():
            rid = int(cid[1:])
            if etype == "4":  # a cancel's report, named by the cancelled order
                rid += 3 * lag + 2
        if mtype == "exec_report":
            counts[etype] += 1
        else:
            counts[mtype] += 1
        if rid is None:
            continue
        idx = rid - base
        if not 0 <= idx < n:
            data.unmatched += 1
            continue
        if etype == "F" and kind[idx] == TAKER and not fill[idx]:
            fill[idx] = t
        if ack[idx]:
            continue
        ack[idx] = t
        data.answered += 1
        if mtype == "exec_report":
            data.acks_seen += 1
            if data.acks_seen % HOP_SAMPLE == 0:
                m = unpackb(frame)
                hops.append((idx, t, tuple(int(m.get(h) or 0) for h in HOP_FIELDS)))
        elif mtype in ("reject", "cancel_reject"):
            m = unpackb(frame)
            counts[f"{mtype}:{m.get('reason_name')}"] += 1


def _fast_send(sock: zmq.Socket) -> Callable[..., Any]:
    """``sock.send`` without pyzmq's Python-level wrapper (which, for bytes with no
    routing id or group, only forwards to this method: ~0.5 µs a call on this machine)."""
    base = getattr(zmq.backend, "Socket", None)
    if base is not None and isinstance(sock, base):
        return base.send.__get__(sock)
    return sock.send


# -- the client -----------------------------------------------------------------------------
class ClientError(RuntimeError):
    """The exchange did not answer as a bench client needs (logon refused, timeout)."""


class LoadClient:
    """One CURVE DEALER per account, logged on; plain (blocking-free) pyzmq, no asyncio."""

    def __init__(
        self, endpoint: str, server_public: bytes, pairs: Sequence[KeyPair],
        context: zmq.Context | None = None,
    ) -> None:  # fmt: skip
        self.ctx = context or zmq.Context.instance()
        self.socks: list[zmq.Socket] = []
        for pair in pairs:
            s = self.ctx.socket(zmq.DEALER)
            s.linger = 0
            s.sndhwm = 0
            s.rcvhwm = 0
            curve_client(s, pair, server_public)
            s.connect(endpoint)
            self.socks.append(s)
        self.poller = zmq.Poller()
        for s in self.socks:
            self.poller.register(s, _POLLIN)
        self.fds = [s.getsockopt(zmq.FD) for s in self.socks]
        self.accounts: list[int] = []
        self._req = 10**15  # setup requests use ids far above the flow's

    def close(self) -> None:
        for s in self.socks:
            s.close(linger=0)
        self.socks = []

    # setup requests, one at a time ----------------------------------------------------------
    def request(
        self, i: int, msg: dict, timeout_s: float = 10.0, want: str | None = None
    ) -> dict:
        """Send ``msg`` on socket ``i``; the first reply carrying its req_id (and of type
        ``want`` if given: a ``reject`` is returned too)."""
        self._req += 1
        rid = self._req
        s = self.socks[i]
        s.send(encode({**msg, "req_id": rid}))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientError(f"no reply to {msg.get('type')} within {timeout_s} s")
            if s.poll(int(left * 1000) + 1, _POLLIN):
                reply = msgpack.unpackb(s.recv(), raw=False)
                if reply.get("req_id") == rid and (
                    want is None or reply.get("type") in (want, "reject")
                ):
                    return reply

    def logon(self, timeout_s: float = 10.0) -> list[int]:
        accounts = []
        for i in range(len(self.socks)):
            reply = self.request(i, {"type": "logon", "heartbeat_ms": HEARTBEAT_MS,
                                     "client": "crossbook-bench-e2e"}, timeout_s)  # fmt: skip
            if reply.get("type") != "logon_ack":
                raise ClientError(f"logon refused: {reply.get('reason_name')} {reply.get('text')}")
            accounts.append(int(reply["account"]))
        self.accounts = accounts
        return accounts

    def discard_pending(self) -> int:
        """Read and drop whatever replies are queued; how many."""
        n = 0
        for s in self.socks:
            while True:
                try:
                    s.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                n += 1
        return n

    # the measured step -----------------------------------------------------------------------
    def run_step(
        self, step: StepFrames, plan: array, rate: float, drain_timeout_s: float,
        max_backlog: int | None = None, quiet_s: float = 0.05,
        at: tuple[int, Callable[[], None]] | None = None,
        when_quiet: Callable[[], None] | None = None,
    ) -> StepData:  # fmt: skip
        """Send ``step`` at ``plan`` (monotonic ns), collect the replies, drain; the data.

        While sending, replies are only logged (``bench.reply_log``); they are read once
        the sockets have been quiet for ``quiet_s`` after the last send, and again after
        each further quiet spell while requests are unanswered, up to ``drain_timeout_s``.
        ``when_quiet()`` is called once, when the sockets first go quiet, before reading.

        With ``max_backlog``, sending stops early (``StepData.aborted``) once more than
        that many requests have been sent beyond the replies received. Every answered
        request has at least one reply, so the backlog is then surely above the bound.
        With ``at=(i, fn)``, ``fn()`` is called just before request ``i`` is sent (never,
        if it is not).
        """
        n = len(step.frames)
        frames, sock_of = step.frames, step.sock
        sent = array("q", bytes(8 * n))
        ack = array("q", bytes(8 * n))
        fill = array("q", bytes(8 * n))
        data = StepData(rate, step, plan, sent, ack, fill, wall_offset_ns=wall_offset_ns())
        log = ReplyLog(expected_bytes=n * REPLY_BYTES_PER_REQUEST)
        clock = time.monotonic_ns
        drain = log.drainer(self.socks, clock)
        sends = [_fast_send(s) for s in self.socks]
        nowait = zmq.NOBLOCK
        fds = self.fds
        sock_of_fd = {fd: i for i, fd in enumerate(fds)}
        sel = select.select
        ready: list[int] = []
        # sockets sent on since they were last emptied: a send may process the command
        # that would have made the socket's descriptor readable, so select cannot be
        # trusted for them (ZMQ_FD is edge-like): they are emptied after the burst
        touched: set[int] = set()
        touch = touched.add
        received = log.time  # its length is the count of replies logged
        sent_n = [0]
        mark, hook = at if at is not None else (-1, None)

        def send(i: int) -> None:
            if i == mark:
                hook()
            k = sock_of[i]
            sends[k](frames[i], nowait)
            touch(k)
            sent_n[0] = i + 1

        def service() -> None:
            for fd in ready or sel(fds, (), (), 0)[0]:
                touch(sock_of_fd[fd])
            ready.clear()
            for k in touched:
                drain(k)
            touched.clear()

        spin_ns = min(SPIN_NS, int(1e9 / rate) // SPIN_SHARE)
        tick_ns = TICK_NS if 1e9 / rate < TICK_NS else 0

        if tick_ns:
            none: tuple = ()

            def wait(ns: int) -> None:
                sel(none, none, none, max(ns, tick_ns) * 1e-9)
        else:

            def wait(ns: int) -> None:
                if ns > spin_ns:
                    ready.extend(sel(fds, (), (), (ns - spin_ns) * 1e-9)[0])

        stop = None
        if max_backlog is not None:
            bound = max_backlog

            def stop() -> bool:
                return sent_n[0] - len(received) > bound

        _set_timer_slack(1_000)
        data.sent_count = drive(plan, clock, send, service, wait, sent, stop)
        data.aborted = data.sent_count < n
        # drain: log until quiet, read; again while requests are unanswered
        deadline = clock() + int(drain_timeout_s * 1e9)
        quiet_ns = int(quiet_s * 1e9)
        read = 0
        for k in range(len(self.socks)):
            drain(k)
        while True:
            last = clock()
            while True:
                got = 0
                for fd in sel(fds, (), (), 0.005)[0]:
                    got += drain(sock_of_fd[fd])
                now = clock()
                if got:
                    last = now
                if now - last >= quiet_ns or now >= deadline:
                    break
            if when_quiet is not None:
                when_quiet()
                when_quiet = None
            read_replies(data, log.frames(read))
            read = len(log)
            if data.answered >= data.sent_count or clock() >= deadline:
                break
        data.oversize = log.oversize
        data.drained_ns = clock()
        return data

    def mass_cancel(self, makers: int, timeout_s: float = 10.0) -> int:
        """Cancel every open order of the first ``makers`` accounts; how many were cancelled."""
        total = 0
        for i in range(makers):
            reply = self.request(i, {"type": "mass_cancel"}, timeout_s, "mass_cancel_report")
            total += int(reply.get("canceled") or 0)
        return total


class MarkWatcher:
    """A SUB socket on the market-data feed that keeps the latest mark of each instrument."""

    def __init__(
        self, endpoint: str, server_public: bytes, pair: KeyPair, symbols: Sequence[str],
        context: zmq.Context | None = None, curve: bool = True,
    ) -> None:  # fmt: skip
        self.ctx = context or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.linger = 0
        if curve:
            curve_client(self.sock, pair, server_public)
        for sym in symbols:
            self.sock.setsockopt(zmq.SUBSCRIBE, f"mark.{sym}|".encode())
        self.sock.connect(endpoint)
        self.marks: dict[str, int] = {}

    def poll(self) -> dict[str, int]:
        """Read every queued message; the latest marks."""
        while True:
            try:
                _topic, body = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            except ValueError:
                continue
            try:
                msg = msgpack.unpackb(body, raw=False)
            except Exception:  # a feed message we cannot read is skipped
                continue
            mark = msg.get("mark") if isinstance(msg, dict) else None
            if isinstance(mark, int) and mark > 0 and isinstance(msg.get("sym"), str):
                self.marks[msg["sym"]] = mark
        return self.marks

    def wait(self, symbols: Sequence[str], timeout_s: float) -> dict[str, int]:
        """Poll until every symbol has a mark or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            marks = self.poll()
            left = deadline - time.monotonic()
            if all(s in marks for s in symbols) or left <= 0:
                return marks
            self.sock.poll(int(min(left, 0.1) * 1000) + 1, _POLLIN)

    def close(self) -> None:
        self.sock.close(linger=0)
