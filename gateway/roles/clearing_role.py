"""The clearing role: the sequencer, the journal and the exchange core's shell.

Everything that changes state passes here, in one order: requests and session changes
from the gateways, timer ticks, index prices, admin commands. Each turn of the loop:

1. drain what is ready on the gateway link (at most ``BATCH_MESSAGES`` messages, stopping
   once ``BATCH_INPUTS`` inputs are in) and add
   the timer ticks and prices that are due: that is the batch;
2. journal it: one record, one write (``durability`` "fsync": and an fdatasync) before
   anything it causes can leave this process;
3. run it through the core (``clearing.core.Core.batch``): each round of matcher
   commands is one message to the matching role and one reply (``gateway.roles.links``);
4. send each gateway one message with the batch's replies, then answer queries and push
   position, balance and margin updates; market-data extras go to the matching role.

Sockets (both ROUTERs, bound here): the gateway link (``endpoints.clearing``) and the
matcher link (``endpoints.commands``); in the one-process mode both are ``inproc://``.

Rules:

1. Wall time is read only through the injected clock, once per batch (``ts_clr_in``);
   inputs carry the time their edge stamped on them.
2. On start, the state is recovered (``gateway.recovery``: newest verified snapshot plus
   the journal after it); the matching role gets it with ``load`` when it says hello. A
   matcher that restarts, or answers ``stale``, is loaded again with the state of the last
   finished batch (recomputed from snapshot + journal) and the current batch's rounds are
   sent again: the matcher is deterministic, so it answers them as before.
3. A gateway is numbered when its run first speaks (``GatewayUp``); one silent for
   ``GATEWAY_TIMEOUT_HBS`` heartbeats (measured after draining, so a busy clearing never
   blames a gateway) is lost (``GatewayLost``: cancel-on-disconnect for its sessions).
   Numbers are never reused; a gateway that speaks again after it was lost is numbered
   anew and resends its sessions (``GatewaySync``); a run the core still knows (after a
   clearing restart) keeps its number and resends its sessions too.
4. Nothing a peer sends can stop the loop: an unreadable message is counted and dropped.
5. Snapshots (the whole state, the matcher's books included, at a journal sequence) are
   written off the loop, in a thread, on the configured schedule and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq
import zmq.asyncio
from zmq.backend import zmq_poll

from clearing.commands import IndexPrice, Tick
from clearing.core import BatchResult
from clearing.core.inputs import (
    INPUT_TYPES,
    AmendOrderRequest,
    CancelAll,
    CancelOrderRequest,
    GatewayLost,
    GatewaySync,
    GatewayUp,
    InputDecodeError,
    Logon,
    Logout,
    MassCancelOrders,
    PlaceOrder,
    unpack_input,
)
from clearing.core.state import encode_batch, export_hash, export_state, state_hash
from gateway import recovery, snapshot_fork, snapshot_signing, snapshot_store
from gateway.exchange_config import ExchangeConfig, record_config
from gateway.journal import JournalWriter, prune
from gateway.reasons import Reason
from gateway.render import trade_record
from gateway.reports import reject_message
from gateway.roles import links, option_views, query_pages, views
from gateway.roles.clock import WALL_CLOCK, Clock
from gateway.roles.index_feed import RandomWalkIndex
from gateway.roles.iv_feed import make_iv_feed
from gateway.roles.waiting import SocketWaiter
from gateway.schemas import QUERY_TYPES
from gateway.stopping import MARGIN_S, StopDeadline, in_daemon_thread
from gateway.zmq_util import (
    NOBLOCK,
    SNDMORE,
    Wakeup,
    bound_endpoint,
    close_socket,
    recv_frame,
    send_frame,
    send_two,
)

log = logging.getLogger("crossbook.clearing")

BATCH_MESSAGES = 256
"""Gateway messages drained into one batch at most (each carries many requests)."""
BATCH_INPUTS = 1_024
"""Inputs at which clearing stops draining the gateway links for this batch (it may go
over by one gateway message: at most a gateway read turn, ``fairness.READ_BATCH``).
Under overload a batch grows with what waits, which keeps the cost per request down; past
about a thousand requests (~50 ms of the loop at ~50 µs each) it would only hold up
timers, market data and the replies of the requests already in it. In the one-process
mode a batch is rarely more than one read turn (the gateway yields after each); with the
roles in processes, link messages queue while clearing works and the cap applies."""
QUERY_ROWS_PER_TURN = 100
"""Query rows answered per turn (``query_pages``, a page at least): a row costs about 15 µs
from here to the bot's socket (rendered, packed on the link, unpacked, packed for the
bot), so a ``query_orders`` over 5,000 open orders answered at once held the loop for
~75 ms. ``crossbook bench flood``, burst of 2,100 queries: victims' p99 inside the server
4.4-7.3 ms at 200 rows a turn, 4.0-4.2 ms at 100 (``gateway.roles.fairness`` rule 3)."""
GATEWAY_TIMEOUT_HBS = 50
MATCHER_RESEND_HBS = 5
_FROM_GATEWAY = frozenset(
    INPUT_TYPES.index(t)
    for t in (PlaceOrder, CancelOrderRequest, AmendOrderRequest, MassCancelOrders, CancelAll,
              Logon, Logout, GatewaySync)
)  # fmt: skip
"""Input codes a gateway may send; each has ``gw`` as its second field."""


class MatcherLost(Exception):
    """The matcher no longer holds the state this round needs: load it again."""


class MatcherUnavailable(Exception):
    """Stopping, and the matcher has not answered within the drain timeout."""


@dataclass
class GatewayPeer:
    rid: bytes
    run_id: str | None = None
    gw: int = 0
    seq_in: int = 0
    seq_out: int = 0
    last_sent: float = 0.0
    hops: tuple = (0, 0, 0, 0)
    replies: list = field(default_factory=list)
    pushes: list = field(default_factory=list)
    backlog: deque = field(default_factory=deque)


@dataclass
class ClearingStats:
    batches: int = 0
    inputs: int = 0
    rounds: int = 0
    queries: int = 0
    bad_link_messages: int = 0
    link_gaps: int = 0
    matcher_loads: int = 0
    matcher_resends: int = 0
    gateways_lost: int = 0
    snapshots: int = 0


class ClearingRole:
    """The clearing shell; construct (recovers, binds), then ``await run(stop)``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        config: ExchangeConfig,
        *,
        clock: Clock = WALL_CLOCK,
        restore: bool = True,
        run_id: str | None = None,
        internal: Any = None,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.clock = clock
        self.run_id = run_id or secrets.token_hex(8)
        self.hb = config.stream_heartbeat_ms / 1000.0
        self.stats = ClearingStats()
        self.state_dir = Path(config.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        record_config(config)
        self.archived: list[Path] = []
        if not restore:
            self.archived = recovery.archive(self.state_dir, clock.time_ns())
            for p in self.archived:
                log.warning("fresh start: %s kept aside", p)
        # the key before the chain check: on a state dir from before signing it records
        # the newest snapshot as the last unsigned one (gateway.snapshot_signing, rule 3)
        self.signing_key = snapshot_signing.ensure_signing_key(self.state_dir)
        self.signing_public_file = snapshot_signing.public_path(self.state_dir)
        rec = recovery.recover(config)
        self.core = rec.core
        self.restored_from = str(rec.snapshot) if rec.snapshot else None
        self.recovered_hash = rec.state_hash()
        self.recovered_seq = self.core.seq
        log.warning("recovered journal seq %d state hash %s (snapshot %s, %d records replayed)",
                    self.core.seq, self.recovered_hash, self.restored_from or "none",
                    rec.replayed)  # fmt: skip
        self._pending_matcher: Any = rec.matcher  # loaded into the matcher at its hello
        self.journal = JournalWriter(recovery.journal_dir(self.state_dir),
                                     next_seq=self.core.seq + 1, durability=config.durability,
                                     segment_bytes=config.journal_segment_bytes)  # fmt: skip
        self.writer = snapshot_store.SnapshotWriter(self.state_dir, sign=self.signing_key)
        self.schedule = snapshot_store.SnapshotSchedule(
            config.snapshot_every_s * 1_000_000_000 if config.snapshot_every_s else None,
            config.snapshot_every_fills,
        )
        self.index_feed = (
            RandomWalkIndex(self.core.engine.index_prices, config.index_feed.seed,
                            config.index_feed.step_ppm)
            if config.index_feed.enabled and self.core.engine.index_prices else None
        )  # fmt: skip
        self.iv_feed = make_iv_feed(self.core.engine, config.iv_feed)
        self._iv_s = config.iv_feed.interval_ms / 1000.0
        self._next_iv = 0.0  # due at once: option orders need a fresh smile from the start
        self.accepting = True
        self.channels: dict[int, frozenset[str]] = {}
        self.peers: dict[bytes, GatewayPeer] = {}
        self.peer_of_gw: dict[int, GatewayPeer] = {}
        now = clock.monotonic()
        self.gw_seen: dict[int, float] = {gw: now for gw in self.core.sessions.gateways.values()}
        self.next_gw = self.core.sessions.next_gw
        self.matcher_rid: bytes | None = None
        self.matcher_run: str | None = None
        self.matcher_ready = False
        self.round = 0
        self._batch_cmds: list[list] | None = None
        """Commands of each round of the batch in flight (None between batches)."""
        self._admin: list = []
        self._stop: asyncio.Event | None = None
        self.ready = asyncio.Event()
        """Set once the matcher holds the recovered state: the exchange serves."""
        self._queries = query_pages.QueryPages()
        self._dirty: dict[int, set[str]] = {}
        self._md_out: list = []  # market-data extras of this turn, sent after the replies
        self._snapshot_task: asyncio.Task | None = None
        self.final_snapshot_path: str | None = None
        self.deadline: StopDeadline | None = None
        """Set by ``serve``: the stop's deadline (``gateway.stopping``)."""
        self.last_state_hash: str | None = None
        self.snap_seqs: list[int] = [rec.snapshot_seq] if rec.snapshot else []
        self.wake = Wakeup()
        self.mwake = Wakeup()
        self.pump_matcher: Callable[[], int] | None = None
        self.pump_gateway: Callable[[], int] | None = None
        """``pump()`` of the matcher and the gateway when they run in this process
        (one-process mode): called right after a send to that peer, so it answers without
        an event-loop round trip; a peer nothing was sent to is not pumped (each pump
        costs readiness checks, system calls). The messages still cross the inproc ZeroMQ
        links."""
        self.after_turn: Callable[[], None] | None = None
        """Called at the end of each turn, after the replies and market-data extras were
        sent: a co-located matcher publishes the turn's market data then
        (``MatchingRole.publish_pending``)."""
        eps = config.endpoints
        self.link = ctx.socket(zmq.ROUTER)
        self.mlink = ctx.socket(zmq.ROUTER)
        try:
            for s in (self.link, self.mlink):
                s.linger = 0
                s.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self.link.sndhwm = 100_000
            self.link.rcvhwm = 100_000
            self.mlink.sndhwm = 0
            self.mlink.rcvhwm = 0
            if internal is not None:  # --role: CURVE, only the peer role's key (internal_auth)
                internal.serve(self.link, "clearing")
                internal.serve(self.mlink, "commands")
            self.link.bind(eps.clearing)
            self.mlink.bind(eps.commands)
        except BaseException:
            self.close()
            raise
        self._raw = zmq.Socket.shadow(self.link.underlying)
        self._mraw = zmq.Socket.shadow(self.mlink.underlying)
        self._mpoll = [(self._mraw, int(zmq.POLLIN))]
        self.bound = {"clearing": bound_endpoint(self.link), "commands": bound_endpoint(self.mlink)}

    @property
    def engine(self) -> Any:
        """The clearing engine inside the core (read it between batches only)."""
        return self.core.engine

    def close(self) -> None:
        close_socket(self.link)
        close_socket(self.mlink)
        journal = getattr(self, "journal", None)
        if journal is not None:
            journal.close()

    # ------------------------------------------------------------------ run ---------
    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; then take what the gateways sent, snapshot, close."""
        self._stop = stop
        gw_waiter = SocketWaiter(self._raw, self.wake)
        m_waiter = SocketWaiter(self._mraw, self.mwake)
        self._m_waiter = m_waiter
        mono = self.clock.monotonic
        tick_s = self.config.tick_ms / 1000.0
        feed_s = self.config.index_feed.interval_ms / 1000.0
        self._next_tick = self._next_feed = mono()
        try:
            while not stop.is_set():
                wait = self.hb
                if self.matcher_ready:
                    wait = min(wait, self._next_tick - mono())
                    if self.index_feed is not None:
                        wait = min(wait, self._next_feed - mono())
                    if self.iv_feed is not None:
                        wait = min(wait, self._next_iv - mono())
                if not self.matcher_ready:
                    await m_waiter.wait(wait)
                else:
                    await gw_waiter.wait(max(wait, 0.0005))
                self.wake.clear()
                await self._turn(gw_waiter, tick_s, feed_s)
            # stopping (gateway.stopping): what the gateways already sent is the last
            # batch, waiting queries are refused, then the final snapshot if it fits
            self.accepting = False
            st = self.stats
            log.info("served %d batches of %d inputs (%.1f a batch) in %d matcher rounds",
                     st.batches, st.inputs, st.inputs / max(st.batches, 1), st.rounds)
            if self.matcher_ready:
                try:
                    await self._turn(gw_waiter, tick_s, feed_s, timers=False)
                    self.journal.close()  # every batch is in it: the snapshot is optional
                    self._stop_log("last batch done")
                    await self._final_snapshot()
                except MatcherUnavailable as exc:
                    log.warning("%s: no final snapshot; the journal holds every batch", exc)
        finally:
            gw_waiter.close()
            m_waiter.close()
            self.close()

    async def _turn(self, gw_waiter: SocketWaiter, tick_s: float, feed_s: float,
                    timers: bool = True) -> None:  # fmt: skip
        self._matcher_idle()
        if not self.matcher_ready:
            await self._load_matcher()
            if not self.matcher_ready:
                self._flush_gateways()
                return
        inputs: list = self._admin
        self._admin = []
        gw_waiter.drain(lambda frames: self._on_gateway(frames, inputs), BATCH_MESSAGES,
                        full=lambda: len(inputs) >= BATCH_INPUTS)  # fmt: skip
        mono = self.clock.monotonic
        now = mono()
        ts = self.clock.time_ns()
        if timers and self.accepting:
            if now >= self._next_tick:
                self._next_tick = now + tick_s
                inputs.append(Tick(ts))
            market: list = []
            if self.iv_feed is not None and now >= self._next_iv:
                self._next_iv = now + self._iv_s
                market.extend(self.iv_feed.step(ts))
            if self.index_feed is not None and now >= self._next_feed:
                self._next_feed = now + feed_s
                market.extend(IndexPrice(ts, n, p) for n, p in self.index_feed.step())
            if market:  # one market move (re-marked once), before this batch's orders
                inputs[:0] = market
        self._check_gateways(now, ts, inputs)
        if inputs:
            await self._run_batch(inputs, ts)
        if self._queries:
            self._answer_queries()
        if self._dirty:
            self._push_updates()
        self._flush_gateways()
        if self._md_out:  # public market data after the private replies of the same turn
            market, self._md_out = self._md_out, []
            self._send_matcher(links.pack(["md", self.run_id, market]))
        if self.after_turn is not None:
            self.after_turn()
        if timers and self._snapshot_task is None and self.schedule.due(
                ts, self.core.engine.last_seq):  # fmt: skip
            await self._snapshot()

    # ------------------------------------------------------------------ batches -----
    async def _run_batch(self, inputs: list, ts: int) -> None:
        """Journal, then run the core; the matcher gets one message per round."""
        core = self.core
        seq = self.journal.append(encode_batch(inputs))
        if seq != core.seq + 1:  # the journal and the core must never disagree
            raise RuntimeError(f"journal record {seq} does not follow core seq {core.seq}")
        self.stats.batches += 1
        self.stats.inputs += len(inputs)
        clr_out = me_in = me_out = 0
        self._batch_cmds = []
        gen = core.batch(inputs)
        try:
            cmds = next(gen)
            while True:
                if not clr_out:
                    clr_out = self.clock.time_ns()
                results, r_in, r_out = await self._matcher_round(cmds)
                if not me_in:
                    me_in, me_out = r_in, r_out
                cmds = gen.send(results)
        except StopIteration as stop:
            res: BatchResult = stop.value
        finally:
            self._batch_cmds = None
        if not clr_out:  # nothing went to the matcher: clearing answered at once
            clr_out = self.clock.time_ns()
        self._route(res, (ts, clr_out, me_in, me_out))

    def _round_message(self, cmds: list) -> tuple[int, bytes]:
        self.round += 1
        return self.round, links.pack(["cmds", self.run_id, self.round,
                                       links.command_codes(cmds), cmds, [],
                                       self.clock.time_ns()])  # fmt: skip

    async def _matcher_round(self, cmds: list) -> tuple[list, int, int]:
        assert self._batch_cmds is not None
        self._batch_cmds.append(cmds)
        while True:
            rnd, msg = self._round_message(cmds)
            try:
                reply = await self._request(rnd, msg, "evs")
                break
            except MatcherLost:
                await self._reload_matcher()
        _, _, _, counts, codes, fields, me_in, me_out = reply
        results = links.decode_events(counts, codes, fields)
        if len(results) != len(cmds):
            raise RuntimeError(f"matcher answered {len(results)} of {len(cmds)} commands")
        self.stats.rounds += 1
        return results, me_in, me_out

    async def _request(self, rnd: int, msg: bytes, want: str) -> list:
        """Send ``msg`` to the matcher and wait for its reply for round ``rnd``; resend it
        while none comes (the matcher answers repeats from its cache)."""
        resend_s = MATCHER_RESEND_HBS * self.hb
        waiter = self._m_waiter
        wake = self.mwake
        mono = self.clock.monotonic
        self._send_matcher(msg)
        last = started = mono()
        while True:
            wake.clear()
            while zmq_poll(self._mpoll, 0):
                frames = self._recv_matcher()
                reply = self._matcher_message(frames)
                if reply is None:
                    continue
                kind = reply[0]
                if kind == "stale":
                    raise MatcherLost("matcher does not hold this state")
                if kind == want and reply[1] == self.run_id and reply[2] == rnd:
                    return reply
            now = mono()
            stop = self._stop
            if stop is not None and stop.is_set() and self._out_of_time(now - started):
                raise MatcherUnavailable("no answer from the matcher within the drain timeout")
            if now - last >= resend_s:
                self.stats.matcher_resends += 1
                self._send_matcher(msg)
                last = now
            await waiter.wait(resend_s)

    def _out_of_time(self, waited_s: float) -> bool:
        """Stopping: has the wait for the matcher used up what the deadline leaves?"""
        if self.deadline is not None and self.deadline.started is not None:
            return self.deadline.left(MARGIN_S) <= 0.0
        return waited_s > self.config.drain_timeout_ms / 1000.0

    def _send_matcher(self, msg: bytes) -> None:
        rid = self.matcher_rid
        if rid is None:
            return
        try:
            send_frame(self._mraw, rid, SNDMORE)
            send_frame(self._mraw, msg, 0)  # no high-water mark on this link
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            log.warning("matcher unreachable; waiting for it")
            return
        pump = self.pump_matcher
        if pump is not None:
            pump()

    def _recv_matcher(self) -> list:
        """One whole message from the matcher link (its frames, however many)."""
        raw = self._mraw
        f = recv_frame(raw, NOBLOCK, False)
        frames = [f.bytes]
        while f.more:
            f = recv_frame(raw, NOBLOCK, False)
            frames.append(f.bytes)
        return frames

    def _matcher_message(self, frames: list) -> list | None:
        """A matcher message; ``hello`` is handled here (a new matcher run: MatcherLost)."""
        if len(frames) != 2:
            self.stats.bad_link_messages += 1
            return None
        try:
            msg = links.unpack(frames[1])
        except links.LinkError as exc:
            self.stats.bad_link_messages += 1
            log.warning("bad message from the matcher: %s", exc)
            return None
        if msg[0] == "hello":
            _, run, epoch = msg[:3]
            new = run != self.matcher_run
            self.matcher_rid, self.matcher_run = frames[0], run
            if self.matcher_ready and (new or epoch != self.run_id):
                self.matcher_ready = False
                log.warning("matcher %s does not hold this run's state: reloading", run)
                raise MatcherLost("matcher restarted")
            return None
        return msg

    def _matcher_idle(self) -> None:
        """Read what the matcher said between batches (hellos; stray replies)."""
        self.mwake.clear()
        while zmq_poll(self._mpoll, 0):
            frames = self._recv_matcher()
            with contextlib.suppress(MatcherLost):
                self._matcher_message(frames)

    async def _load_matcher(self) -> None:
        """Give a matcher that said hello the core's state (at start, or after a loss)."""
        if self.matcher_rid is None:
            return
        if self._pending_matcher is None:
            await self._recompute_matcher()
        state = self._pending_matcher.export_state()
        self.round += 1
        rnd = self.round
        try:
            reply = await self._request(rnd, links.pack(["load", self.run_id, rnd, state]),
                                        "loaded")  # fmt: skip
        except MatcherLost:
            return
        expected = self._pending_matcher.state_hash()
        if reply[3] != expected:
            raise RuntimeError(f"matcher loaded state hash {reply[3]}, expected {expected}")
        self._pending_matcher = None
        self.matcher_ready = True
        self.ready.set()
        self.stats.matcher_loads += 1
        log.info("matcher %s loaded at journal seq %d", self.matcher_run, self.core.seq)

    async def _recompute_matcher(self) -> None:
        """The matcher's state after the last finished batch, from snapshot + journal."""
        done = self.core.seq - (1 if self._batch_cmds is not None else 0)
        rec = await asyncio.to_thread(recovery.recover, self.config, to_seq=done,
                                      repair=False)  # fmt: skip
        self._pending_matcher = rec.matcher

    async def _reload_matcher(self) -> None:
        """Load a lost matcher, then give it again the rounds of the batch in flight that
        it had answered (their answers are known: a deterministic matcher repeats them)."""
        while True:
            self.matcher_ready = False
            while not self.matcher_ready:
                await self._load_matcher()
                if not self.matcher_ready:
                    await self._m_waiter.wait(self.hb)
                    self._matcher_idle()
            try:
                for cmds in (self._batch_cmds or [[]])[:-1]:
                    rnd, msg = self._round_message(cmds)
                    await self._request(rnd, msg, "evs")
                return
            except MatcherLost:
                continue

    # ------------------------------------------------------------------ gateways ----
    def _on_gateway(self, frames: list, inputs: list) -> None:
        if len(frames) != 2:
            self.stats.bad_link_messages += 1
            return
        rid = frames[0]
        try:
            msg = links.unpack(frames[1])
            run_id, seq, items, queries, channels = msg
            if type(run_id) is not str or type(seq) is not int:
                raise links.LinkError("bad header")
        except (links.LinkError, ValueError, TypeError) as exc:
            self.stats.bad_link_messages += 1
            log.warning("bad message on the gateway link: %s", exc)
            return
        peer = self.peers.get(rid)
        if peer is None:
            peer = self.peers[rid] = GatewayPeer(rid)
        ts = self.clock.time_ns()
        if run_id != peer.run_id:
            self._gateway_run(peer, run_id, ts, inputs)
        elif seq != peer.seq_in + 1:
            self.stats.link_gaps += 1
            log.warning("gateway %d: link messages %d..%d missing", peer.gw, peer.seq_in + 1,
                        seq - 1)  # fmt: skip
        peer.seq_in = seq
        self.gw_seen[peer.gw] = self.clock.monotonic()
        gw = peer.gw
        for item in items:
            try:
                if type(item) is not list or len(item) < 3 or item[0] not in _FROM_GATEWAY:
                    raise InputDecodeError(f"not a gateway input: {item!r:.60}")
                item[2] = gw
                inputs.append(unpack_input(item))
            except InputDecodeError as exc:
                self.stats.bad_link_messages += 1
                log.warning("gateway %d sent a bad input: %s", gw, exc)
        for q in queries:
            self._queries.append((peer, q))
        for entry in channels:
            account, wanted = entry
            self.channels[account] = frozenset(wanted)

    def _gateway_run(self, peer: GatewayPeer, run_id: str, ts: int, inputs: list) -> None:
        """A gateway run speaks for the first time (or again after it was lost). A run the
        core still knows (this clearing restarted, or the run reconnected) keeps its
        number, so its sessions stay its own (after a clearing restart the gateway sends
        them again, ``GatewaySync``) and no silent old number cancels them later."""
        old = peer.gw
        if old and self.peer_of_gw.get(old) is peer:
            inputs.append(GatewayLost(ts, old))  # its previous run on this connection is gone
            self.gw_seen.pop(old, None)
        gw = self.core.gateway_number(run_id)
        if gw is None:
            gw = self.next_gw
            self.next_gw += 1
            inputs.append(GatewayUp(ts, run_id, gw))
        peer.run_id, peer.gw, peer.seq_in = run_id, gw, 0
        self.peer_of_gw.pop(old, None)
        self.peer_of_gw[gw] = peer
        log.info("gateway run %s is gateway %d", run_id, gw)

    def _check_gateways(self, now: float, ts: int, inputs: list) -> None:
        timeout = GATEWAY_TIMEOUT_HBS * self.hb
        for gw, seen in list(self.gw_seen.items()):
            if now - seen > timeout:
                del self.gw_seen[gw]
                peer = self.peer_of_gw.pop(gw, None)
                if peer is not None:
                    peer.run_id = None  # it is numbered anew if it speaks again
                self.stats.gateways_lost += 1
                log.warning("gateway %d silent for %.1f s: lost", gw, now - seen)
                inputs.append(GatewayLost(ts, gw))

    def _route(self, res: BatchResult, hops: tuple) -> None:
        peers = self.peer_of_gw
        gateways_of = self.core.sessions.gateways_of
        for account, gw, sid, req_id, gw_in, report, direct, matched in res.replies:
            if direct:
                peer = peers.get(gw)
                if peer is not None:
                    peer.replies.append((account, sid, req_id, gw_in, report, True, matched))
                continue
            targets = gateways_of(account)
            if gw:
                targets.add(gw)
            for t in targets:
                peer = peers.get(t)
                if peer is None:
                    continue
                if t == gw:
                    peer.replies.append((account, sid, req_id, gw_in, report, False, matched))
                else:
                    peer.replies.append((account, 0, None, gw_in, report, False, matched))
        for peer in peers.values():
            if peer.replies:
                peer.hops = hops
        for account, symbols in res.touched.items():
            self._dirty.setdefault(account, set()).update(symbols)
        if res.market:
            self._md_out.extend(res.market)

    def _flush_gateways(self) -> None:
        now = self.clock.monotonic()
        sent = False
        for peer in list(self.peer_of_gw.values()):
            if peer.replies or peer.pushes or now - peer.last_sent >= self.hb:
                peer.seq_out += 1
                body = links.pack([self.run_id, peer.seq_out, peer.gw, peer.hops, peer.replies,
                                   peer.pushes])  # fmt: skip
                peer.replies, peer.pushes = [], []
                peer.backlog.append([peer.rid, body])
            while peer.backlog:
                try:
                    send_two(self._raw, *peer.backlog[0])
                except zmq.Again:
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != zmq.EHOSTUNREACH:
                        raise
                    peer.backlog.clear()  # gone; liveness will notice
                    break
                peer.backlog.popleft()
                peer.last_sent = now
                sent = True
        pump = self.pump_gateway
        if sent and pump is not None:
            pump()

    # ------------------------------------------------------------------ queries -----
    def _answer_queries(self) -> None:
        """Answer queries a page at a time, round robin (``query_pages``), until
        ``QUERY_ROWS_PER_TURN`` rows are out; the rest go on at a later turn, after the
        loop has run its other tasks, so batches run in between (fairness rule 3)."""
        pages = self._queries
        ts = self.clock.time_ns()
        if not self.accepting:  # stopping: an answer costs time and changes nothing
            waiting, active = pages.cancel()
            refused = [(p.peer, p.account, p.sid, p.req_id, p.ref_type) for p in active]
            for peer, q in waiting:
                try:
                    refused.append((peer, q[1], q[0], q[2], q[3]["type"]))
                except (IndexError, TypeError, KeyError):
                    self.stats.bad_link_messages += 1
            for peer, account, sid, req_id, ref_type in refused:
                peer.pushes.append((account, sid, reject_message(
                    Reason.SERVICE_UNAVAILABLE, ts=ts, req_id=req_id, ref_type=ref_type,
                    text="exchange shutting down")))  # fmt: skip
            return
        peers = self.peer_of_gw
        for pager, reply in pages.take(QUERY_ROWS_PER_TURN, ts, self._start_query,
                                       lambda p: peers.get(p.gw) is p.peer):  # fmt: skip
            pager.peer.pushes.append((pager.account, pager.sid, reply))
        if pages:  # the next page once the loop has run what is waiting
            asyncio.get_running_loop().call_soon(self.wake.set)

    def _start_query(self, peer: GatewayPeer, q: Any) -> query_pages.Pager | None:
        try:
            sid, account, req_id, msg = q
            self.stats.queries += 1
            if msg["type"] not in QUERY_TYPES:
                peer.pushes.append((account, sid, reject_message(
                    Reason.UNKNOWN_MESSAGE_TYPE, ts=self.clock.time_ns(), req_id=req_id,
                    ref_type=msg["type"], text="not handled by clearing")))  # fmt: skip
                return None
            return self._query(peer, account, sid, msg, req_id)
        except (ValueError, TypeError, KeyError) as exc:
            self.stats.bad_link_messages += 1
            log.warning("bad query from gateway %d: %s", peer.gw, exc)
            return None

    def _query(self, peer: GatewayPeer, account: int, sid: int, msg: dict,
               req_id: Any) -> query_pages.Pager:  # fmt: skip
        core, eng = self.core, self.core.engine
        mtype = msg["type"]
        items: Any
        if mtype == "query_orders":
            query, items = "orders", query_pages.order_rows(core, account, msg)
        elif mtype == "query_trades":
            query = "trades"
            inst, since = msg["instrument"], msg["since_ts"]
            recs = [r for r in core.history.trades_of(account)
                    if (inst is None or r[3] == inst) and r[9] >= since]  # fmt: skip
            items = (trade_record(r, eng.settle) for r in recs[-msg["limit"]:])
        elif mtype == "query_positions":
            query, items = "positions", views.positions(eng, account, msg["instrument"])
        elif mtype == "query_balances":
            query, items = "balances", views.balances(eng, account, msg["asset"])
        elif mtype == "query_margin":
            m = views.margin(eng, account)
            query, items = "margin", [m] if m is not None else []
        elif mtype == "query_instruments":
            query, items = "instruments", views.instruments(eng, msg["instrument"])
        elif mtype == "query_option_chain":
            query = "option_chain"
            items = option_views.option_chain(eng, msg["underlying"], msg["instrument"])
        elif mtype == "query_greeks":
            query, items = "greeks", option_views.greeks(eng, account, msg["underlying"])
        else:
            raise ValueError(f"{mtype} is not in QUERY_TYPES")
        return query_pages.Pager(peer, account, sid, req_id, mtype, query, items, peer.gw)

    def _push_updates(self) -> None:
        """position/balance/margin updates for accounts touched, where a session wants them."""
        dirty, self._dirty = self._dirty, {}
        eng = self.core.engine
        gateways_of = self.core.sessions.gateways_of
        for account, symbols in dirty.items():
            wanted = self.channels.get(account)
            if not wanted:
                continue
            msgs = []
            if "positions" in wanted:
                for sym in sorted(symbols):
                    rec = views.position_record(eng, account, sym)
                    if rec is not None:
                        msgs.append(views.update("position_update", account, rec))
            if "balances" in wanted:
                msgs.extend(views.update("balance_update", account, rec)
                            for rec in views.balances(eng, account, eng.settle))  # fmt: skip
            if "margin" in wanted:
                rec = views.margin(eng, account)
                if rec is not None:
                    msgs.append(views.update("margin_update", account, rec))
            for gw in gateways_of(account):
                peer = self.peer_of_gw.get(gw)
                if peer is not None:
                    peer.pushes.extend((account, 0, m) for m in msgs)

    # ------------------------------------------------------------------ snapshots ---
    def _stop_log(self, what: str) -> None:
        if self.deadline is not None:
            log.info("stopping: %s at %d ms", what, self.deadline.elapsed_ms())

    async def _final_snapshot(self) -> None:
        """The stop's snapshot, cut if it is not written in what the deadline leaves
        (``gateway.stopping``, step 3)."""
        budget = None
        if self.deadline is not None and self.deadline.started is not None:
            budget = self.deadline.left(MARGIN_S)
        try:
            async with asyncio.timeout(budget):
                if self._snapshot_task is not None:  # the chain goes through it
                    await asyncio.shield(self._snapshot_task)
                    self._stop_log("periodic snapshot written")
                await self._snapshot(final=True)
                self._stop_log("final snapshot written")
        except TimeoutError:
            log.warning("final snapshot cut at the drain timeout (%d ms after the signal): "
                        "the next start replays the journal from seq %d on",
                        self.deadline.elapsed_ms() if self.deadline else 0,
                        (self.snap_seqs[-1] if self.snap_seqs else 0) + 1)  # fmt: skip

    async def _snapshot(self, final: bool = False) -> None:
        """The whole state at the current journal seq: the matcher's part by ``export``."""
        self.round += 1
        rnd = self.round
        try:
            reply = await self._request(rnd, links.pack(["export", self.run_id, rnd]), "state")
        except MatcherLost:
            self.matcher_ready = False
            return
        _, _, _, matcher_state, matcher_hash = reply
        core = self.core
        ts = self.clock.time_ns()
        self.schedule.taken(ts, core.engine.last_seq)
        seq = core.seq
        if not final and snapshot_fork.available():
            self._snapshot_in_child(core, matcher_state, matcher_hash, seq)
            return
        state = export_state(core, matcher_state)
        if not final:  # frozen at seq before the loop moves on; hashed and written off it
            packed = msgpack.packb(state)
            del state

            async def write() -> None:
                try:
                    await in_daemon_thread(self._write_packed, packed, seq, matcher_hash)
                except Exception:
                    log.exception("snapshot failed")
                finally:
                    self._snapshot_task = None

            self._snapshot_task = asyncio.get_running_loop().create_task(write())
            return
        # final: nothing changes the core any more: no frozen copy, the hash off the loop
        self._stop_log("state exported")
        digest = await in_daemon_thread(state_hash, core, matcher_hash)
        self._stop_log("state hashed")
        self._hashed(seq, digest)
        path = await in_daemon_thread(self._write_snapshot, state, seq)
        self.final_snapshot_path = str(path)
        log.warning("stopped at journal seq %d state hash %s; final snapshot %s", seq,
                    self.last_state_hash, path)  # fmt: skip

    def _snapshot_in_child(self, core: Any, matcher_state: Any, matcher_hash: str,
                           seq: int) -> None:  # fmt: skip
        """A periodic snapshot by a forked child (``gateway.snapshot_fork``): it exports,
        hashes and writes its copy of the state at ``seq``; the loop only forks."""
        writer = self.writer

        def job() -> list:  # runs in the child
            state = export_state(core, matcher_state)
            digest = export_hash(state, matcher_hash)
            path = writer.write(state)
            return [digest, str(path), writer.prev_root, writer.prev_digest]

        child = snapshot_fork.fork_job(job)

        async def wait() -> None:
            try:
                digest, path, root, header = await child.result()
                writer.adopt(Path(path), root, header)
                self._hashed(seq, digest)
                await in_daemon_thread(self._snapshot_written, seq)
            except Exception:
                log.exception("snapshot failed")
            finally:
                self._snapshot_task = None

        self._snapshot_task = asyncio.get_running_loop().create_task(wait())

    def _write_packed(self, packed: bytes, seq: int, matcher_hash: str) -> Path:
        """A periodic snapshot, in a thread: ``packed`` is the state frozen on the loop at
        ``seq`` (one ``packb``, a few ms); its hash and its file are made here, so the loop
        does not stop for them (hashing the live state took ~0.1 s and grows with the
        history and the client order ids kept)."""
        state = msgpack.unpackb(packed, strict_map_key=False)
        digest = export_hash(state, matcher_hash)
        self._hashed(seq, digest)
        return self._write_snapshot(state, seq)

    def _write_snapshot(self, state: dict, seq: int) -> Path:
        """Write ``state``: nothing else may change it (a frozen copy, or the stopped
        core's own export)."""
        path = self.writer.write(state)
        self._snapshot_written(seq)
        return path

    def _hashed(self, seq: int, digest: str) -> None:
        """A snapshot's state hash is known: the live server's answer for ``seq``."""
        self.last_state_hash = digest
        log.warning("snapshot at journal seq %d state hash %s", seq, digest)

    def _snapshot_written(self, seq: int) -> None:
        """Bookkeeping after a snapshot at ``seq`` is on disk: count it, prune the journal
        segments the retention setting lets go."""
        self.stats.snapshots += 1
        self.snap_seqs.append(seq)
        keep = self.config.journal_retention_snapshots
        if keep and len(self.snap_seqs) >= keep:
            upto = self.snap_seqs[-keep]
            removed = prune(recovery.journal_dir(self.state_dir), upto)
            if removed:
                log.info("journal: %d segments up to seq %d removed", len(removed), upto)

    # ------------------------------------------------------------------ admin -------
    def admin(self, make: Any) -> None:
        """Queue an operator command, ``make(ts)`` (``MarketHalt``, ``Deposit``, ...): it is
        journaled and applied with the next batch, like every other input."""
        self._admin.append(make(self.clock.time_ns()))
        self.wake.set()


