"""A shadow L2 book per instrument, rebuilt from the matcher's ``LevelChanged`` events.

Clearing never asks the matcher for its book: it follows the level events it already
consumes in ``seq`` order. Used for best bid/ask (mark price, top-of-book for the
breakers), impact prices (funding) and the liquidity check before a liquidation order.
Plain dicts price -> quantity; the best price is cached and recomputed only when the
best level disappears.
"""

from __future__ import annotations


class ShadowBook:
    __slots__ = ("asks", "best_ask", "best_bid", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid: int | None = None
        self.best_ask: int | None = None

    def set_level(self, side: int, price: int, qty: int) -> None:
        if side == 1:
            levels = self.bids
            if qty > 0:
                levels[price] = qty
                if self.best_bid is None or price > self.best_bid:
                    self.best_bid = price
            else:
                levels.pop(price, None)
                if price == self.best_bid:
                    self.best_bid = max(levels) if levels else None
        else:
            levels = self.asks
            if qty > 0:
                levels[price] = qty
                if self.best_ask is None or price < self.best_ask:
                    self.best_ask = price
            else:
                levels.pop(price, None)
                if price == self.best_ask:
                    self.best_ask = min(levels) if levels else None

    def mid(self) -> int | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) // 2

    def impact_price(self, side: int, notional: int, mult: int) -> int | None:
        """Average price of a market order of ``notional`` against ``side``'s levels.

        ``side`` = 1 walks the bids (impact bid), -1 the asks (impact ask). None when the
        book is not deep enough. The average is rounded against the order's owner: down
        for a sale (impact bid), up for a purchase (impact ask).
        """
        levels = self.bids if side == 1 else self.asks
        if not levels:
            return None
        prices = sorted(levels, reverse=side == 1)
        need = notional
        qty = 0
        value = 0
        for p in prices:
            q = levels[p]
            take_value = q * p * mult
            if take_value >= need:
                part = -((-need) // (p * mult))
                qty += part
                value += part * p
                need = 0
                break
            qty += q
            value += q * p
            need -= take_value
        if need > 0 or qty == 0:
            return None
        return value // qty if side == 1 else -((-value) // qty)

    def liquidity(self, side: int, limit: int) -> int:
        """Quantity resting on ``side`` at prices at least as good as ``limit`` for a taker."""
        if side == 1:
            return sum(q for p, q in self.bids.items() if p >= limit)
        return sum(q for p, q in self.asks.items() if p <= limit)

    def export(self) -> dict:
        return {"bids": [[p, q] for p, q in sorted(self.bids.items())],
                "asks": [[p, q] for p, q in sorted(self.asks.items())]}  # fmt: skip

    @classmethod
    def restore(cls, d: dict) -> ShadowBook:
        b = cls()
        for p, q in d["bids"]:
            b.set_level(1, p, q)
        for p, q in d["asks"]:
            b.set_level(-1, p, q)
        return b
