"""What every example bot shares: a run loop with a stop signal, counters, and the final report.

A bot is a subclass of ``Bot`` with ``async def step(self)`` (one decision; the loop calls it
until stopped) and optionally ``on_start`` / ``on_stop``. Rules:

- The bot trades one instrument (``--instrument``, default BTC-PERP) on one account through
  the SDK (``clients.sdk.Exchange``); it follows its own fills (``watch_my_trades``) in a
  background task, so ``position`` is always its latest signed position.
- It stops on ``stop()`` (Ctrl-C or SIGTERM in the CLI) or after ``duration`` seconds. On
  the way out it cancels its open orders, then asks the exchange for its position and
  margin: the final report (``report()``) is the exchange's figures, not the bot's own
  bookkeeping, and ``summary()`` prints them.
- Refusals are counted by exception class name (``rejects``) and never end the bot; a lost
  session is waited out by the SDK's reconnect.
- Randomness comes from ``random.Random(seed)``, so a run can be repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from clients.sdk import BaseError, Exchange, Market, NetworkError, Position

log = logging.getLogger(__name__)


class Bot:
    name = "bot"

    def __init__(
        self,
        exchange: Exchange,
        symbol: str = "BTC-PERP",
        *,
        duration: float | None = None,
        interval: float = 0.5,
        seed: int | None = None,
        size: Decimal | None = None,
    ) -> None:
        self.ex = exchange
        self.symbol = symbol
        self.duration = duration
        self.interval = interval
        self.rng = random.Random(seed)
        self.size_arg = size
        self.market: Market | None = None
        self.position = Decimal(0)
        self.orders_sent = 0
        self.amends = 0
        self.fills = 0
        self.filled = Decimal(0)
        self.rejects: Counter[str] = Counter()
        self.started = 0.0
        self.stopped = 0.0
        self._stop = asyncio.Event()
        self.final: dict[str, Any] = {}

    # -- to override ----------------------------------------------------------------------
    async def on_start(self) -> None:
        """Called once, after the markets are loaded."""

    async def step(self) -> None:
        """One decision; the loop calls it until the bot is stopped."""
        await asyncio.sleep(self.interval)

    async def on_stop(self) -> None:
        """Called once before the final report (after this, open orders are cancelled)."""

    # -- helpers for subclasses -----------------------------------------------------------
    @property
    def m(self) -> Market:
        assert self.market is not None
        return self.market

    @property
    def size(self) -> Decimal:
        """The order size: ``--size``, else ten lots."""
        return self.size_arg if self.size_arg is not None else self.m.lot * 10

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the bot is stopped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._stop.wait()

    def live_order(self, order_id: str | int | None) -> Any:
        """The order's latest state from the SDK's cache if it is still open, else None
        (fills and cancels arrive on their own; no request is sent)."""
        if order_id is None:
            return None
        o = self.ex.cached_order(order_id)
        return o if o is not None and o.status == "open" else None

    async def attempt(self, coro: Any) -> Any:
        """Await an SDK call; a refusal is counted (by class) and returns None."""
        try:
            return await coro
        except BaseError as exc:
            self.rejects[type(exc).__name__] += 1
            log.debug("%s refused: %s", self.name, exc)
            return None

    async def place(self, side: str, amount: Decimal, price: Decimal | None,
                    params: dict[str, Any] | None = None, type: str = "limit") -> Any:  # fmt: skip
        self.orders_sent += 1
        return await self.attempt(
            self.ex.create_order(self.symbol, type, side, amount, price, params)
        )

    # -- the run ------------------------------------------------------------------------
    async def _follow_fills(self) -> None:
        while True:
            for t in await self.ex.watch_my_trades(self.symbol):
                signed = t.amount if t.side == "buy" else -t.amount
                self.position += signed
                self.fills += 1
                self.filled += t.amount

    async def run(self) -> dict[str, Any]:
        """Run until stopped or ``duration`` passed; returns the final report."""
        self.market = self.ex.market(self.symbol)
        self.symbol = self.market.symbol
        for p in await self.ex.fetch_positions([self.symbol]):
            self.position = p.signed_contracts
        self.started = time.monotonic()
        follower = asyncio.create_task(self._follow_fills(), name=f"{self.name} fills")
        try:
            await self.on_start()
            if self.duration is not None:
                asyncio.get_running_loop().call_later(self.duration, self._stop.set)
            while not self._stop.is_set():
                try:
                    await self.step()
                except NetworkError as exc:
                    self.rejects[type(exc).__name__] += 1
                    await self.pause(self.interval)
        finally:
            self.stopped = time.monotonic()
            try:
                await self.on_stop()
                await self.attempt(self.ex.cancel_all_orders(self.symbol))
                self.final = await self.report()
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await follower
        return self.final

    async def report(self) -> dict[str, Any]:
        """The exchange's view of this account now: position, PnL and margin."""
        pos: Position | None = None
        for p in await self.ex.fetch_positions([self.symbol]):
            pos = p
        margin = await self.ex.fetch_margin()
        zero = Decimal(0)

        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "bot": self.name,
            "account": self.ex.account,
            "instrument": self.m.id,
            "symbol": self.symbol,
            "ran_s": round(self.stopped - self.started, 3),
            "position": s(pos.signed_contracts if pos else zero),
            "entry_price": s(pos.entryPrice if pos else None),
            "mark_price": s(pos.markPrice if pos else None),
            "unrealized_pnl": s(pos.unrealizedPnl if pos else zero),
            "realized_pnl": s(pos.realizedPnl if pos else zero),
            "equity": s(margin.equity),
            "initial_margin": s(margin.initialMargin),
            "maintenance_margin": s(margin.maintenanceMargin),
            "free_collateral": s(margin.freeCollateral),
            "margin_ratio": s(margin.marginRatio),
            "settle": self.m.settle,
            "orders_sent": self.orders_sent,
            "amends": self.amends,
            "fills": self.fills,
            "filled": str(self.filled),
            "rejects": dict(sorted(self.rejects.items())),
        }

    def summary(self) -> str:
        r = self.final
        cur = r.get("settle", "")
        side = ""
        if r.get("position") not in (None, "0"):
            side = " (long)" if not str(r["position"]).startswith("-") else " (short)"
        return "\n".join([
            f"crossbook bot {self.name}: account {r.get('account')} on {r.get('instrument')}, "
            f"ran {r.get('ran_s')} s",
            f"  activity  {r.get('orders_sent')} orders sent, {r.get('amends')} amended, "
            f"{r.get('fills')} fills "
            f"({r.get('filled')}), refused {r.get('rejects') or 'none'}",
            f"  position  {r.get('position')}{side}  entry {r.get('entry_price')}  "
            f"mark {r.get('mark_price')}",
            f"  PnL       unrealized {r.get('unrealized_pnl')} {cur}, "
            f"realized {r.get('realized_pnl')} {cur}",
            f"  margin    equity {r.get('equity')} {cur}, initial {r.get('initial_margin')}, "
            f"maintenance {r.get('maintenance_margin')}, ratio {r.get('margin_ratio')}",
        ])  # fmt: skip
