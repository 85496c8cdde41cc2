"""The gateway role: where bots connect. Sessions, strict decoding, limits, routing.

Sockets: a ROUTER for bots (CURVE server; the ZAP authenticator maps each public key to
one account and the account is read from every frame's User-Id metadata, never from the
message), and a DEALER to the clearing role's gateway link (``gateway.roles.links``):
decoded requests go there as core inputs (``clearing.core.inputs``), batched, one message
per turn; the answers come back as compact reports, rendered here once per message
(``gateway.render``).

Rules:

1. Nothing a client sends can crash or stall the gateway: ``decode_request`` never raises;
   a malformed frame gets a ``reject`` naming the problem and the connection stays up;
   frames above ``MAX_FRAME_BYTES`` make libzmq drop that connection (memory guard), frames
   above the protocol's 64 KiB limit but below that get ``MESSAGE_TOO_LARGE``; sends to a
   bot never block (a bot that stops reading loses messages at its high-water mark and sees
   the gap in ``seq``).
2. ``logon`` first (else ``NOT_LOGGED_ON``). Order entry is rate limited per account
   (token bucket, ``RATE_LIMITED`` with ``retry_after_ms``). Open-order limits and
   client-order-id idempotency are the core's: journaled, they survive any restart.
3. Liveness: a logged-on session silent for 3 heartbeat intervals, a ``logout``, or a peer
   that has gone ends the session (``Logout`` to the core, which cancels the account's
   orders for a ``cancel_on_disconnect`` session). ``cancel_all_after`` arms a per-account
   dead man's switch. When clearing restarts or renumbers this gateway, the live sessions
   are sent again (``GatewaySync``).
4. Every message to a session carries that session's next ``seq``; execution reports,
   cancel rejects and mass-cancel reports get ``ts_gw_out`` just before sending. Private
   pushes go to the owning account's sessions only; the requesting session's copy carries
   its ``req_id``. Position/balance/margin updates go to the sessions that subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from clearing.core.inputs import (
    INPUT_TYPES,
    AmendOrderRequest,
    CancelAll,
    CancelOrderRequest,
    GatewaySync,
    Logon,
    Logout,
    MassCancelOrders,
    PlaceOrder,
    pack_input,
)
from gateway.auth import USER_ID, CurveAuthenticator, curve_server
from gateway.exchange_config import ExchangeConfig
from gateway.keys import KeyPair
from gateway.protocol import (
    MAX_MESSAGE_SIZE,
    ORD_TYPE_CODES,
    PROTOCOL_VERSION,
    SIDE_CODES,
    STP_CODES,
    TIF_CODES,
    EncodeError,
    ProtocolError,
    decode_request,
    encode,
)
from gateway.reasons import Reason
from gateway.render import render
from gateway.reports import reject_message
from gateway.roles import links
from gateway.roles.clock import WALL_CLOCK, Clock
from gateway.roles.fairness import (
    CUT,
    PEER_RCVHWM,
    READ_BATCH,
    REFUSED_COST,
    REJECT,
    Fairness,
)
from gateway.roles.peer_watch import PeerWatch
from gateway.roles.ratelimit import RateLimiter
from gateway.roles.sessions import Session, SessionTable
from gateway.roles.waiting import SocketWaiter, drain
from gateway.schemas import QUERY_TYPES
from gateway.stopping import LINGER_S, MARGIN_S, StopDeadline
from gateway.zmq_util import (
    NOBLOCK,
    Wakeup,
    bound_endpoint,
    close_socket,
    send_frame,
    send_two,
)
from gateway.zmq_util import get_option as _get
from matching.enums import EndReason

log = logging.getLogger("crossbook.gateway")

MAX_FRAME_BYTES = 1 << 20
_DRAIN = 4096
_TURN_STEP = 16
"""Frames read between two looks at whether the turn is full (fairness rule 5), at most
an account's share."""
_ORDER_ENTRY = frozenset({"new_order", "cancel", "amend", "mass_cancel"})
_FORWARDED = _ORDER_ENTRY | QUERY_TYPES
SESSION_SNDHWM = 10_000
"""Messages queued per session at most (libzmq drops beyond: the bot sees the seq gap)."""
SLOW_AFTER = 2_000
"""Messages lost in a row at a session's high-water mark before it is ended."""
_ANSWERS = frozenset({"query_reply", "reject"})
_HOPPED = frozenset({"exec_report", "cancel_reject", "mass_cancel_report"})
_CHANNEL_OF = {"position_update": "positions", "balance_update": "balances",
               "margin_update": "margin"}  # fmt: skip
