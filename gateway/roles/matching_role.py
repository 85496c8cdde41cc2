"""The matching role: the matcher's shell, with the market-data publisher beside it.

Sockets:

- a ``SequencedReceiver`` (connected) reading clearing's command stream (``records``);
- a ``SequencedSender`` (bound) carrying the matcher's events to clearing, lossless: it
  keeps a window of recent events and replays any range clearing finds missing;
- the ``MarketDataPublisher``'s PUB and snapshot ROUTER (bound, CURVE when configured).

Per command: read the clock (``ts_me_in``), ``engine.apply``, read the clock again
(``ts_me_out``), hand the events to the market-data translator at once (so an L3 snapshot
read from the live book matches the mirror), and queue them for clearing with the first
one wrapped in a ``Stamp`` naming the command and its two timestamps. A drained batch of
commands goes out as one publish.

The matcher holds nothing across runs: a ``Hello`` (the first item of every clearing run)
rebuilds it empty, numbering events after the ``start_seq`` clearing gives, with clearing's
run id as the event stream's epoch. If the command stream is lost (clearing restarted,
or this role restarted and must replay), the role forgets its engine and starts over from
the stream's first item; market-data subscribers see the old levels removed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from gateway.auth import CurveAuthenticator
from gateway.exchange_config import ExchangeConfig
from gateway.keys import KeyPair
from gateway.marketdata import MarketDataPublisher
from gateway.roles.clock import WALL_CLOCK, Clock
from gateway.roles.records import (
    FundingRate,
    Hello,
    MarkPrice,
    Stamp,
    StreamCommand,
    stream_codec,
    unwrap,
)
from gateway.sequenced import DropHook, SequencedReceiver, SequencedSender, StreamLost
from matching.engine import MatchingEngine
from matching.enums import InstrumentStatus
from matching.events import InstrumentStatusChanged, LevelChanged
from matching.instrument import Instrument

log = logging.getLogger("crossbook.matching")

_TRADING = int(InstrumentStatus.TRADING)


@dataclass
class MatchingStats:
    commands: int = 0
    events: int = 0
    batches: int = 0
    resets: int = 0
    stream_losses: int = 0
    bad_commands: int = 0


class MatchingRole:
    """The matching shell; construct (binds), then ``await run(commands_endpoint, stop)``."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        config: ExchangeConfig,
        *,
        clock: Clock = WALL_CLOCK,
        curve: tuple[KeyPair, CurveAuthenticator] | None = None,
        drop: DropHook | None = None,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.clock = clock
        self.hb = config.stream_heartbeat_ms / 1000.0
        self.stats = MatchingStats()
        self.engine: MatchingEngine | None = None
        self.run_id: str | None = None
        eps = config.endpoints
        self.events = SequencedSender(
            ctx, eps.events, last_seq=0, codec=stream_codec(), heartbeat_ivl=self.hb,
            clock=clock.monotonic, drop=drop, sndhwm=100_000,
        )  # fmt: skip
        try:
            self.md = MarketDataPublisher(
                ctx, eps.market_data, eps.snapshots, symbols=config.symbols,
                heartbeat_ivl=config.md_heartbeat_ms / 1000.0, clock_ns=clock.time_ns,
                clock=clock.monotonic, l3_source=self._l3, curve=curve,
            )  # fmt: skip
        except BaseException:
            self.events.close()
            raise
        self.bound = {
            "events": self.events.endpoint,
            "market_data": self.md.pub_endpoint,
            "snapshots": self.md.snapshot_endpoint,
        }
        self._last_command = clock.monotonic()

    def _l3(self, symbol: str) -> dict | None:
        engine = self.engine
        if engine is None or symbol not in engine.books:
            return None
        return engine.books[symbol].l3()

    # ------------------------------------------------------------------ run ---------
    async def run(self, commands_endpoint: str, stop: asyncio.Event) -> None:
        """Serve until ``stop``; then keep serving until the command stream has been quiet
        for a few heartbeats (so clearing can drain), and close."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self.events.run()),
                    tg.create_task(self.md.run()),
                    tg.create_task(self._command_loop(commands_endpoint)),
                ]
                await stop.wait()
                mono = self.clock.monotonic
                deadline = mono() + self.config.drain_timeout_ms / 1000.0
                while mono() < deadline and mono() - self._last_command < 5 * self.hb:
                    await asyncio.sleep(self.hb)
                for t in tasks:
                    t.cancel()
        finally:
            self.close()

    def close(self) -> None:
        self.events.close()
        self.md.close()

    async def _command_loop(self, endpoint: str) -> None:
        while True:
            rx = SequencedReceiver(
                self.ctx, endpoint, last_applied=0, codec=stream_codec(),
                heartbeat_ivl=self.hb, clock=self.clock.monotonic, rcvhwm=100_000,
            )  # fmt: skip
            try:
                async for batch in rx.batches():
                    self._on_commands(batch)
            except StreamLost as exc:
                self.stats.stream_losses += 1
                log.warning("command stream lost (%s): the matcher starts over", exc)
                self._forget()
                await asyncio.sleep(2 * self.hb)

    # ------------------------------------------------------------------ commands ----
    def _on_commands(self, batch: list) -> None:
        self.stats.batches += 1
        self._last_command = self.clock.monotonic()
        out: list = []
        time_ns = self.clock.time_ns
        publish_md = self.md.publish_events
        for item in batch:
            t = type(item)
            if t is StreamCommand:
                engine = self.engine
                if engine is None:
                    self.stats.bad_commands += 1
                    continue
                try:
                    cmd = unwrap(item.name, item.fields)
                except (KeyError, TypeError):
                    self.stats.bad_commands += 1
                    log.error("unreadable command %s", item.name)
                    continue
                me_in = time_ns()
                evs = engine.apply(cmd)
                me_out = time_ns()
                self.stats.commands += 1
                if evs:
                    publish_md(evs)
                    first = evs[0]
                    out.append(Stamp(first[0], item.seq, me_in, me_out, type(first).__name__,
                                     list(first)))  # fmt: skip
                    if len(evs) > 1:
                        out.extend(evs[1:])
            elif t is MarkPrice:
                self.md.publish_mark(item.symbol, item.ts, item.mark, item.index)
            elif t is FundingRate:
                self.md.publish_funding(item.symbol, item.ts, item.rate_ppm)
            elif t is Hello:
                if out:
                    self.events.publish(out)
                    out = []
                self._hello(item)
        if out:
            self.stats.events += len(out)
            self.events.publish(out)

    def _hello(self, hello: Hello) -> None:
        """A clearing run starts (or this role replays one): rebuild the matcher empty."""
        self._forget()
        instruments = [Instrument(*fields) for fields in hello.instruments]
        engine = MatchingEngine(instruments)
        engine.seq = hello.start_seq
        engine.trade_id = hello.start_seq  # trade ids stay unique across restarts
        self.engine = engine
        self.run_id = hello.run_id
        self.events.reset(hello.start_seq, epoch=hello.run_id)
        self.stats.resets += 1
        log.info("matcher started for clearing run %s after seq %d", hello.run_id,
                 hello.start_seq)  # fmt: skip

    def _forget(self) -> None:
        """Drop the engine; tell market-data subscribers its levels are gone."""
        self.engine = None
        ts = self.clock.time_ns()
        clear: list[Any] = []
        for sym, inst in self.md.translator.instruments.items():
            for side, levels in ((1, inst.book.bids), (-1, inst.book.asks)):
                clear.extend(LevelChanged(0, ts, sym, side, p, 0, 0) for p in list(levels))
            if inst.status != _TRADING:
                clear.append(InstrumentStatusChanged(0, ts, sym, _TRADING, "matcher restarted"))
        if clear:
            self.md.publish_events(clear)
