"""A market maker: two-sided post-only quotes around the mark price, skewed by inventory.

Each step (at most every ``interval`` seconds, sooner when the ticker changes):

1. fair price = the mark price (the mid of the book, then the last trade, while no mark
   has been published);
2. skew = - position / max_position x ``skew`` x fair: a long bot lowers both quotes so its
   ask is more likely to be hit, a short one raises them;
3. bid = fair x (1 - half_spread) + skew rounded down to the tick, ask = fair x (1 +
   half_spread) + skew rounded up; at ``max_position`` only the side that reduces the
   position is quoted;
4. a quote is created (post-only GTC) or moved with ``edit_order`` when its price is off by
   more than ``requote_distance`` (a quarter of the half spread); one that filled is
   replaced.

It pulls its quotes (``cancel_all_orders``) as soon as the instrument is not trading
(a halt or the reopening call, seen on the public status stream or in a ``MarketClosed``
refusal) and quotes again when trading resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

from clients.bots.base import Bot
from clients.sdk import BaseError, MarketClosed, Order


class MarketMaker(Bot):
    name = "marketmaker"

    def __init__(self, *args: Any, half_spread: Decimal = Decimal("0.0005"),
                 max_position_lots: int = 50, skew: Decimal = Decimal("0.0005"),
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(*args, **kw)
        self.half_spread = half_spread
        self.max_position_lots = max_position_lots
        self.skew = skew
        self.quotes: dict[str, Order | None] = {"buy": None, "sell": None}
        self.pulled = 0
        self.status = "trading"
        self._status_task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def max_position(self) -> Decimal:
        return self.m.lot * self.max_position_lots

    async def on_start(self) -> None:
        self.status = self.ex.status(self.symbol)
        self._status_task = asyncio.create_task(self._follow_status(), name="mm status")

    async def on_stop(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._status_task

    async def _follow_status(self) -> None:
        while True:
            status = await self.ex.watch_status(self.symbol)
            if status != self.status:
                self.status = status
                self._changed.set()
                if status != "trading":
                    await self.pull()

    async def pull(self) -> None:
        """Cancel every quote (a halt, or the reopening call)."""
        self.pulled += 1
        await self.attempt(self.ex.cancel_all_orders(self.symbol))
        self.quotes = {"buy": None, "sell": None}

    def requote_distance(self, price: Decimal) -> Decimal:
        """How far a quote may sit from its target before it is moved: a quarter of the
        half spread, at least a tick (the mark follows the mid, so moving for every tick
        would chase our own quotes)."""
        return max(self.m.tick, price * self.half_spread / 4)

    def fair(self, ticker: Any) -> Decimal | None:
        if ticker.markPrice is not None:
            return ticker.markPrice
        if ticker.bid is not None and ticker.ask is not None:
            return (ticker.bid + ticker.ask) / 2
        return ticker.last

    def targets(self, fair: Decimal) -> dict[str, Decimal | None]:
        m = self.m
        skew = -(self.position / self.max_position) * self.skew * fair
        bid = m.round_price(fair * (1 - self.half_spread) + skew)
        ask = m.round_price(fair * (1 + self.half_spread) + skew, up=True)
        if ask <= bid:
            ask = bid + m.tick
        out: dict[str, Decimal | None] = {"buy": bid, "sell": ask}
        if self.position >= self.max_position:
            out["buy"] = None
        if self.position <= -self.max_position:
            out["sell"] = None
        return out

    async def step(self) -> None:
        ticker = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.interval):
                ticker = await self.ex.watch_ticker(self.symbol)
        if self.stopping:
            return
        if self.status != "trading":
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._changed.wait()
            return
        if ticker is None:
            return
        fair = self.fair(ticker)
        if fair is None:
            return
        for side, price in self.targets(fair).items():
            await self.requote(side, price)

    async def requote(self, side: str, price: Decimal | None) -> None:
        q = self.quotes[side]
        q = self.live_order(q.id) if q is not None else None
        if price is None:
            if q is not None:
                await self.attempt(self.ex.cancel_order(q.id, self.symbol))
            self.quotes[side] = None
            return
        if q is None:
            try:
                self.orders_sent += 1
                q = await self.ex.create_order(self.symbol, "limit", side, self.size, price,
                                               {"postOnly": True})  # fmt: skip
            except MarketClosed:
                self.rejects["MarketClosed"] += 1
                await self.pull()
                q = None
            except BaseError as exc:
                self.rejects[type(exc).__name__] += 1
                q = None
        elif abs(q.price - price) >= self.requote_distance(price):  # type: ignore[operator]
            self.amends += 1
            moved = await self.attempt(self.ex.edit_order(q.id, self.symbol, amount=q.amount,
                                                          price=price))  # fmt: skip
            q = moved if moved is not None and moved.status == "open" else None
        self.quotes[side] = q