_MASS = int(EndReason.MASS_CANCEL)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_PLACE = INPUT_TYPES.index(PlaceOrder)
_CANCEL = INPUT_TYPES.index(CancelOrderRequest)
_AMEND = INPUT_TYPES.index(AmendOrderRequest)
_MASS_CANCEL = INPUT_TYPES.index(MassCancelOrders)


@dataclass
class GatewayStats:
    frames: int = 0
    rejected: int = 0
    forwarded: int = 0
    sent: int = 0
    dropped_hwm: int = 0
    peers_gone: int = 0
    sessions_expired: int = 0
    bad_link_messages: int = 0
    link_gaps: int = 0
    clearing_restarts: int = 0
    errors: int = 0


class GatewayRole:
    """The gateway shell; construct (binds), then ``await run(clearing_endpoint, stop)``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        config: ExchangeConfig,
        *,
        server_keys: KeyPair,
        authenticator: CurveAuthenticator,
        clock: Clock = WALL_CLOCK,
        internal: Any = None,
    ) -> None:
        self.ctx = ctx
        self.internal = internal
        """``internal_auth.InternalLinks`` with ``--role``: the link to clearing is CURVE."""
        self.config = config
        self.clock = clock
        self.hb = config.stream_heartbeat_ms / 1000.0
        self.check = config.check_outbound
        self.limits = config.limits
        self.stats = GatewayStats()
        self._pack = msgpack.Packer(use_bin_type=True).pack
        self.sessions = SessionTable()
        self.limiter = RateLimiter(config.limits.rate_per_s, config.limits.burst)
        self.fair = Fairness(config.limits.rate_per_s, config.limits.burst)  # fairness.py
        self._drops: dict[int, int] = {}  # sid -> messages lost at its high-water mark in a row
        self.run_id = secrets.token_hex(8)
        self.clearing_run: str | None = None
        self.gw = 0
        """This run's number at clearing (0 until clearing has answered)."""
        self.pumped = False
        """True when clearing runs in this process and calls ``pump_link`` after each send."""
        self.ring_clearing: Callable[[], None] | None = None
        """A co-located clearing's doorbell (one-process mode): rung after each link send,
        so clearing runs this turn's batch without waiting for the loop to poll the link's
        descriptor (the message still crosses the inproc link)."""
        self.accepting = True
        self.reading = True
        """False from the stop signal on: no bot frame is read any more (``gateway.stopping``)."""
        self.deadline: StopDeadline | None = None
        self._inputs: list = []
        self._queries: list = []
        self._channels: list = []
        self._seq_out = 0
        self._seq_in = 0
        self._backlog: deque[bytes] = deque()
        self._last_link_send = 0.0
        self._last_link_recv = clock.monotonic()
        # A send on a ZeroMQ socket can swallow the edge of its file descriptor that tells
        # a task waiting to *read* that socket something arrived; whoever sends on a socket
        # another task reads rings that task's doorbell.
        self._bot_wake = Wakeup()
        self._link_wake = Wakeup()
        self._sent_mark = 0
        router = ctx.socket(zmq.ROUTER)
        try:
            router.linger = 0
            router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            router.maxmsgsize = MAX_FRAME_BYTES
            router.sndhwm = SESSION_SNDHWM
            router.rcvhwm = PEER_RCVHWM
            curve_server(router, server_keys, authenticator)
            router.bind(config.endpoints.order_entry)
        except BaseException:
            close_socket(router)
            raise
        self.router = router
        self._raw = zmq.Socket.shadow(router.underlying)
        self.peers = PeerWatch(router)  # sessions bound to connections, not routing ids
        authenticator.before_admit.append(self._drop_gone)
        self.link: zmq.asyncio.Socket | None = None
        self._link_raw: zmq.Socket | None = None
        self.bound = {"order_entry": bound_endpoint(router)}

    # ------------------------------------------------------------------ run ---------
    async def run(self, clearing_endpoint: str, stop: asyncio.Event,
                  quiesce_s: float | None = None) -> None:  # fmt: skip
        """Serve until ``stop``; then refuse new order entry, keep delivering answers until
        nothing is pending (at most ``quiesce_s``), and close."""
        link = self.ctx.socket(zmq.DEALER)
        link.linger = 0
        link.sndhwm = 100_000
        link.rcvhwm = 100_000
        if self.internal is not None:
            self.internal.connect(link)
        link.connect(clearing_endpoint)
        self.link = link
        self._link_raw = zmq.Socket.shadow(link.underlying)
        self._flush_link(heartbeat=True)  # hello: clearing numbers this run
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._bot_loop()),
                    tg.create_task(self._link_loop()),
                    tg.create_task(self._timer_loop()),
                ]
                await stop.wait()
                self.stop_reading()
                tasks[0].cancel()
                if quiesce_s is None:
                    quiesce_s = self.config.drain_timeout_ms / 1000.0
                if self.deadline is not None:
                    quiesce_s = min(quiesce_s, self.deadline.left(2 * MARGIN_S))
                await self._quiesce(quiesce_s)
                for t in tasks:
                    t.cancel()
        finally:
            self.close(self._linger_ms())

    def stop_reading(self) -> None:
        """Stopping: read no more bot frames, refuse order entry from what was read, and
        send clearing what was decoded."""
        self.reading = False
        self.accepting = False
        self._bot_wake.set()
        self._flush_link()

    def _linger_ms(self) -> int:
        """How long replies still queued for bots may take to leave once the socket is
        closed: ``LINGER_S``, not past the stop's margin (0 without a deadline)."""
        if self.deadline is None or self.deadline.started is None:
            return 0
        return int(min(LINGER_S, self.deadline.left(MARGIN_S)) * 1000)

    def close(self, linger_ms: int = 0) -> None:
        self.peers.close()
        if not self.router.closed:
            self.router.close(linger=linger_ms)
        close_socket(self.link)

    async def _quiesce(self, timeout_s: float) -> None:
        mono = self.clock.monotonic
        deadline = mono() + timeout_s
        await asyncio.sleep(min(timeout_s, 2 * self.hb))
        while mono() < deadline:
            if not self._backlog and not self._inputs and not self._queries:
                return
            await asyncio.sleep(self.hb / 2)

    # ------------------------------------------------------------------ bots --------
    async def _bot_loop(self) -> None:
        raw = self._raw
        wake = self._bot_wake
        waiter = SocketWaiter(raw, wake)
        fair = self.fair
        try:
            while self.reading:
                await waiter.wait(1.0)
                wake.clear()
                if not self.reading:
                    return
                self._drop_gone()
                fair.begin_turn(self.clock.monotonic())
                step = min(_TURN_STEP, fair.share)
                n = k = 0
                while n < READ_BATCH and not fair.turn_full:  # fairness rule 5
                    k = waiter.drain(self._on_frames_guarded, step, copy=False)
                    n += k
                    if k < step:
                        break
                self._flush_link()
                if k == step:  # still readable: let timers, market data, the link run
                    await asyncio.sleep(0)
        finally:
            waiter.close()

    def _on_frames_guarded(self, frames: list[zmq.Frame]) -> None:
        try:
            self._on_frames(frames)
        except Exception:  # a bug on one message must not take the gateway down
            self.stats.errors += 1
            log.exception("failed to handle a bot message")

    def _on_frames(self, frames: list[zmq.Frame]) -> None:
        self.stats.frames += 1
        if len(frames) < 2:
            return
        rid = frames[0].bytes
        body = frames[-1]
        try:
            user = body.get(USER_ID)
        except zmq.ZMQError:
            user = None
        if not isinstance(user, str) or not user.isdigit():
            return  # not authenticated: cannot happen behind CURVE + ZAP
        account = int(user)
        now = self.clock.monotonic()
        ts = self.clock.time_ns()
        sess = self.sessions.get(rid)
        conn = self.peers.conn_of(body)
        if sess is None or sess.account != account or sess.conn != conn:
            if sess is not None:  # its connection is gone: the id belongs to a new one
                self._end(sess, "peer gone")
            sess = self.sessions.open(rid, account, now)
            sess.conn = conn
        sess.last_seen = now
        verdict = self.fair.admit(account, now)  # paid for before it is decoded
        if verdict:
            self._over_limit(sess, verdict, now, ts, body)
            return
        if len(frames) != 2:
            self.fair.charge(account, REFUSED_COST - 1, now)
            self._reject(sess, ts, Reason.MALFORMED_MESSAGE,
                         f"one message per frame: got {len(frames) - 1} frames")  # fmt: skip
            return
        msg = decode_request(body.bytes)
        if isinstance(msg, ProtocolError):
            self.stats.rejected += 1
            self.fair.charge(account, REFUSED_COST - 1, now)  # fairness rule 7
            self._send(sess, msg.to_reject(ts))
            return
        mtype = msg["type"]
        req_id = msg.get("req_id")
        if mtype == "logon":
            self._logon(sess, msg, ts)
            return
        if not sess.logged_on:
            self.fair.charge(account, REFUSED_COST - 1, now)
            self._reject(sess, ts, Reason.NOT_LOGGED_ON, "send logon first", req_id, mtype)
            return
        if mtype == "heartbeat":
            self._send(sess, {"v": PROTOCOL_VERSION, "type": "heartbeat_ack", "req_id": req_id,
                              "ts": msg["ts"], "ts_gw": ts})  # fmt: skip
        elif mtype in _FORWARDED:
            self._forward(sess, msg, mtype, req_id, now, ts)
        elif mtype == "subscribe" or mtype == "unsubscribe":
            if mtype == "subscribe":
                sess.channels.update(msg["channels"])
            else:
                sess.channels.difference_update(msg["channels"])
            self._channels_changed(sess.account)
            self._send(sess, {"v": PROTOCOL_VERSION, "type": "subscribe_ack", "req_id": req_id,
                              "channels": sorted(sess.channels)})  # fmt: skip
        elif mtype == "cancel_all_after":
            st = self.sessions.account(account)
            seconds = msg["seconds"]
            st.cancel_after_s = seconds
            st.deadline = now + seconds if seconds else None
            self._send(sess, {"v": PROTOCOL_VERSION, "type": "cancel_all_after_ack",
                              "req_id": req_id, "seconds": seconds,
                              "deadline_ts": ts + seconds * 1_000_000_000 if seconds else 0,
                              "ts": ts})  # fmt: skip
        elif mtype == "logout":
            self._send(sess, {"v": PROTOCOL_VERSION, "type": "logout_ack", "req_id": req_id,
                              "ts": ts})  # fmt: skip
            self._end(sess, "logout")
        else:  # a request type this gateway does not serve
            self.fair.charge(account, REFUSED_COST - 1, now)
            self._reject(sess, ts, Reason.UNKNOWN_MESSAGE_TYPE, f"{mtype} is not served here",
                         req_id, mtype)  # fmt: skip

    def _logon(self, sess: Session, msg: dict, ts: int) -> None:
        sess.logged_on = True
        sess.heartbeat_ms = msg["heartbeat_ms"]
        sess.cod = msg["cancel_on_disconnect"]
        sess.client = msg["client"]
        self._inputs.append(pack_input(Logon(ts, self.gw, sess.sid, sess.account, sess.cod)))
        self._send(sess, {"v": PROTOCOL_VERSION, "type": "logon_ack", "req_id": msg.get("req_id"),
                          "account": sess.account, "session_id": sess.sid,
                          "heartbeat_ms": sess.heartbeat_ms, "cancel_on_disconnect": sess.cod,
                          "ts": ts})  # fmt: skip

    def _forward(self, sess: Session, msg: dict, mtype: str, req_id: Any, now: float,
                 ts: int) -> None:  # fmt: skip
        account = sess.account
        if mtype in _ORDER_ENTRY and not self.accepting:
            self._reject(sess, ts, Reason.SERVICE_UNAVAILABLE, "exchange shutting down", req_id,
                         mtype)  # fmt: skip
            return
        if mtype[0] == "q" and not self.fair.query_start(account, now):  # a query: capped
            self._reject(sess, ts, Reason.RATE_LIMITED, "too many queries in flight", req_id,
                         mtype, {"retry_after_ms": self.fair.retry_after_ms(account, now)})
            return
        sid = sess.sid
        g = msg.get
        if mtype == "new_order":
            item = [_PLACE, ts, self.gw, sid, req_id, account, msg["instrument"],
                    SIDE_CODES[msg["side"]], msg["qty"], msg["price"],
                    ORD_TYPE_CODES[msg["ord_type"]], TIF_CODES[msg["tif"]],
                    msg["client_order_id"], msg["post_only"], msg["reduce_only"],
                    STP_CODES[msg["stp"]], msg["expire_ts"]]  # fmt: skip
        elif mtype == "cancel":
            item = [_CANCEL, ts, self.gw, sid, req_id, account, g("instrument"), g("order_id"),
                    g("client_order_id")]  # fmt: skip
        elif mtype == "amend":
            item = [_AMEND, ts, self.gw, sid, req_id, account, g("instrument"), g("order_id"),
                    g("client_order_id"), g("price"), g("qty")]  # fmt: skip
        elif mtype == "mass_cancel":
            item = [_MASS_CANCEL, ts, self.gw, sid, req_id, account, g("instrument")]
        else:  # a query: answered from clearing's state, not journaled
            self.stats.forwarded += 1
            self._queries.append((sid, account, req_id, msg))
            return
        self.stats.forwarded += 1
        self._inputs.append(item)

    def _reject(self, sess: Session, ts: int, reason: Reason, text: str, req_id: Any = None,
                ref_type: str | None = None, figures: dict | None = None) -> None:  # fmt: skip
        self.stats.rejected += 1
        self._send(sess, reject_message(reason, ts=ts, req_id=req_id, ref_type=ref_type,
                                        text=text, figures=figures))  # fmt: skip

    def _send(self, sess: Session, msg: dict) -> None:
        msg["seq"] = sess.next_seq()
        if msg["type"] in _HOPPED:
            msg["ts_gw_out"] = self.clock.time_ns()
        data = None
        if not self.check:  # the fast path: messages the tests validate (check_outbound)
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                data = self._pack(msg)
            if data is not None and len(data) > MAX_MESSAGE_SIZE:
                data = None
        if data is None:
            try:
                data = encode(msg, check=True)
            except EncodeError as exc:  # our bug: report it, send the bot something valid
                self.stats.errors += 1
                log.error("refusing to send an invalid %s: %s", msg.get("type"), exc)
                data = encode(reject_message(Reason.SERVICE_UNAVAILABLE,
                                             ts=self.clock.time_ns(), req_id=msg.get("req_id"),
                                             text="internal error"))  # fmt: skip
        try:
            send_two(self._raw, sess.rid, data)
            self.stats.sent += 1
            if self._drops:
                self._drops.pop(sess.sid, None)
        except zmq.Again:
            self.stats.dropped_hwm += 1
            self._slow(sess)
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self.stats.peers_gone += 1
            self._end(sess, "peer gone")

    def _end(self, sess: Session, why: str) -> None:
        if self.sessions.by_rid.get(sess.rid) is not sess:
            return
        self.sessions.close(sess)
        log.info("session %d (account %d) ended: %s", sess.sid, sess.account, why)
        if sess.logged_on:
            self._inputs.append(pack_input(Logout(self.clock.time_ns(), self.gw, sess.sid,
                                                  why[:64])))  # fmt: skip
            if sess.channels:
                self._channels_changed(sess.account)

    def _over_limit(self, sess: Session, verdict: int, now: float, ts: int,
                    body: zmq.Frame) -> None:  # fmt: skip
        """A frame past its account's bucket (``fairness``): a reject (a bounded number per
        window, so their decoding for the req_id is bounded too), or dropped, or the
        session is cut."""
        if verdict == REJECT:
            msg = decode_request(body.bytes) if len(body) <= 4096 else None
            req_id = mtype = None
            if isinstance(msg, dict):
                req_id, mtype = msg.get("req_id"), msg["type"]
            self._reject(sess, ts, Reason.RATE_LIMITED, "rate limited", req_id, mtype,
                         {"retry_after_ms": self.fair.retry_after_ms(sess.account, now)})
        elif verdict == CUT:
            self._end(sess, "flooding: past its rate limit")

    def _slow(self, sess: Session) -> None:
        """A session that does not read: after ``SLOW_AFTER`` messages lost in a row at its
        high-water mark it is ended (its queue stays bounded by SNDHWM)."""
        n = self._drops.get(sess.sid, 0) + 1
        self._drops[sess.sid] = n
        if n >= SLOW_AFTER:
            del self._drops[sess.sid]
            self._end(sess, "not reading: outbound queue full")

    def _drop_gone(self) -> None:
        """End the sessions of connections that closed (``peer_watch``)."""
        gone = self.peers.gone()
        if gone:
            closed = set(gone)
            for sess in self.sessions:
                if sess.conn in closed:
                    self.stats.peers_gone += 1
                    self._end(sess, "peer gone")

    def _channels_changed(self, account: int) -> None:
        st = self.sessions.account(account)
        union = self.sessions.channels_of(account)
        if union != st.channels:
            st.channels = union
            self._channels.append((account, sorted(union)))

    # ------------------------------------------------------------------ clearing ----
    def _flush_link(self, heartbeat: bool = False) -> None:
        """One message to clearing with everything gathered since the last one."""
        raw = self._link_raw
        if raw is None:
            return
        if self._inputs or self._queries or self._channels or heartbeat:
            self._seq_out += 1
            self._backlog.append(links.pack([self.run_id, self._seq_out, self._inputs,
                                             self._queries, self._channels]))  # fmt: skip
            self._inputs, self._queries, self._channels = [], [], []
        sent = False
        while self._backlog:
            try:
                send_frame(raw, self._backlog[0], NOBLOCK)
            except zmq.Again:
                break
            self._backlog.popleft()
            sent = True
        if sent:
            self._last_link_send = self.clock.monotonic()
            self._link_wake.set()
            ring = self.ring_clearing
            if ring is not None:
                ring()

    def pump_link(self) -> int:
        """Deliver what clearing sent, now (a co-located clearing calls this after it
        sends); return how many link messages."""
        raw = self._link_raw
        if raw is None:
            return 0
        if _get(self._raw, _EVENTS) & _POLLIN:  # takes in closed connections
            self._bot_wake.set()  # (and may swallow the bot loop's read edge)
        self._drop_gone()  # then their sessions end before anything is delivered
        n = drain(raw, self._on_link, _DRAIN, frames=1)
        self._flush_link()
        if self.stats.sent != self._sent_mark:
            # a send on the bots' socket may swallow the read edge of its descriptor:
            # if a frame is waiting now, ring the bot loop (it may be asleep on that edge)
            self._sent_mark = self.stats.sent
            if _get(self._raw, _EVENTS) & _POLLIN:
                self._bot_wake.set()
        return n

    async def _link_loop(self) -> None:
        assert self.link is not None and self._link_raw is not None
        if self.pumped:  # clearing in this process delivers by calling pump_link
            while True:
                await asyncio.sleep(self.hb)
                self.pump_link()
        waiter = SocketWaiter(self._link_raw, wake := self._link_wake)
        try:
            while True:
                await waiter.wait(1.0)
                wake.clear()
                self.pump_link()
        finally:
            waiter.close()

    def _on_link(self, frames: list[bytes]) -> None:
        try:
            run_id, seq, gw, hops, replies, pushes = links.unpack(frames[-1])
        except (links.LinkError, ValueError) as exc:
            self.stats.bad_link_messages += 1
            log.warning("bad message from clearing: %s", exc)
            return
        self._last_link_recv = self.clock.monotonic()
        if run_id != self.clearing_run or gw != self.gw:
            self._resync(run_id, gw)
        elif seq != self._seq_in + 1:
            self.stats.link_gaps += 1
            log.warning("clearing link: messages %d..%d missing", self._seq_in + 1, seq - 1)
        self._seq_in = seq
        for reply in replies:
            try:
                self._deliver(reply, hops)
            except Exception:
                self.stats.errors += 1
                log.exception("failed to deliver a report from clearing")
        for account, sid, msg in pushes:
            if sid and msg.get("type") in _ANSWERS:  # a query's answer: charged by its rows
                items = msg.get("items")
                self.fair.query_done(account, len(items) if isinstance(items, list) else 0,
                                     self._last_link_recv, msg.get("last", True) is not False)
            if sid:
                sess = self.sessions.by_sid.get(sid)
                if sess is not None and sess.account == account:
                    self._send(sess, msg)
                continue
            channel = _CHANNEL_OF.get(msg.get("type"))
            first = True
            for sess in self.sessions.of_account(account):
                if sess.logged_on and (channel is None or channel in sess.channels):
                    self._send(sess, msg if first else dict(msg))
                    first = False

    def _deliver(self, reply: list, hops: list) -> None:
        account, sid, req_id, gw_in, report, direct, matched = reply
        if not gw_in:
            full = (0, 0, 0, hops[2], hops[3]) if matched else (0, 0, 0, 0, 0)
        elif matched:
            full = (gw_in, *hops)
        else:
            full = (gw_in, hops[0], hops[1], 0, 0)
        if direct:
            sess = self.sessions.by_sid.get(sid)
            if sess is not None and sess.account == account:
                msg = render(report, full)
                msg["req_id"] = req_id
                self._send(sess, msg)
            return
        msg = None
        for sess in self.sessions.of_account(account):
            if not sess.logged_on:
                continue
            if msg is None:
                msg = render(report, full)
                m = msg
            else:
                m = dict(msg)
            m["req_id"] = req_id if sess.sid == sid else None
            self._send(sess, m)

    def _resync(self, run_id: str, gw: int) -> None:
        """Clearing restarted or renumbered this gateway: tell it the live sessions."""
        if self.clearing_run is not None:
            self.stats.clearing_restarts += 1
            log.warning("clearing run %s, gateway number %d: sessions sent again", run_id, gw)
        self.clearing_run, self.gw = run_id, gw
        self.fair.queries_lost()
        live = [[s.sid, s.account, s.cod] for s in self.sessions if s.logged_on]
        ts = self.clock.time_ns()
        # inputs gathered before the number was known carry gw 0: clearing sets the real one
        self._inputs.insert(0, pack_input(GatewaySync(ts, gw, live)))
        for account, st in self.sessions.accounts.items():
            if st.channels:
                self._channels.append((account, sorted(st.channels)))

    # ------------------------------------------------------------------ timers ------
    async def _timer_loop(self) -> None:
        period = min(0.05, self.hb)
        while True:
            await asyncio.sleep(period)
            now = self.clock.monotonic()
            for sess in self.sessions.expired(now):
                self.stats.sessions_expired += 1
                self._end(sess, "heartbeats stopped" if sess.logged_on else "never logged on")
            for account in self.sessions.due_deadlines(now):
                log.info("cancel_all_after fired for account %d", account)
                self._inputs.append(pack_input(CancelAll(self.clock.time_ns(), self.gw, 0,
                                                         account, _MASS)))  # fmt: skip
            self._flush_link(heartbeat=now - self._last_link_send >= self.hb)
