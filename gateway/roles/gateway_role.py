"""The gateway role: where bots connect. Sessions, strict decoding, limits, routing.

Sockets: a ROUTER for bots (CURVE server; the ZAP authenticator maps each public key to
one account and the account is read from every frame's User-Id metadata, never from the
message), and a DEALER to the clearing role's link ROUTER (``gateway.roles.link``).

Rules:

1. Nothing a client sends can crash or stall the gateway: ``decode_request`` never raises;
   a malformed frame gets a ``reject`` naming the problem and the connection stays up;
   frames above ``MAX_FRAME_BYTES`` make libzmq drop that connection (memory guard), frames
   above the protocol's 64 KiB limit but below that get ``MESSAGE_TOO_LARGE``; sends to a
   bot never block (a bot that stops reading loses messages at its high-water mark and sees
   the gap in ``seq``).
2. ``logon`` first (else ``NOT_LOGGED_ON``). Order entry is rate limited per account
   (token bucket, ``RATE_LIMITED`` with ``retry_after_ms``) and capped in open orders
   (``TOO_MANY_OPEN_ORDERS``); a ``client_order_id`` already forwarded for the account is
   refused with ``DUPLICATE_REQUEST`` and never executed twice.
3. Liveness: a logged-on session silent for 3 heartbeat intervals, a ``logout``, or a peer
   that has gone ends the session; with ``cancel_on_disconnect`` its account's open orders
   are then cancelled. ``cancel_all_after`` arms a per-account dead man's switch.
4. Every message to a session carries that session's next ``seq``; execution reports,
   cancel rejects and mass-cancel reports get ``ts_gw_out`` just before sending. Private
   pushes go to the owning account's sessions only; the requesting session's copy carries
   its ``req_id``. Position/balance/margin updates go to the sessions that subscribed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from gateway.auth import USER_ID, CurveAuthenticator, curve_server
from gateway.exchange_config import ExchangeConfig
from gateway.internal import InternalCodec
from gateway.keys import KeyPair
from gateway.protocol import PROTOCOL_VERSION, EncodeError, ProtocolError, decode_request, encode
from gateway.reports import order_reject, reject_message
from gateway.roles.clock import WALL_CLOCK, Clock
from gateway.roles.link import LinkError, LinkSequencer, LinkTracker, read_body, read_header
from gateway.roles.ratelimit import RateLimiter
from gateway.roles.sessions import Session, SessionTable
from gateway.roles.waiting import SocketWaiter
from gateway.zmq_util import Wakeup, bound_endpoint, close_socket
from matching.enums import EndReason
from matching.reasons import Reason

log = logging.getLogger("crossbook.gateway")

MAX_FRAME_BYTES = 1 << 20
_DRAIN = 4096
_ORDER_ENTRY = frozenset({"new_order", "cancel", "amend", "mass_cancel"})
_FORWARDED = _ORDER_ENTRY | {
    "query_orders", "query_trades", "query_positions", "query_balances", "query_margin",
    "query_instruments",
}  # fmt: skip
_HOPPED = frozenset({"exec_report", "cancel_reject", "mass_cancel_report"})
_CHANNEL_OF = {"position_update": "positions", "balance_update": "balances",
               "margin_update": "margin"}  # fmt: skip
_COD = int(EndReason.CANCEL_ON_DISCONNECT)
_MASS = int(EndReason.MASS_CANCEL)


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
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.clock = clock
        self.hb = config.stream_heartbeat_ms / 1000.0
        self.check = config.check_outbound
        self.limits = config.limits
        self.stats = GatewayStats()
        self.sessions = SessionTable(config.limits.client_order_ids)
        self.limiter = RateLimiter(config.limits.rate_per_s, config.limits.burst)
        self.run_id = secrets.token_hex(8)
        self.codec = InternalCodec()
        self.seqr = LinkSequencer(self.run_id, self.codec)
        self.link_tracker = LinkTracker()
        self.clearing_run: str | None = None
        self.accepting = True
        self._to_clearing: list = [("hello", self.run_id)]
        self._backlog: deque[list[bytes]] = deque()
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
            router.sndhwm = 100_000
            router.rcvhwm = 100_000
            curve_server(router, server_keys, authenticator)
            router.bind(config.endpoints.order_entry)
        except BaseException:
            close_socket(router)
            raise
        self.router = router
        self._raw = zmq.Socket.shadow(router.underlying)
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
        link.connect(clearing_endpoint)
        self.link = link
        self._link_raw = zmq.Socket.shadow(link.underlying)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._bot_loop()),
                    tg.create_task(self._link_loop()),
                    tg.create_task(self._timer_loop()),
                ]
                await stop.wait()
                self.accepting = False
                if quiesce_s is None:
                    quiesce_s = self.config.drain_timeout_ms / 1000.0
                await self._quiesce(quiesce_s)
                for t in tasks:
                    t.cancel()
        finally:
            self.close()

    def close(self) -> None:
        close_socket(self.router)
        close_socket(self.link)

    async def _quiesce(self, timeout_s: float) -> None:
        mono = self.clock.monotonic
        deadline = mono() + timeout_s
        await asyncio.sleep(min(timeout_s, 2 * self.hb))
        while mono() < deadline:
            pending = sum(len(st.orders.pending) for st in self.sessions.accounts.values())
            if not pending and not self._backlog and not self._to_clearing:
                return
            await asyncio.sleep(self.hb / 2)

    # ------------------------------------------------------------------ bots --------
    async def _bot_loop(self) -> None:
        raw = self._raw
        wake = self._bot_wake
        waiter = SocketWaiter(raw, wake)
        try:
            while True:
                await waiter.wait(1.0)
                wake.clear()
                waiter.drain(self._on_frames_guarded, _DRAIN, copy=False)
                self._flush_link()
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
        if sess is None or sess.account != account:
            if sess is not None:
                self._end(sess, "routing id taken over")
            sess = self.sessions.open(rid, account, now)
        sess.last_seen = now
        if len(frames) != 2:
            self._reject(sess, ts, Reason.MALFORMED_MESSAGE,
                         f"one message per frame: got {len(frames) - 1} frames")  # fmt: skip
            return
        msg = decode_request(body.bytes)
        if isinstance(msg, ProtocolError):
            self.stats.rejected += 1
            self._send(sess, msg.to_reject(ts))
            return
        mtype = msg["type"]
        req_id = msg.get("req_id")
        if mtype == "logon":
            self._logon(sess, msg, ts)
            return
        if not sess.logged_on:
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
            self._reject(sess, ts, Reason.UNKNOWN_MESSAGE_TYPE, f"{mtype} is not served here",
                         req_id, mtype)  # fmt: skip

    def _logon(self, sess: Session, msg: dict, ts: int) -> None:
        sess.logged_on = True
        sess.heartbeat_ms = msg["heartbeat_ms"]
        sess.cod = msg["cancel_on_disconnect"]
        sess.client = msg["client"]
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
        wait_ms = self.limiter.take(account, now)
        if wait_ms:
            self._reject(sess, ts, Reason.RATE_LIMITED, "rate limited", req_id, mtype,
                         {"retry_after_ms": wait_ms})  # fmt: skip
            return
        if mtype == "new_order":
            st = self.sessions.account(account)
            clid = msg["client_order_id"]
            if clid in st.clids:
                self._reject(sess, ts, Reason.DUPLICATE_REQUEST,
                             f"client_order_id {clid!r} was already used; it is never "
                             "executed twice", req_id, mtype)  # fmt: skip
                return
            n_open = len(st.orders)
            if n_open >= self.limits.max_open_orders:
                self.stats.rejected += 1
                rep = order_reject(account, Reason.TOO_MANY_OPEN_ORDERS, ts=ts, request=msg,
                                   figures={"open_orders": n_open,
                                            "limit": self.limits.max_open_orders})  # fmt: skip
                rep["req_id"] = req_id
                rep["ts_gw_in"] = ts
                self._send(sess, rep)
                return
            st.clids.add(clid)
            st.orders.forwarded(clid)
        self.stats.forwarded += 1
        self._to_clearing.append(("req", sess.sid, account, ts, msg))

    def _reject(self, sess: Session, ts: int, reason: Reason, text: str, req_id: Any = None,
                ref_type: str | None = None, figures: dict | None = None) -> None:  # fmt: skip
        self.stats.rejected += 1
        self._send(sess, reject_message(reason, ts=ts, req_id=req_id, ref_type=ref_type,
                                        text=text, figures=figures))  # fmt: skip

    def _send(self, sess: Session, msg: dict) -> None:
        msg["seq"] = sess.next_seq()
        if msg["type"] in _HOPPED:
            msg["ts_gw_out"] = self.clock.time_ns()
        try:
            data = encode(msg, check=self.check)
        except EncodeError as exc:  # our bug: report it, send the bot something valid
            self.stats.errors += 1
            log.error("refusing to send an invalid %s: %s", msg.get("type"), exc)
            data = encode(reject_message(Reason.SERVICE_UNAVAILABLE, ts=self.clock.time_ns(),
                                         req_id=msg.get("req_id"), text="internal error"))
        try:
            self._raw.send_multipart([sess.rid, data], zmq.NOBLOCK)
            self.stats.sent += 1
        except zmq.Again:
            self.stats.dropped_hwm += 1
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
            if sess.cod:
                self._to_clearing.append(("cancel_all", sess.sid, sess.account,
                                          self.clock.time_ns(), _COD))  # fmt: skip
            if sess.channels:
                self._channels_changed(sess.account)

    def _channels_changed(self, account: int) -> None:
        st = self.sessions.account(account)
        union = self.sessions.channels_of(account)
        if union != st.channels:
            st.channels = union
            self._to_clearing.append(("channels", account, sorted(union)))

    # ------------------------------------------------------------------ clearing ----
    def _flush_link(self) -> None:
        raw = self._link_raw
        if raw is None:
            return
        if self._to_clearing:
            items, self._to_clearing = self._to_clearing, []
            self._backlog.append(self.seqr.frames(items))
        sent = False
        while self._backlog:
            try:
                raw.send_multipart(self._backlog[0], zmq.NOBLOCK)
            except zmq.Again:
                break
            self._backlog.popleft()
            sent = True
        if sent:
            self._last_link_send = self.clock.monotonic()
            self._link_wake.set()

    async def _link_loop(self) -> None:
        assert self.link is not None and self._link_raw is not None
        raw = self._link_raw
        wake = self._link_wake
        waiter = SocketWaiter(raw, wake)
        try:
            while True:
                await waiter.wait(1.0)
                wake.clear()
                waiter.drain(self._on_link, _DRAIN)
                self._flush_link()
                if self.stats.sent != self._sent_mark:
                    self._sent_mark = self.stats.sent
                    self._bot_wake.set()
        finally:
            waiter.close()

    def _on_link(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self.stats.bad_link_messages += 1
            return
        try:
            run_id, seq = read_header(frames[0])
            items = read_body(self.codec, frames[1])
        except LinkError as exc:
            self.stats.bad_link_messages += 1
            log.warning("bad message from clearing: %s", exc)
            return
        self._last_link_recv = self.clock.monotonic()
        status = self.link_tracker.check(run_id, seq)
        if status == "gap":
            self.stats.link_gaps += 1
            log.warning("clearing link: message gap before seq %d", seq)
        elif status == "repeat":
            return
        for item in items:
            try:
                self._on_item(item)
            except Exception:
                self.stats.errors += 1
                log.exception("failed to route an item from clearing")

    def _on_item(self, item: Any) -> None:
        kind = item[0]
        if kind == "a":
            _, account, origin, msg = item
            if msg.get("type") == "exec_report":
                self.sessions.account(account).orders.on_report(msg)
            channel = _CHANNEL_OF.get(msg.get("type"))
            first = True
            for sess in self.sessions.of_account(account):
                if not sess.logged_on or (channel is not None and channel not in sess.channels):
                    continue
                m = msg if first else dict(msg)
                first = False
                if sess.sid != origin and "req_id" in m:
                    m["req_id"] = None
                self._send(sess, m)
        elif kind == "d":
            _, sid, msg = item
            sess = self.sessions.by_sid.get(sid)
            if sess is not None:
                self._send(sess, msg)
        elif kind == "run":
            if item[1] != self.clearing_run:
                if self.clearing_run is not None:
                    self.stats.clearing_restarts += 1
                    log.warning("clearing restarted: open-order counts reset")
                self.clearing_run = item[1]
                for account, st in self.sessions.accounts.items():
                    st.orders.clear()
                    if st.channels:
                        self._to_clearing.append(("channels", account, sorted(st.channels)))

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
                self._to_clearing.append(("cancel_all", 0, account, self.clock.time_ns(), _MASS))
            if now - self._last_link_send >= self.hb and not self._to_clearing:
                self._to_clearing.append(("hello", self.run_id))
            self._flush_link()
