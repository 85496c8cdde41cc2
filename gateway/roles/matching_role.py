"""The matching role: the matcher's shell, with the market-data publisher beside it.

One DEALER connected to the clearing role's matcher link (``gateway.roles.links``), and
the ``MarketDataPublisher``'s PUB and snapshot ROUTER (bound, CURVE when configured).
Clearing runs the core and sends each round of a batch as one message; this shell applies
the round's commands in order (``MatchingEngine.apply``), reads the clock twice per round
(``ts_me_in``, ``ts_me_out``), hands the events to the market-data translator and answers
with one message. Rules:

1. The matcher holds no state of its own across runs: it is whatever clearing ``load``-s
   into it (the core's recovered or snapshotted books, at an epoch and round). Until then,
   and whenever a request names an epoch or round it does not hold, it answers ``stale``
   and clearing loads it again. A repeated round gets the cached reply.
2. ``hello`` (with what it holds) goes out when the role starts and as its heartbeat.
3. Market data: events are translated in the same step they are produced, so an L3
   snapshot read from the live book matches the published stream; a ``load`` replaces the
   book, and subscribers see the old levels removed and the new ones added.
4. Nothing clearing sends can stop the loop: an unreadable message is counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from gateway.auth import CurveAuthenticator
from gateway.exchange_config import ExchangeConfig
from gateway.keys import KeyPair
from gateway.marketdata import MarketDataPublisher
from gateway.roles import links
from gateway.roles.clock import WALL_CLOCK, Clock
from gateway.roles.waiting import SocketWaiter, drain
from gateway.stopping import MARGIN_S, StopDeadline
from gateway.zmq_util import NOBLOCK, Wakeup, close_socket, send_frame
from matching.engine import MatchingEngine
from matching.enums import InstrumentStatus
from matching.events import InstrumentStatusChanged, LevelChanged

log = logging.getLogger("crossbook.matching")

_TRADING = int(InstrumentStatus.TRADING)
_DRAIN = 256


@dataclass
class MatchingStats:
    rounds: int = 0
    commands: int = 0
    events: int = 0
    loads: int = 0
    resends: int = 0
    stale: int = 0
    bad_messages: int = 0


class MatchingRole:
    """The matching shell; construct (binds market data), then ``await run(stop)``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        config: ExchangeConfig,
        *,
        clock: Clock = WALL_CLOCK,
        curve: tuple[KeyPair, CurveAuthenticator] | None = None,
        link_endpoint: str | None = None,
        internal: Any = None,
    ) -> None:
        self.ctx = ctx
        self.internal = internal
        """``internal_auth.InternalLinks`` with ``--role``: the link to clearing is CURVE."""
        self.config = config
        self.clock = clock
        self.hb = config.stream_heartbeat_ms / 1000.0
        self.stats = MatchingStats()
        self.run_id = secrets.token_hex(8)
        self.engine: MatchingEngine | None = None
        self.epoch: str | None = None
        self.round = 0
        self.last_reply: bytes | None = None
        self.link_endpoint = link_endpoint or config.endpoints.commands
        eps = config.endpoints
        self.md = MarketDataPublisher(
            ctx, eps.market_data, eps.snapshots, symbols=config.symbols,
            heartbeat_ivl=config.md_heartbeat_ms / 1000.0, clock_ns=clock.time_ns,
            clock=clock.monotonic, l3_source=self._l3, curve=curve,
        )  # fmt: skip
        self.bound = {"market_data": self.md.pub_endpoint, "snapshots": self.md.snapshot_endpoint}
        self.link: zmq.asyncio.Socket | None = None
        self._raw: zmq.Socket | None = None
        self.pumped = False
        """True when clearing runs in this process and calls ``pump`` after each send:
        then this role's own task only says hello and keeps the heartbeat, and a round's
        market data waits in ``_md_pending`` until clearing has delivered the round's
        private replies (``publish_pending``)."""
        self._md_pending: list[tuple[list, list]] = []
        self.md.before_snapshot = self.publish_pending
        self._last_sent = 0.0
        self._last_heard = clock.monotonic()
        self.deadline: StopDeadline | None = None
        """Set by ``serve``: the stop's deadline (``gateway.stopping``)."""

    def _l3(self, symbol: str) -> dict | None:
        engine = self.engine
        if engine is None or symbol not in engine.books:
            return None
        return engine.books[symbol].l3()

    # ------------------------------------------------------------------ run ---------
    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; then keep answering until clearing has been quiet for a
        few heartbeats (so it can drain and take its final snapshot), and close."""
        link = self.ctx.socket(zmq.DEALER)
        link.linger = 0
        link.sndhwm = 0
        link.rcvhwm = 0
        if self.internal is not None:
            self.internal.connect(link)
        link.connect(self.link_endpoint)
        self.link = link
        self._raw = zmq.Socket.shadow(link.underlying)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self.md.run()), tg.create_task(self._link_loop())]
                await stop.wait()
                mono = self.clock.monotonic
                deadline = mono() + self.config.drain_timeout_ms / 1000.0 + 5 * self.hb
                if self.deadline is not None:  # the stop's own (gateway.stopping)
                    self.deadline.start()
                    deadline = self.deadline.at - 2 * MARGIN_S
                # one process (pumped): clearing has finished when this role is stopped
                while (not self.pumped and mono() < deadline
                       and mono() - self._last_heard < 5 * self.hb):  # fmt: skip
                    await asyncio.sleep(min(self.hb, max(0.0, deadline - mono())))
                for t in tasks:
                    t.cancel()
        finally:
            self.close()

    def close(self) -> None:
        self.publish_pending()
        self.md.close()
        close_socket(self.link)

    def pump(self) -> int:
        """Handle what is ready on the matcher link now; return how many messages."""
        raw = self._raw
        if raw is None:
            return 0
        n = drain(raw, self._on_frames, _DRAIN, frames=1)
        if n:
            self._last_heard = self.clock.monotonic()
        return n

    async def _link_loop(self) -> None:
        raw = self._raw
        assert raw is not None
        mono = self.clock.monotonic
        waiter = None if self.pumped else SocketWaiter(raw, wake := Wakeup())
        try:
            self._hello()
            while True:
                if waiter is None:
                    await asyncio.sleep(self.hb)
                else:
                    await waiter.wait(self.hb)
                    wake.clear()
                self.pump()
                if mono() - self._last_sent >= self.hb:
                    self._hello()
        finally:
            if waiter is not None:
                waiter.close()

    def _send(self, data: bytes) -> None:
        """Never blocks: with clearing gone (no peer) the message is dropped; clearing
        resends what it still needs when it is back."""
        assert self._raw is not None
        try:
            send_frame(self._raw, data, NOBLOCK)
        except zmq.Again:
            return
        self._last_sent = self.clock.monotonic()

    def _hello(self) -> None:
        self._send(links.pack(["hello", self.run_id, self.epoch, self.round]))

    # ------------------------------------------------------------------ messages ----
    def _on_frames(self, frames: list) -> None:
        try:
            msg = links.unpack(frames[-1])
            kind = msg[0]
            if kind == "cmds":
                self._round(msg)
            elif kind == "md":
                self.publish_pending()
                if msg[1] == self.epoch:
                    self._market(msg[2])
            elif kind == "load":
                self._load(msg)
            elif kind == "export":
                self._export(msg)
            else:
                raise links.LinkError(f"unknown kind {kind!r}")
        except (links.LinkError, ValueError, TypeError, IndexError, KeyError) as exc:
            self.stats.bad_messages += 1
            log.warning("bad message from clearing: %s", exc)

    def _check_round(self, epoch: Any, rnd: Any) -> bool:
        """True when this is the next round to apply; answers repeats and strangers."""
        if epoch == self.epoch and self.engine is not None:
            if rnd == self.round + 1:
                return True
            if rnd == self.round and self.last_reply is not None:
                self.stats.resends += 1
                self._send(self.last_reply)
                return False
        self.stats.stale += 1
        self._send(links.pack(["stale", self.epoch, self.round]))
        return False

    def _reply(self, rnd: int, message: list) -> None:
        self.round = rnd
        self.last_reply = links.pack(message)
        self._send(self.last_reply)

    def _round(self, msg: list) -> None:
        _, epoch, rnd, codes, fields, market, _ts_clr_out = msg
        if not self._check_round(epoch, rnd):
            return
        engine = self.engine
        assert engine is not None
        cmds = links.decode_commands(codes, fields)
        time_ns = self.clock.time_ns
        apply = engine.apply_trusted  # commands clearing built from validated inputs
        me_in = time_ns()
        results = [apply(c) for c in cmds]
        me_out = time_ns()
        counts, ecodes, flat = links.encode_events(results)
        self._reply(rnd, ["evs", epoch, rnd, counts, ecodes, flat, me_in, me_out])
        st = self.stats
        st.rounds += 1
        st.commands += len(cmds)
        st.events += len(flat)
        if self.pumped:  # clearing is in this process: its replies go out first
            if flat or market:
                self._md_pending.append((flat, market))
            return
        if flat:
            self.md.publish_events(flat)
        if market:
            self._market(market)

    def publish_pending(self) -> None:
        """Publish the market data of the rounds answered since the last call, in order.

        One process: clearing calls this at the end of its turn, after the private replies
        of the turn went to the gateway (execution reports before public market data, and
        no publishing between a round and clearing's settling of it); the snapshot service
        calls it before it answers (a snapshot never shows a change its deltas have not
        published); reloading and closing call it first."""
        pending = self._md_pending
        if not pending:
            return
        self._md_pending = []
        md = self.md
        for flat, market in pending:
            if flat:
                md.publish_events(flat)
            if market:
                self._market(market)

    def _market(self, market: list) -> None:
        md = self.md
        for item in market:
            if item[0] == "mark":
                md.publish_mark(item[1], item[2], item[3], item[4])
            elif item[0] == "funding":
                md.publish_funding(item[1], item[2], item[3])
            elif item[0] == "options":
                md.publish_options(item[1], item[2], item[3], item[4])

    def _load(self, msg: list) -> None:
        _, epoch, rnd, state = msg
        self.publish_pending()
        engine = MatchingEngine.from_state(state)
        self._clear_market()
        self.engine = engine
        self.epoch = epoch
        self.stats.loads += 1
        self._publish_book(engine)
        self._reply(rnd, ["loaded", epoch, rnd, engine.state_hash()])
        log.info("matcher loaded for clearing run %s at round %d", epoch, rnd)

    def _export(self, msg: list) -> None:
        _, epoch, rnd = msg
        if not self._check_round(epoch, rnd):
            return
        engine = self.engine
        assert engine is not None
        self._reply(rnd, ["state", epoch, rnd, engine.export_state(), engine.state_hash()])

    # ------------------------------------------------------------------ market data -
    def _clear_market(self) -> None:
        """Tell subscribers every level they know is gone (the book is being replaced)."""
        ts = self.clock.time_ns()
        clear: list[Any] = []
        for sym, inst in self.md.translator.instruments.items():
            for side, levels in ((1, inst.book.bids), (-1, inst.book.asks)):
                clear.extend(LevelChanged(0, ts, sym, side, p, 0, 0) for p in list(levels))
            if inst.status != _TRADING:
                clear.append(InstrumentStatusChanged(0, ts, sym, _TRADING, "matcher reloaded"))
        if clear:
            self.md.publish_events(clear)

    def _publish_book(self, engine: MatchingEngine) -> None:
        """Publish the loaded books as level changes (and any non-trading status)."""
        ts = self.clock.time_ns()
        out: list[Any] = []
        for sym in sorted(engine.books):
            book = engine.books[sym]
            for side_name, side in (("bids", 1), ("asks", -1)):
                levels: dict[int, list[int]] = {}
                for _oid, _account, price, qty in book.l3().get(side_name, ()):
                    lv = levels.setdefault(price, [0, 0])
                    lv[0] += qty
                    lv[1] += 1
                out.extend(LevelChanged(0, ts, sym, side, p, q, n)
                           for p, (q, n) in sorted(levels.items()))  # fmt: skip
            status = int(book.status)
            if status != _TRADING:
                out.append(InstrumentStatusChanged(0, ts, sym, status, "restored"))
        if out:
            self.md.publish_events(out)
