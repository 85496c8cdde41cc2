"""A random-flow stress bot: new orders, cancels and amends at a target rate, concurrently.

Every ``1 / rate`` seconds (absolute deadlines, as the replay paces) it launches one action
without waiting for the previous ones to finish, at most ``concurrency`` in flight:

- 60 %: a new limit order of 1..5 lots, buy or sell, priced 0..``spread_ticks`` ticks
  away from the mid (so some cross and trade), GTC (one in five post-only) or IOC;
- 25 %: cancel one of its open orders; 15 %: amend one (a tick up or down, or a lot less).

It keeps at most ``max_open`` orders and leans its new orders against its position past
``max_position`` lots. Every refusal is counted by class in the final report; throughput
is ``orders_sent`` over the run time.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from clients.bots.base import Bot


class RandomFlow(Bot):
    name = "random"

    def __init__(self, *args: Any, rate: float = 50.0, concurrency: int = 32,
                 max_open: int = 40, spread_ticks: int = 20, max_position_lots: int = 100,
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(*args, **kw)
        self.rate = rate
        self.sem = asyncio.Semaphore(concurrency)
        self.max_open = max_open
        self.spread_ticks = spread_ticks
        self.max_position_lots = max_position_lots
        self.actions = {"new": 0, "cancel": 0, "amend": 0}
        self.open_ids: list[str] = []
        self.mid: Decimal | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = 0.0

    async def on_start(self) -> None:
        await self.ex.watch_order_book(self.symbol)  # follow the book: new orders use its mid
        t = await self.ex.fetch_ticker(self.symbol)
        self.mid = t.markPrice or t.last or ((t.bid + t.ask) / 2 if t.bid and t.ask else None)
        self._next = time.monotonic()

    async def on_stop(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    async def step(self) -> None:
        now = time.monotonic()
        self._next = max(self._next + 1.0 / self.rate, now - 1.0)  # at most 1 s of catch-up
        await self.pause(self._next - now)
        if self.stopping:
            return
        book = self.ex.local_book(self.symbol)
        if book is not None and book.local.synced:
            bids, asks = book.book.top(1)
            if bids and asks:
                self.mid = self.m.price((bids[0][0] + asks[0][0]) // 2)
        await self.sem.acquire()
        task = asyncio.create_task(self._act())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.sem.release()

    async def _act(self) -> None:
        r = self.rng.random()
        if (r < 0.6 or not self.open_ids) and len(self.open_ids) < self.max_open:
            await self._new()
        elif r < 0.85 and self.open_ids:
            oid = self.open_ids.pop(self.rng.randrange(len(self.open_ids)))
            self.actions["cancel"] += 1
            await self.attempt(self.ex.cancel_order(oid, self.symbol))
        elif self.open_ids:
            oid = self.rng.choice(self.open_ids)
            o = self.live_order(oid)
            if o is None:
                self.open_ids.remove(oid)
                return
            self.actions["amend"] += 1
            if self.rng.random() < 0.5 and o.price is not None:
                price = o.price + self.m.tick * self.rng.choice((-1, 1))
                await self.attempt(
                    self.ex.edit_order(oid, self.symbol, price=max(price, self.m.tick))
                )
            elif o.amount - o.filled > self.m.lot:
                await self.attempt(
                    self.ex.edit_order(oid, self.symbol, amount=o.amount - self.m.lot)
                )

    async def _new(self) -> None:
        if self.mid is None:
            return
        m = self.m
        limit = m.lot * self.max_position_lots
        lean = max(-0.4, min(0.4, float(self.position / limit) * 0.4))
        side = "sell" if self.rng.random() < 0.5 + lean else "buy"
        away = self.rng.randint(-self.spread_ticks // 4, self.spread_ticks) * m.tick
        price = self.mid - away if side == "buy" else self.mid + away
        price = m.round_price(price, up=side == "sell")
        amount = m.lot * self.rng.randint(1, 5)
        tif = "IOC" if self.rng.random() < 0.2 else "GTC"
        params: dict[str, Any] = {"timeInForce": tif}
        if tif == "GTC" and self.rng.random() < 0.2:
            params["postOnly"] = True
        self.actions["new"] += 1
        o = await self.place(side, amount, max(price, m.tick), params)
        if o is not None and o.status == "open":
            self.open_ids.append(o.id)

    async def report(self) -> dict[str, Any]:
        out = await super().report()
        out["actions"] = dict(self.actions)
        ran = max(self.stopped - self.started, 1e-9)
        out["requests_per_s"] = round(sum(self.actions.values()) / ran, 1)
        return out
