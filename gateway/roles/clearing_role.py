"""The clearing role: the clearing engine's shell, between the gateway and the matcher.

One ``ClearingEngine`` (restored from the newest settlement snapshot in the state
directory, if there is one) and one ``OrderTracker`` (matcher events -> execution reports)
behind three sockets:

- a ROUTER for the gateway link (``gateway.roles.link``): requests in, replies and private
  pushes out, a sequence number on every message;
- a ``SequencedSender`` (bound) carrying commands to the matcher (``records``);
- a ``SequencedReceiver`` (connected) reading the matcher's events, exactly once, in order.

The order path, one request: 1. the gateway's decoded request becomes a clearing command
stamped with this shell's clock (``ts_clr_in``); 2. ``engine.apply`` runs the pre-trade
check; 3. matcher commands among the outputs go on the command stream (``ts_clr_out``)
and a refusal goes straight back as a report; 4. the matcher's events come back, the
engine settles them, the tracker turns them into execution reports carrying the six hop
timestamps (the gateway adds ``ts_gw_out``); 5. follow-ups (risk cancels, liquidation
orders, halts) loop back to 3; marks and funding go to the market-data publisher over the
command stream.

Rules:

1. Wall time is read only through the injected clock and enters the engine as ``ts``.
2. Work is drained and handled in batches: everything ready on a socket is read, applied,
   and the outputs of the whole round are sent at once.
3. Restart rule (docs/serve.md): books are not persisted. On start the engine is restored
   from the latest snapshot; every order it still holds is then cancelled (an
   ``OrderCanceled`` with end reason ``cancel_on_disconnect`` per order and an emptied
   shadow book, applied as matcher events numbered after the snapshot's last fill), so
   their holds are released; the matcher starts empty and numbers its events after those.
   Halts are re-imposed on the fresh matcher.
4. Nothing a peer sends can stop the loop: an unreadable link message is counted and
   dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from clearing import events as cev
from clearing.commands import (
    AmendRequest,
    CancelRequest,
    IndexPrice,
    MassCancelRequest,
    MatcherEvents,
    OrderRequest,
    Tick,
)
from clearing.engine import ClearingEngine
from clearing.pipeline import MATCHER_COMMANDS
from clearing.snapshot import verify_snapshot
from gateway import snapshot_store
from gateway.exchange_config import ExchangeConfig
from gateway.internal import InternalCodec
from gateway.protocol import (
    ORD_TYPE_CODES,
    PROTOCOL_VERSION,
    SIDE_CODES,
    STP_CODES,
    TERMINAL_STATUSES,
    TIF_CODES,
)
from gateway.reports import Hops, OrderTracker, cancel_reject, reject_message
from gateway.roles import views
from gateway.roles.clock import WALL_CLOCK, Clock
from gateway.roles.index_feed import RandomWalkIndex
from gateway.roles.link import LinkError, LinkSequencer, LinkTracker, read_body, read_header
from gateway.roles.records import (
    FundingRate,
    Hello,
    MarkPrice,
    Stamp,
    stream_codec,
    unwrap,
    wrap_command,
)
from gateway.roles.waiting import SocketWaiter
from gateway.sequenced import SequencedReceiver, SequencedSender, StreamLost
from gateway.zmq_util import Wakeup, bound_endpoint, close_socket
from matching import commands as mc
from matching import events as mev
from matching.enums import EndReason, InstrumentStatus
from matching.reasons import Reason

log = logging.getLogger("crossbook.clearing")

_MATCHER_COMMANDS = frozenset(MATCHER_COMMANDS)
_TRADING = int(InstrumentStatus.TRADING)
_HALTED = int(InstrumentStatus.HALTED)
_AUCTION = int(InstrumentStatus.AUCTION)
_COD = int(EndReason.CANCEL_ON_DISCONNECT)
_LINK_DRAIN = 1024
_TRADES_KEPT = 1000
_RECENT_KEPT = 200
_GATEWAY_TIMEOUT_HBS = 50
_REQUEST_KINDS = {"new_order", "cancel", "amend", "mass_cancel"}
_ACCOUNT_WIDE = {"exec_report", "mass_cancel_report"}


@dataclass(slots=True)
class Origin:
    """Where a request came from: its gateway, session, req_id, account and message."""

    gw: bytes
    sid: int
    req_id: int | None
    account: int
    msg: dict


@dataclass(slots=True)
class Inflight:
    origin: Origin | None
    gw_in: int
    clr_in: int
    clr_out: int


@dataclass
class GatewayPeer:
    rid: bytes
    seqr: LinkSequencer
    tracker: LinkTracker = field(default_factory=LinkTracker)
    last_seen: float = 0.0
    last_sent: float = 0.0
    outbox: list = field(default_factory=list)
    backlog: deque = field(default_factory=deque)


@dataclass
class ClearingStats:
    requests: int = 0
    commands: int = 0
    event_batches: int = 0
    events: int = 0
    bad_link_messages: int = 0
    link_gaps: int = 0
    stream_losses: int = 0
    snapshots: int = 0
    orphans_cancelled: int = 0


class ClearingRole:
    """The clearing shell; construct (binds), then ``await run(events_endpoint, stop)``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        config: ExchangeConfig,
        *,
        clock: Clock = WALL_CLOCK,
        restore: bool = True,
        run_id: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.clock = clock
        self.run_id = run_id or secrets.token_hex(8)
        self.hb = config.stream_heartbeat_ms / 1000.0
        self.stats = ClearingStats()
        self.codec = InternalCodec()
        self.state_dir = config.state_dir
        self.archived: str | None = None
        if not restore:
            self._archive_snapshots()
        self.writer = snapshot_store.SnapshotWriter(self.state_dir)
        self.schedule = snapshot_store.SnapshotSchedule(
            config.snapshot_every_s * 1_000_000_000 if config.snapshot_every_s else None,
            config.snapshot_every_fills,
        )
        self.restored_from: str | None = None
        self.engine = self._load_engine(restore)
        self.tracker = OrderTracker()
        self.trades: dict[int, deque] = {}
        self.recent: dict[int, deque] = {}
        self.channels: dict[int, frozenset[str]] = {}
        self.inflight: dict[int, Inflight] = {}
        self.gateways: dict[bytes, GatewayPeer] = {}
        self.accepting = True
        self.cmd_seq = 0
        self._cmd_out: list = []
        self._dirty: dict[int, set[str]] = {}
        self._stamp: Inflight | None = None
        self._stamp_me = (0, 0)
        self._writing = False
        self._link_wake = Wakeup()  # a send on the link swallows its read edge: ring the reader
        self._snapshot_task: asyncio.Task | None = None
        self.events_rx: SequencedReceiver | None = None
        self.index_feed = (
            RandomWalkIndex(self.engine.index_prices, config.index_feed.seed,
                            config.index_feed.step_ppm)
            if config.index_feed.enabled and self.engine.index_prices else None
        )  # fmt: skip
        eps = config.endpoints
        self.link = ctx.socket(zmq.ROUTER)
        try:
            self.link.linger = 0
            self.link.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self.link.sndhwm = 100_000
            self.link.rcvhwm = 100_000
            self.link.bind(eps.clearing)
            self._link_raw = zmq.Socket.shadow(self.link.underlying)
            self.commands = SequencedSender(
                ctx, eps.commands, last_seq=0, codec=stream_codec(), heartbeat_ivl=self.hb,
                epoch=self.run_id, clock=clock.monotonic, sndhwm=100_000,
            )  # fmt: skip
        except BaseException:
            close_socket(self.link)
            raise
        self.bound = {"clearing": bound_endpoint(self.link), "commands": self.commands.endpoint}
        self._start()

    # ------------------------------------------------------------------ start -------
    def _archive_snapshots(self) -> None:
        """A fresh start begins a new snapshot chain: the old one is moved aside, kept."""
        d = snapshot_store.snapshot_dir(self.state_dir)
        if not snapshot_store.list_snapshots(d):
            return
        target = d.with_name(f"{d.name}.archived-{self.clock.time_ns()}")
        d.rename(target)
        self.archived = str(target)
        log.warning("fresh start: previous snapshots moved to %s", target)

    def _load_engine(self, restore: bool) -> ClearingEngine:
        cfg = self.config.clearing
        if not restore:
            return ClearingEngine(cfg)
        found = snapshot_store.load_latest(self.state_dir)
        if found is None:
            return ClearingEngine(cfg)
        path, snap = found
        result = verify_snapshot(snapshot_store.read_snapshot_bytes(path))
        if not result.ok:
            raise snapshot_store.SnapshotStoreError(
                f"{path} does not verify ({result.reason}: {result.detail}); refusing to restore"
            )
        self.restored_from = str(path)
        return ClearingEngine.from_state(cfg, snap.state)

    def _start(self) -> None:
        """Rule 3: cancel what the fresh matcher cannot hold, then say hello."""
        eng = self.engine
        ts = self.clock.time_ns()
        synthetic: list = []
        seq = eng.last_seq
        for oid in sorted(eng.orders):
            o = eng.orders[oid]
            seq += 1
            synthetic.append(mev.OrderCanceled(seq, ts, o.symbol, o.order_id,
                                               o.client_order_id, o.account, o.leaves, o.cum,
                                               _COD))  # fmt: skip
        for sym, inst in sorted(eng.instruments.items()):
            for side, levels in ((1, inst.book.bids), (-1, inst.book.asks)):
                for price in sorted(levels):
                    seq += 1
                    synthetic.append(mev.LevelChanged(seq, ts, sym, side, price, 0, 0))
        outs: list = []
        if synthetic:
            self.stats.orphans_cancelled = sum(
                1 for e in synthetic if type(e) is mev.OrderCanceled
            )
            outs = eng.apply(MatcherEvents(ts, synthetic))
            for ev in synthetic:
                self.tracker.apply(ev)  # nobody is connected yet: nothing to route
        instruments = [list(spec.matcher_instrument())
                       for _, spec in sorted(self.config.clearing.instruments.items())]  # fmt: skip
        self._next_cmd(lambda s: Hello(s, self.run_id, eng.last_seq, ts, instruments))
        for sym, inst in sorted(eng.instruments.items()):
            if inst.status == _HALTED:
                self._send_cmd(mc.Halt(ts, sym, "restored halted"), None, 0, ts, ts)
            elif inst.status == _AUCTION:
                self._send_cmd(mc.OpenAuction(ts, sym), None, 0, ts, ts)
            if inst.band_low is not None or inst.band_high is not None:
                self._send_cmd(mc.SetBand(ts, sym, inst.band_low, inst.band_high), None, 0, ts,
                               ts)  # fmt: skip
        self._dispatch(outs, None, 0, ts)

    # ------------------------------------------------------------------ run ---------
    async def run(self, events_endpoint: str, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; then drain, write the final snapshot and close."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self.commands.run()),
                    tg.create_task(self._link_loop()),
                    tg.create_task(self._events_loop(events_endpoint)),
                    tg.create_task(self._timer_loop()),
                ]
                await stop.wait()
                await self.drain()
                if self._snapshot_task is not None:
                    await self._snapshot_task
                self.final_snapshot()
                for t in tasks:
                    t.cancel()
        finally:
            self.close()

    def close(self) -> None:
        self.commands.close()
        close_socket(self.link)

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Stop taking requests; wait until the matcher has every command and clearing has
        every event they caused (heartbeat-confirmed: stable for 3 heartbeats)."""
        self.accepting = False
        if timeout_s is None:
            timeout_s = self.config.drain_timeout_ms / 1000.0
        mono = self.clock.monotonic
        deadline = mono() + timeout_s
        stable_since: float | None = None
        while mono() < deadline:
            self._flush()
            acked = max((p.acked for p in self.commands.peers.values()), default=-1)
            rx = self.events_rx
            done = (
                acked >= self.commands.head
                and rx is not None
                and rx.last_applied >= rx.head_hint
                and not self._cmd_out
            )
            now = mono()
            if done:
                if stable_since is None:
                    stable_since = now
                elif now - stable_since >= 3 * self.hb:
                    return True
            else:
                stable_since = None
            await asyncio.sleep(self.hb / 4)
        log.warning("drain timed out: snapshot taken with commands in flight")
        return False

    def final_snapshot(self) -> str:
        path = self.writer.write(self.engine.export_state())
        self.stats.snapshots += 1
        log.info("final snapshot %s (last_fill_seq %d)", path, self.engine.last_seq)
        return str(path)

    # ------------------------------------------------------------------ admin -------
    def admin(self, make: Callable[[int], Any]) -> list:
        """Apply an operator command (``make(ts)``, e.g. ``MarketHalt``, ``Deposit``) now;
        its outputs take the normal paths. Returns the engine's outputs."""
        ts = self.clock.time_ns()
        outs = self.engine.apply(make(ts))
        self._dispatch(outs, None, 0, ts)
        self._flush()
        return outs

    # ------------------------------------------------------------------ outputs -----
    def _next_cmd(self, make: Callable[[int], Any], inflight: Inflight | None = None) -> int:
        self.cmd_seq += 1
        self._cmd_out.append(make(self.cmd_seq))
        if inflight is not None:
            self.inflight[self.cmd_seq] = inflight
        return self.cmd_seq

    def _send_cmd(self, cmd: Any, origin: Origin | None, gw_in: int, clr_in: int,
                  clr_out: int) -> None:  # fmt: skip
        self.stats.commands += 1
        info = Inflight(origin, gw_in, clr_in, clr_out)
        self._next_cmd(lambda s: wrap_command(s, cmd), info)

    def _to_account(self, account: int, origin: Origin | None, msg: dict) -> None:
        if origin is not None and origin.account == account:
            msg["req_id"] = origin.req_id
            for gw in self.gateways.values():
                gw.outbox.append(("a", account, origin.sid if gw.rid == origin.gw else 0, msg))
        else:
            for gw in self.gateways.values():
                gw.outbox.append(("a", account, 0, msg))

    def _direct(self, origin: Origin, msg: dict) -> None:
        gw = self.gateways.get(origin.gw)
        if gw is not None:
            msg["req_id"] = origin.req_id
            gw.outbox.append(("d", origin.sid, msg))

    def _flush(self) -> None:
        if self._cmd_out:
            out, self._cmd_out = self._cmd_out, []
            self.commands.publish(out)
        now = None
        for gw in list(self.gateways.values()):
            if gw.outbox:
                items, gw.outbox = gw.outbox, []
                gw.backlog.append([gw.rid, *gw.seqr.frames(items)])
            while gw.backlog:
                try:
                    self._link_raw.send_multipart(gw.backlog[0], zmq.NOBLOCK)
                except zmq.Again:
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != zmq.EHOSTUNREACH:
                        raise
                    log.warning("gateway %s unreachable: forgotten", gw.rid.hex())
                    self.gateways.pop(gw.rid, None)
                    break
                gw.backlog.popleft()
                if now is None:
                    now = self.clock.monotonic()
                    self._link_wake.set()
                gw.last_sent = now

    # ------------------------------------------------------------------ dispatch ----
    def _dispatch(self, outs: Iterable[Any], origin: Origin | None, gw_in: int, clr_in: int,
                  ) -> None:  # fmt: skip
        """Route the engine's outputs: matcher commands to the matcher, refusals and
        pushes to the gateway, marks and funding to market data."""
        clr_out = 0
        for o in outs:
            t = type(o)
            if t in _MATCHER_COMMANDS:
                if not clr_out:
                    clr_out = self.clock.time_ns()
                self._send_cmd(o, origin, gw_in, clr_in, clr_out)
            elif t is cev.FillSettled:
                self._dirty.setdefault(o.account, set()).add(o.instrument)
            elif t is cev.PreTradeRejected or t is cev.RequestRejected:
                self._refusal(o, origin, gw_in, clr_in)
            elif t is cev.MarkChanged:
                m = o
                self._next_cmd(lambda s, m=m: MarkPrice(s, m.instrument, m.ts, m.mark, m.index))
            elif t is cev.FundingApplied:
                f = o
                self._next_cmd(lambda s, f=f: FundingRate(s, f.instrument, f.ts, f.rate_ppm))
            elif t is cev.MarginCall:
                self._margin_call(o)
            elif t in _LIQUIDATION_EVENTS:
                self._liquidation_notice(o)
            elif t is cev.Deposited or t is cev.Withdrawn:
                self._dirty.setdefault(o.account, set())

    def _refusal(self, ev: Any, origin: Origin | None, gw_in: int, clr_in: int) -> None:
        hops = Hops(gw_in, clr_in, self.clock.time_ns(), 0, 0)
        if origin is not None and ev.account == origin.account:
            for msg in self.tracker.reject_request(ev, origin.msg, hops):
                if msg["type"] in _ACCOUNT_WIDE:
                    self._to_account(origin.account, origin, msg)
                else:
                    self._direct(origin, msg)
        else:
            for msg in self.tracker.apply(ev, hops):
                self._to_account(msg["account"], None, msg)

    def _margin_call(self, ev: Any) -> None:
        m = views.margin(self.engine, ev.account)
        if m is None:
            return
        msg = {"v": PROTOCOL_VERSION, "type": "margin_call", "account": ev.account,
               "asset": m["asset"], "equity": ev.equity, "initial_margin": m["initial_margin"],
               "maintenance_margin": max(ev.maintenance, 0),
               "margin_ratio_ppm": views.margin_ratio_ppm(max(ev.maintenance, 0), ev.equity),
               "text": "equity near maintenance margin: reduce positions or add collateral",
               "ts": ev.ts}  # fmt: skip
        self._to_account(ev.account, None, msg)

    def _liquidation_notice(self, ev: Any) -> None:
        t = type(ev)
        base = {"v": PROTOCOL_VERSION, "type": "liquidation_notice", "ts": ev.ts}
        if t is cev.LiquidationStarted:
            notes = [(ev.account, {"stage": "started", "equity": ev.equity,
                                   "maintenance_margin": max(ev.maintenance, 0),
                                   "text": "equity below maintenance margin"})]  # fmt: skip
        elif t is cev.LiquidationOrderPlaced:
            notes = [(ev.account, {"stage": "order", "instrument": ev.instrument,
                                   "qty": ev.side * ev.qty, "price": ev.limit,
                                   "order_id": ev.order_id})]  # fmt: skip
        elif t is cev.LiquidationEnded:
            notes = [(ev.account, {"stage": "completed", "equity": ev.equity,
                                   "maintenance_margin": max(ev.maintenance, 0),
                                   "text": str(ev.outcome)[:256]})]  # fmt: skip
        else:  # AutoDeleveraged: the liquidated account and its counterparty
            body = {"stage": "deleveraged", "instrument": ev.instrument, "price": ev.price}
            text = "position reduced by auto-deleveraging"
            notes = [(ev.account, {**body, "qty": ev.qty, "text": "auto-deleveraged"}),
                     (ev.counterparty, {**body, "qty": -ev.qty, "text": text})]  # fmt: skip
        for account, fields in notes:
            msg = dict(base)
            msg["account"] = account
            msg.update(fields)
            self._to_account(account, None, msg)

    def _push_updates(self) -> None:
        """position/balance/margin updates for accounts touched this round, if wanted."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        eng = self.engine
        for account, symbols in dirty.items():
            wanted = self.channels.get(account)
            if not wanted:
                continue
            if "positions" in wanted:
                for sym in sorted(symbols):
                    rec = views.position_record(eng, account, sym)
                    if rec is not None:
                        self._to_account(account, None, views.update("position_update", account,
                                                                      rec))  # fmt: skip
            if "balances" in wanted:
                for rec in views.balances(eng, account, eng.settle):
                    self._to_account(account, None, views.update("balance_update", account, rec))
            if "margin" in wanted:
                rec = views.margin(eng, account)
                if rec is not None:
                    self._to_account(account, None, views.update("margin_update", account, rec))

    # ------------------------------------------------------------------ the link ----
    async def _link_loop(self) -> None:
        raw = self._link_raw
        wake = self._link_wake
        waiter = SocketWaiter(raw, wake)
        try:
            while True:
                await waiter.wait(1.0)
                wake.clear()
                waiter.drain(self._on_link, _LINK_DRAIN)
                self._push_updates()
                self._flush()
        finally:
            waiter.close()

    def _on_link(self, frames: list[bytes]) -> None:
        if len(frames) != 3:
            self.stats.bad_link_messages += 1
            return
        rid = frames[0]
        try:
            run_id, seq = read_header(frames[1])
            items = read_body(self.codec, frames[2])
        except LinkError as exc:
            self.stats.bad_link_messages += 1
            log.warning("bad message on the gateway link: %s", exc)
            return
        gw = self.gateways.get(rid)
        if gw is None:
            gw = self.gateways[rid] = GatewayPeer(rid, LinkSequencer(self.run_id, self.codec))
            gw.outbox.append(("run", self.run_id))
            log.info("gateway %s connected", rid.hex())
        gw.last_seen = self.clock.monotonic()
        status = gw.tracker.check(run_id, seq)
        if status == "gap":
            self.stats.link_gaps += 1
            log.warning("gateway link: message gap before seq %d", seq)
        elif status == "repeat":
            return
        for item in items:
            try:
                self._on_item(gw, item)
            except Exception:  # a bug handling one item must not stop the exchange
                log.exception("failed to handle a gateway item %r", _short(item))

    def _on_item(self, gw: GatewayPeer, item: Any) -> None:
        if not isinstance(item, list) or not item:
            return
        kind = item[0]
        if kind == "req":
            _, sid, account, gw_in, msg = item
            self.stats.requests += 1
            self._on_request(Origin(gw.rid, sid, msg.get("req_id"), account, msg), gw_in)
        elif kind == "cancel_all":
            _, sid, account, ts, reason = item
            clr_in = self.clock.time_ns()
            outs = self.engine.apply(MassCancelRequest(clr_in, account, None))
            outs = [o._replace(reason=reason) if type(o) is mc.MassCancel else o for o in outs]
            self._dispatch(outs, None, ts, clr_in)
        elif kind == "channels":
            _, account, channels = item
            self.channels[account] = frozenset(channels)
        elif kind == "hello":
            pass

    # ------------------------------------------------------------------ requests ----
    def _on_request(self, origin: Origin, gw_in: int) -> None:
        msg = origin.msg
        mtype = msg["type"]
        clr_in = self.clock.time_ns()
        if not self.accepting and mtype in _REQUEST_KINDS:
            self._direct(origin, reject_message(Reason.SERVICE_UNAVAILABLE, ts=clr_in,
                                                ref_type=mtype, text="exchange shutting down"))
            return
        if mtype.startswith("query_"):
            self._query(origin, clr_in)
            return
        account = origin.account
        cmd: Any
        if mtype == "new_order":
            cmd = OrderRequest(
                clr_in, account, msg["instrument"], SIDE_CODES[msg["side"]], msg["qty"],
                msg["price"], ORD_TYPE_CODES[msg["ord_type"]], TIF_CODES[msg["tif"]],
                msg["client_order_id"], msg["post_only"], msg["reduce_only"],
                STP_CODES[msg["stp"]], msg["expire_ts"],
            )  # fmt: skip
        elif mtype == "cancel" or mtype == "amend":
            found = self._resolve(account, msg)
            if found is None:
                hops = Hops(gw_in, clr_in, self.clock.time_ns(), 0, 0)
                self._direct(origin, cancel_reject(
                    account, Reason.UNKNOWN_ORDER, response_to=mtype, ts=clr_in,
                    order_id=msg.get("order_id"), client_order_id=msg.get("client_order_id"),
                    instrument=msg.get("instrument"), hops=hops))  # fmt: skip
                return
            oid, sym = found
            if mtype == "cancel":
                cmd = CancelRequest(clr_in, account, sym, oid)
            else:
                cmd = AmendRequest(clr_in, account, sym, oid, msg["price"], msg["qty"])
        elif mtype == "mass_cancel":
            cmd = MassCancelRequest(clr_in, account, msg["instrument"])
        else:
            self._direct(origin, reject_message(Reason.UNKNOWN_MESSAGE_TYPE, ts=clr_in,
                                                ref_type=mtype, text="not handled by clearing"))
            return
        self._dispatch(self.engine.apply(cmd), origin, gw_in, clr_in)

    def _resolve(self, account: int, msg: dict) -> tuple[int, str] | None:
        """``(order_id, instrument)`` of the account's own working order, else None (an
        unknown order and another account's order look the same)."""
        eng = self.engine
        oid = msg.get("order_id")
        clid = msg.get("client_order_id")
        order = None
        if oid is not None:
            order = eng.orders.get(oid)
        elif clid is not None:
            st = self.tracker.find(account, clid)
            if st is not None:
                order = eng.orders.get(st.order_id)
            else:
                acct = eng.accounts.get(account)
                if acct is not None:
                    order = next((o for o in acct.orders.values()
                                  if o.client_order_id == clid), None)  # fmt: skip
        if order is None or order.account != account:
            return None
        want = msg.get("instrument")
        if want is not None and want != order.symbol:
            return None
        return order.order_id, order.symbol

    def _query(self, origin: Origin, ts: int) -> None:
        msg, account, eng = origin.msg, origin.account, self.engine
        mtype = msg["type"]
        if mtype == "query_orders":
            query = "orders"
            inst, oid, clid = msg["instrument"], msg["order_id"], msg["client_order_id"]
            items = [self.tracker.order_record(st)
                     for st in self.tracker.open_orders(account, inst)]  # fmt: skip
            if not msg["open_only"]:
                items += [r for r in self.recent.get(account, ())
                          if inst is None or r["instrument"] == inst]  # fmt: skip
            if oid is not None:
                items = [r for r in items if r["order_id"] == oid]
            if clid is not None:
                items = [r for r in items if r["client_order_id"] == clid]
        elif mtype == "query_trades":
            query = "trades"
            inst, since = msg["instrument"], msg["since_ts"]
            items = [r for r in self.trades.get(account, ())
                     if (inst is None or r["instrument"] == inst) and r["ts"] >= since]  # fmt: skip
            items = items[-msg["limit"]:]
        elif mtype == "query_positions":
            query, items = "positions", views.positions(eng, account, msg["instrument"])
        elif mtype == "query_balances":
            query, items = "balances", views.balances(eng, account, msg["asset"])
        elif mtype == "query_margin":
            m = views.margin(eng, account)
            query, items = "margin", [m] if m is not None else []
        else:
            query, items = "instruments", views.instruments(eng, msg["instrument"])
        for reply in views.query_replies(query, items, ts, origin.req_id):
            self._direct(origin, reply)

    # ------------------------------------------------------------------ events ------
    async def _events_loop(self, endpoint: str) -> None:
        while True:
            rx = SequencedReceiver(
                self.ctx, endpoint, last_applied=self.engine.last_seq, epoch=self.run_id,
                codec=stream_codec(), heartbeat_ivl=self.hb, clock=self.clock.monotonic,
                rcvhwm=100_000,
            )  # fmt: skip
            self.events_rx = rx
            try:
                async for batch in rx.batches():
                    if rx.epoch != self.run_id:
                        raise StreamLost(rx.last_applied, rx.last_applied, "foreign epoch")
                    self._on_events(batch)
                    self._push_updates()
                    self._flush()
            except StreamLost as exc:
                self.stats.stream_losses += 1
                log.info("matcher event stream: %s; reconnecting", exc)
                await asyncio.sleep(2 * self.hb)

    def _on_events(self, batch: list) -> None:
        """One in-order batch of the matcher's events: settle, report, follow up."""
        self.stats.event_batches += 1
        self.stats.events += len(batch)
        events = []
        stamps: list[tuple[int, Inflight | None, int, int]] = []  # (index, info, me_in, me_out)
        inflight = self.inflight
        for item in batch:
            if type(item) is Stamp:
                cs = item.cmd_seq
                while inflight:  # commands are answered in order: older ones are done
                    k = next(iter(inflight))
                    if k >= cs:
                        break
                    del inflight[k]
                stamps.append((len(events), inflight.get(cs), item.me_in, item.me_out))
                try:
                    item = unwrap(item.name, item.fields)
                except (KeyError, TypeError):
                    log.error("unreadable stamped event %r", _short(item))
                    continue
            events.append(item)
        ts = self.clock.time_ns()
        outs = self.engine.apply(MatcherEvents(ts, events))
        fees = {(o.seq, o.account, o.side): o.fee for o in outs if type(o) is cev.FillSettled}
        # reports, with the hops of the command behind each event
        si = 0
        info, me_in, me_out = self._stamp, *self._stamp_me
        tracker_apply = self.tracker.apply
        for i, ev in enumerate(events):
            while si < len(stamps) and stamps[si][0] <= i:
                _, info, me_in, me_out = stamps[si]
                si += 1
            if type(ev) is mev.LevelChanged:
                continue
            if info is not None:
                hops = Hops(info.gw_in, info.clr_in, info.clr_out, me_in, me_out)
                origin = info.origin
            else:
                hops = Hops(0, 0, 0, me_in, me_out)
                origin = None
            for msg in tracker_apply(ev, hops):
                self._route_report(msg, origin, fees)
        self._stamp, self._stamp_me = info, (me_in, me_out)
        self._dispatch(outs, None, 0, ts)

    def _route_report(self, msg: dict, origin: Origin | None, fees: dict) -> None:
        account = msg["account"]
        mtype = msg["type"]
        if mtype == "exec_report":
            if msg["exec_type"] == "F":
                self._remember_trade(account, msg, fees)
            if msg["ord_status"] in TERMINAL_STATUSES and msg["order_id"] is not None:
                self._remember_finished(account, msg)
        if mtype == "cancel_reject" and origin is not None and origin.account == account:
            self._direct(origin, msg)
        else:
            self._to_account(account, origin, msg)

    def _remember_trade(self, account: int, msg: dict, fees: dict) -> None:
        side = SIDE_CODES.get(msg["side"], 0)
        rec = {"trade_id": msg["trade_id"], "order_id": msg["order_id"],
               "client_order_id": msg["client_order_id"], "instrument": msg["instrument"],
               "side": msg["side"], "price": msg["last_px"], "qty": msg["last_qty"],
               "liquidity": msg["liquidity"],
               "fee": fees.get((msg["exec_id"] // 2, account, side), 0),
               "fee_asset": self.engine.settle, "ts": msg["ts"]}  # fmt: skip
        q = self.trades.get(account)
        if q is None:
            q = self.trades[account] = deque(maxlen=_TRADES_KEPT)
        q.append(rec)

    def _remember_finished(self, account: int, msg: dict) -> None:
        if msg["side"] is None or msg["instrument"] is None:
            return
        rec = {"order_id": msg["order_id"], "client_order_id": msg["client_order_id"],
               "instrument": msg["instrument"], "side": msg["side"],
               "ord_type": msg["ord_type"] or "limit", "tif": msg["tif"] or "gtc",
               "price": msg["price"], "order_qty": msg["order_qty"], "cum_qty": msg["cum_qty"],
               "leaves_qty": 0, "avg_px": msg["avg_px"], "ord_status": msg["ord_status"],
               "ts": msg["ts"]}  # fmt: skip
        q = self.recent.get(account)
        if q is None:
            q = self.recent[account] = deque(maxlen=_RECENT_KEPT)
        q.append(rec)

    # ------------------------------------------------------------------ timers ------
    async def _timer_loop(self) -> None:
        mono = self.clock.monotonic
        tick_s = self.config.tick_ms / 1000.0
        feed_s = self.config.index_feed.interval_ms / 1000.0
        next_tick = next_feed = mono()
        while True:
            now = mono()
            if self.accepting and now >= next_tick:
                next_tick = now + tick_s
                ts = self.clock.time_ns()
                self._dispatch(self.engine.apply(Tick(ts)), None, 0, ts)
                self._send_cmd(mc.AdvanceTime(ts), None, 0, ts, ts)
                self._maybe_snapshot(ts)
            if self.accepting and self.index_feed is not None and now >= next_feed:
                next_feed = now + feed_s
                ts = self.clock.time_ns()
                for name, price in self.index_feed.step():
                    self._dispatch(self.engine.apply(IndexPrice(ts, name, price)), None, 0, ts)
            self._heartbeat_gateways(now)
            self._push_updates()
            self._flush()
            wake_at = now + self.hb
            if self.accepting:
                wake_at = min(wake_at, next_tick)
                if self.index_feed is not None:
                    wake_at = min(wake_at, next_feed)
            await asyncio.sleep(max(0.001, wake_at - mono()))

    def _heartbeat_gateways(self, now: float) -> None:
        for gw in list(self.gateways.values()):
            if now - gw.last_seen > _GATEWAY_TIMEOUT_HBS * self.hb:
                log.info("gateway %s silent: forgotten", gw.rid.hex())
                self.gateways.pop(gw.rid, None)
            elif now - gw.last_sent >= self.hb and not gw.outbox:
                gw.outbox.append(("run", self.run_id))

    def _maybe_snapshot(self, ts: int) -> None:
        if self._writing or not self.schedule.due(ts, self.engine.last_seq):
            return
        state = self.engine.export_state()
        # a private deep copy, so the writer thread never sees the engine change under it
        frozen = msgpack.unpackb(msgpack.packb(state), strict_map_key=False)
        seq = self.engine.last_seq
        self._writing = True
        self.schedule.taken(ts, seq)

        async def write() -> None:
            try:
                path = await asyncio.to_thread(self.writer.write, frozen)
                self.stats.snapshots += 1
                log.info("snapshot %s", path)
            except Exception:
                log.exception("snapshot failed")
            finally:
                self._writing = False

        self._snapshot_task = asyncio.get_running_loop().create_task(write())


_LIQUIDATION_EVENTS = frozenset(
    {cev.LiquidationStarted, cev.LiquidationOrderPlaced, cev.LiquidationEnded,
     cev.AutoDeleveraged}
)  # fmt: skip


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 200 else text[:197] + "..."

