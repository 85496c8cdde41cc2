"""A taker: every so often it crosses the spread with an immediate-or-cancel order.

Each step waits ``interval`` seconds (jittered by +-50 %), picks a side at random, leaning
against its own position once that exceeds ``max_position`` (so it does not drift off to
its margin limit), and sends an IOC limit order for ``size`` at the best opposite price of
its local book (``watch_order_book``); with nothing on that side it waits. What it could
not fill expires at once (an IOC never rests).
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

from clients.bots.base import Bot


class Taker(Bot):
    name = "taker"

    def __init__(self, *args: Any, max_position_lots: int = 50, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.max_position_lots = max_position_lots

    def choose_side(self) -> str:
        limit = self.m.lot * self.max_position_lots
        if self.position >= limit:
            return "sell"
        if self.position <= -limit:
            return "buy"
        lean = float(self.position / limit) * 0.4  # long -> more likely to sell
        return "sell" if self.rng.random() < 0.5 + lean else "buy"

    async def step(self) -> None:
        await self.pause(self.interval * (0.5 + self.rng.random()))
        if self.stopping:
            return
        book = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.interval):
                book = await self.ex.watch_order_book(self.symbol, 1)
        if book is None:
            return
        side = self.choose_side()
        level = book.asks if side == "buy" else book.bids
        if not level:
            return
        price, available = level[0]
        amount = min(self.size, self.m.round_amount(available)) or self.m.lot
        await self.place(side, Decimal(amount), price, {"timeInForce": "IOC"})
