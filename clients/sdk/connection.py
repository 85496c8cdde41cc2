"""The order-entry session: one CURVE DEALER, logon, heartbeats, sequence checks, reconnects.

``Connection`` owns the socket inside one task (``_pump``) and knows nothing of orders:
it delivers every decoded message from the exchange to ``on_message`` and reports its
state to ``on_state``. Rules:

1. Logon first. ``start()`` returns once the first ``logon_ack`` arrived; it raises
   ``AuthenticationError`` when the CURVE handshake is refused (an unknown key: the socket
   monitor reports ``HANDSHAKE_FAILED_AUTH``) or the logon is rejected, and
   ``RequestTimeout`` when nothing answers within ``timeout``.
2. Heartbeats: something is sent at least every ``heartbeat_ms / 2`` (a ``heartbeat`` when
   idle; the gateway's ``heartbeat_ack`` gives the round trip in ``stats.rtt_ns``), and the
   session counts as lost after ``3 * heartbeat_ms`` without a frame from the exchange.
3. Session sequence: every message may carry ``seq``, +1 per message of this session. A jump
   is counted in ``stats.gaps`` and reported as ``on_state("gap")`` so the owner can query
   its orders and positions again.
4. Reconnects: a lost session (silence, a disconnect, ``NOT_LOGGED_ON``) closes the socket,
   reports ``on_state("down")`` and, with ``reconnect``, opens a fresh socket (a new
   routing identity, so no stale request is delivered to a new session) after a backoff
   that doubles from ``backoff[0]`` to ``backoff[1]`` seconds and resets after a logon; its
   logon waits (``timeout``) while ZeroMQ retries the TCP connection with the same
   doubling interval. Each logon reports ``on_state("up")``. A refused key ends the
   session for good (``on_state("failed")``).
5. ``send()`` never blocks and never waits for a session: it raises ``NetworkError`` when
   none is up (the caller may ``await ready()`` first). Frames queue for the pump task,
   which sends them in order.
6. Cancel-on-disconnect is opt-in (``cancel_on_disconnect=True`` at logon); ``close()``
   sends ``logout`` so the gateway ends the session at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from clients.sdk.errors import (
    AuthenticationError,
    BaseError,
    NetworkError,
    RequestTimeout,
    error_from_message,
)
from gateway.auth import curve_client
from gateway.keys import KeyPair
from gateway.protocol import MsgType, ProtocolError, Reason, decode_push, encode
from gateway.zmq_util import Wakeup, close_socket

log = logging.getLogger(__name__)

LOGON_REQ_ID = 0
_MONITOR_EVENTS = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_DISCONNECTED
)


@dataclass
class SessionStats:
    sent: int = 0
    received: int = 0
    logons: int = 0
    reconnects: int = 0
    gaps: int = 0
    bad_messages: int = 0
    heartbeats: int = 0
    rtt_ns: int | None = None


class Connection:
    """One order-entry session to the gateway, kept alive; ``await start()``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        keypair: KeyPair,
        server_public: bytes,
        *,
        on_message: Callable[[dict[str, Any]], None],
        on_state: Callable[[str, dict[str, Any] | None], None] | None = None,
        heartbeat_ms: int = 2000,
        cancel_on_disconnect: bool = False,
        client: str = "crossbook-sdk",
        timeout: float = 10.0,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 5.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.keypair = keypair
        self.server_public = server_public
        self.on_message = on_message
        self.on_state = on_state
        self.heartbeat_ms = heartbeat_ms
        self.cancel_on_disconnect = cancel_on_disconnect
        self.client = client
        self.timeout = timeout
        self.reconnect = reconnect
        self.backoff = backoff
        self.clock = clock
        self.stats = SessionStats()
        self.logon: dict[str, Any] | None = None  # the latest logon_ack
        self.up = False
        self.failure: BaseError | None = None  # set when the session can never come back
        self._out: deque[bytes] = deque()
        self._wake = Wakeup()
        self._up_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._first: asyncio.Future[None] | None = None

    @property
    def account(self) -> int | None:
        return None if self.logon is None else self.logon["account"]

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and log on; returns after the first ``logon_ack``."""
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._task = asyncio.create_task(self._pump(), name=f"crossbook-session {self.endpoint}")
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(self._first)
        except TimeoutError:
            await self.close(logout=False)
            raise RequestTimeout(
                f"no logon answer from {self.endpoint} within {self.timeout} s"
            ) from None
        except BaseException:
            await self.close(logout=False)
            raise

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until a session is up (raises the failure if it can never be)."""
        if self.failure is not None:
            raise self.failure
        if self.up:
            return
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                while not self.up:
                    if self.failure is not None:
                        raise self.failure
                    self._up_event.clear()
                    await self._up_event.wait()
        except TimeoutError:
            raise RequestTimeout(f"no session with {self.endpoint}: reconnecting") from None
        if self.failure is not None:
            raise self.failure

    async def close(self, logout: bool = True) -> None:
        """Log out (if a session is up) and stop the pump; idempotent."""
        if self._task is None:
            return
        if logout and self.up:
            self._out.append(encode({"type": MsgType.LOGOUT}))
            self._wake.set()
            await asyncio.sleep(0)  # let the pump put it on the wire
            await asyncio.sleep(0.01)
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    # -- sending ----------------------------------------------------------------------------
    def send(self, msg: dict[str, Any]) -> None:
        """Queue one request for the wire; ``NetworkError`` if no session is up."""
        if self.failure is not None:
            raise self.failure
        if not self.up:
            raise NetworkError(f"not connected to {self.endpoint} (reconnecting)")
        self._out.append(encode(msg))
        self._wake.set()

    # -- the socket task ------------------------------------------------------------------
    def _state(self, state: str, info: dict[str, Any] | None = None) -> None:
        if self.on_state is not None:
            try:
                self.on_state(state, info)
            except Exception:
                log.exception("on_state(%s) failed", state)

    def _fail_first(self, exc: BaseError) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_exception(exc)

    async def _pump(self) -> None:
        delay = self.backoff[0]
        try:
            while not self._closing:
                outcome = await self._session()
                if self.up:
                    self.up = False
                    self._state("down", None)
                if outcome == "failed" or not self.reconnect or self._closing:
                    if outcome != "failed" and self.failure is None:
                        self.failure = NetworkError(f"session with {self.endpoint} ended")
                        self._fail_first(self.failure)
                    self._up_event.set()
                    return
                if outcome == "was_up":
                    delay = self.backoff[0]
                self.stats.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])
        finally:
            self.up = False
            self._up_event.set()

    async def _session(self) -> str:
        """One socket's life: ``failed`` (never retry), ``was_up`` or ``lost``."""
        sock = self.ctx.socket(zmq.DEALER)
        mon: zmq.asyncio.Socket | None = None
        was_up = False
        try:
            sock.linger = 0
            sock.sndhwm = 100_000
            sock.rcvhwm = 100_000
            # the transport retries a refused or lost TCP connection by itself, doubling
            # its interval from backoff[0] up to backoff[1]
            sock.reconnect_ivl = max(1, int(self.backoff[0] * 1000))
            sock.reconnect_ivl_max = max(1, int(self.backoff[1] * 1000))
            curve_client(sock, self.keypair, self.server_public)
            mon = sock.get_monitor_socket(_MONITOR_EVENTS)
            sock.connect(self.endpoint)
            raw = zmq.Socket.shadow(sock.underlying)
            poller = zmq.asyncio.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(mon, zmq.POLLIN)
            self._out.clear()
            logon = {
                "type": MsgType.LOGON,
                "req_id": LOGON_REQ_ID,
                "cancel_on_disconnect": self.cancel_on_disconnect,
                "heartbeat_ms": self.heartbeat_ms,
                "client": self.client[:64],
            }
            raw.send(encode(logon), zmq.NOBLOCK)  # queued by libzmq until connected
            now = self.clock()
            last_recv = last_send = now
            logon_deadline = now + self.timeout
            hb = self.heartbeat_ms / 1000.0
            last_seq: int | None = None
            while not self._closing:
                now = self.clock()
                if self.up:
                    timer = min(last_send + hb / 2, last_recv + 3 * hb) - now
                else:
                    timer = logon_deadline - now
                ready = await self._wait(poller, max(timer, 0.0))
                if mon in ready:
                    verdict = self._on_monitor(mon)
                    if verdict is not None:
                        return verdict if verdict == "failed" else ("was_up" if was_up else verdict)
                if sock in ready:
                    while True:
                        try:
                            frame = raw.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        last_recv = self.clock()
                        self.stats.received += 1
                        msg = decode_push(frame)
                        if isinstance(msg, ProtocolError):
                            self.stats.bad_messages += 1
                            log.warning("undecodable message from the exchange: %r", msg)
                            continue
                        seq = msg.get("seq")
                        if type(seq) is int:
                            if last_seq is not None and seq != last_seq + 1 and seq > last_seq:
                                self.stats.gaps += 1
                                self._state("gap", {"expected": last_seq + 1, "got": seq})
                            last_seq = seq if last_seq is None else max(seq, last_seq)
                        verdict = self._on_session_message(msg)
                        if verdict == "up":
                            was_up = True
                        elif verdict == "lost" or verdict == "failed":
                            return (
                                verdict
                                if verdict == "failed"
                                else ("was_up" if was_up else verdict)
                            )
                        elif verdict is None:
                            try:
                                self.on_message(msg)
                            except Exception:
                                log.exception("on_message failed for %s", msg.get("type"))
                # send what is queued
                if self.up:
                    while self._out:
                        try:
                            raw.send(self._out[0], zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._out.popleft()
                        self.stats.sent += 1
                        last_send = self.clock()
                now = self.clock()
                if self.up:
                    if now - last_recv >= 3 * hb:
                        log.warning(
                            "no message from %s for %.1f s: session lost",
                            self.endpoint,
                            now - last_recv,
                        )
                        return "was_up"
                    if now - last_send >= hb / 2:
                        hbmsg = {"type": MsgType.HEARTBEAT, "ts": time.time_ns()}
                        with contextlib.suppress(zmq.Again):
                            raw.send(encode(hbmsg, check=False), zmq.NOBLOCK)
                            self.stats.heartbeats += 1
                            last_send = now
                elif now >= logon_deadline:
                    return "lost"
            return "was_up" if was_up else "lost"
        finally:
            if mon is not None:
                with contextlib.suppress(zmq.ZMQError):
                    sock.disable_monitor()
                close_socket(mon)
            close_socket(sock)

    async def _wait(self, poller: zmq.asyncio.Poller, timeout: float) -> set[Any]:
        """Sockets readable within ``timeout`` s; returns early when a send is queued."""
        self._wake.clear()
        if self._out and self.up:
            timeout = 0.0
        poll = asyncio.ensure_future(poller.poll(int(timeout * 1000) + 1))
        wake = self._wake.future()
        try:
            if timeout > 0:
                await asyncio.wait(
                    [poll, wake], timeout=timeout + 0.05, return_when=asyncio.FIRST_COMPLETED
                )
            else:
                await asyncio.sleep(0)
        finally:
            if not poll.done():
                poll.cancel()
        if poll.done() and not poll.cancelled() and poll.exception() is None:
            return {s for s, _ in poll.result()}
        return set()

    def _on_monitor(self, mon: zmq.asyncio.Socket) -> str | None:
        raw = zmq.Socket.shadow(mon.underlying)
        while True:
            try:
                frames = raw.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return None
            try:
                event = parse_monitor_message(frames)["event"]
            except Exception:
                continue
            if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                exc = AuthenticationError(
                    f"{self.endpoint} refused this CURVE key "
                    f"(public {self.keypair.public.decode()})",
                    reason=Reason.AUTHENTICATION_FAILED,
                )
                return self._fatal(exc)
            if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                exc = AuthenticationError(
                    f"CURVE handshake with {self.endpoint} failed (wrong server key?)",
                    reason=Reason.AUTHENTICATION_FAILED,
                )
                return self._fatal(exc)
            if event == zmq.EVENT_DISCONNECTED and self.up:
                log.warning("disconnected from %s", self.endpoint)
                return "lost"

    def _fatal(self, exc: BaseError) -> str:
        self.failure = exc
        self._fail_first(exc)
        self._state("failed", {"error": exc})
        return "failed"

    def _on_session_message(self, msg: dict[str, Any]) -> str | None:
        """Handle logon/heartbeat answers; None for everything the owner should see."""
        mtype = msg["type"]
        if mtype == MsgType.HEARTBEAT_ACK:
            ts = msg.get("ts")
            if type(ts) is int and ts:
                self.stats.rtt_ns = time.time_ns() - ts
            return "handled"
        if mtype == MsgType.LOGON_ACK:
            self.logon = msg
            self.up = True
            self.stats.logons += 1
            self._up_event.set()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            self._state("up", msg)
            return "up"
        if mtype == MsgType.REJECT:
            ref = msg.get("ref_type")
            if ref == MsgType.LOGON or (msg.get("req_id") == LOGON_REQ_ID and not self.up):
                exc = error_from_message(msg)
                if isinstance(exc, AuthenticationError):
                    return self._fatal(exc)
                self._fail_first(exc)
                return "lost"
            if msg.get("reason") == Reason.NOT_LOGGED_ON and self.up:
                log.warning("the gateway no longer knows this session: logging on again")
                return "lost"
        if mtype == MsgType.LOGOUT_ACK:
            return "handled"
        return None
