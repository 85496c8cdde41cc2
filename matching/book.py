"""One instrument's order book: per side a dict of price levels and a sorted price list.

The book is a data structure with no policy of its own: the engine decides what to match,
the book keeps levels findable by price and in price order, tracks the best level of each
side and answers depth queries (L2 top-N, L3 order-by-order, checksum) and ``validate()``.

Layout (chosen for CPython speed, see docs/matching.md "Book"): ``bids``/``asks`` map a
price to its ``PriceLevel`` (a plain dict: O(1) on the hot path); ``bid_prices`` and
``ask_prices`` hold the same prices in ascending order (a plain list kept with ``bisect``,
touched only when a level appears or disappears, and then mostly at the best end);
``best_bid``/``best_ask`` cache the best level object.

Invariants (checked by ``validate``): every level is non-empty and its ``total``/``count``
equal the sum over its orders; links are consistent; each side's price list is exactly
its dict's keys in ascending order; the cached best levels are the extreme ones; in
continuous trading the book is not crossed (a call auction, and a halt that interrupted
one, may hold a crossed book until the uncross on resume).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from matching.checksum import CHECKSUM_DEPTH, book_checksum
from matching.enums import BUY, InstrumentStatus
from matching.instrument import Instrument
from matching.order import Order, PriceLevel

try:
    import cython
except ImportError:  # no Cython installed: this module runs as plain Python
    from matching import _nocython as cython

if not cython.compiled:
    # where a price goes in an ascending price list; compiled, book.pxd gives a C function
    # of the same name (the same search without the call through the bisect module)
    _bisect_left = bisect_left

NO_LOW = -(1 << 62)
NO_HIGH = 1 << 62


class OrderBook:
    __slots__ = (
        "ask_prices",
        "asks",
        "band_high",
        "band_low",
        "best_ask",
        "best_bid",
        "bid_prices",
        "bids",
        "instrument",
        "last_price",
        "limits",
        "status",
        "symbol",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        # (lot, min qty, max qty, tick): unpacked in one step on the order path
        self.limits = (instrument.lot_size, instrument.min_qty, instrument.max_qty,
                       instrument.tick_size)  # fmt: skip
        self.bids: dict[int, PriceLevel] = {}
        self.asks: dict[int, PriceLevel] = {}
        self.bid_prices: list[int] = []
        self.ask_prices: list[int] = []
        self.best_bid: PriceLevel | None = None
        self.best_ask: PriceLevel | None = None
        self.status = InstrumentStatus.TRADING
        self.band_low = NO_LOW
        self.band_high = NO_HIGH
        self.last_price: int | None = None

    # -- structure -------------------------------------------------------------------
    def level_for_insert(self, side: int, price: int) -> PriceLevel:
        """The level at ``price`` on ``side``, created (and best updated) if missing."""
        if side == BUY:
            level = self.bids.get(price)
            if level is None:
                level = self.bids[price] = PriceLevel(price)
                prices = self.bid_prices
                if not prices or price > prices[-1]:
                    prices.append(price)
                    self.best_bid = level
                else:
                    prices.insert(_bisect_left(prices, price), price)
        else:
            level = self.asks.get(price)
            if level is None:
                level = self.asks[price] = PriceLevel(price)
                prices = self.ask_prices
                if not prices or price < prices[0]:
                    prices.insert(0, price)
                    self.best_ask = level
                else:
                    prices.insert(_bisect_left(prices, price), price)
        return level

    def remove_level(self, side: int, level: PriceLevel) -> None:
        """Drop an empty level and refresh the cached best of its side."""
        price = level.price
        if side == BUY:
            del self.bids[price]
            prices = self.bid_prices
            if self.best_bid is level:
                prices.pop()
                self.best_bid = self.bids[prices[-1]] if prices else None
            else:
                del prices[_bisect_left(prices, price)]
        else:
            del self.asks[price]
            prices = self.ask_prices
            if self.best_ask is level:
                del prices[0]
                self.best_ask = self.asks[prices[0]] if prices else None
            else:
                del prices[_bisect_left(prices, price)]

    def levels(self, side: int) -> list[PriceLevel]:
        """Levels of one side, best first."""
        if side == BUY:
            bids = self.bids
            return [bids[p] for p in reversed(self.bid_prices)]
        asks = self.asks
        return [asks[p] for p in self.ask_prices]

    def prices_through(self, side: int, limit: int) -> list[int]:
        """Prices of ``side``'s levels from the best one to ``limit`` inclusive, best first."""
        if side == BUY:
            prices = self.bid_prices
            return prices[bisect_left(prices, limit):][::-1]
        prices = self.ask_prices
        return prices[: bisect_right(prices, limit)]

    # -- queries ---------------------------------------------------------------------
    def depth(self, n: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``n`` levels per side as (price, qty), best first: ``(bids, asks)``."""
        bids, asks = self.bids, self.asks
        return (
            [(p, bids[p].total) for p in self.bid_prices[: -n - 1 : -1]] if n else [],
            [(p, asks[p].total) for p in self.ask_prices[:n]],
        )

    def l3(self) -> dict[str, list[tuple[int, int, int, int]]]:
        """Every resting order as (order_id, account, price, leaves), in priority order."""
        return {
            "bids": [
                (o.order_id, o.account, o.price, o.leaves)
                for lv in self.levels(BUY)
                for o in lv.orders()
            ],
            "asks": [
                (o.order_id, o.account, o.price, o.leaves)
                for lv in self.levels(-BUY)
                for o in lv.orders()
            ],
        }

    def checksum(self, depth: int = CHECKSUM_DEPTH) -> int:
        bids, asks = self.depth(depth)
        return book_checksum(bids, asks, depth)

    def is_crossed(self) -> bool:
        bb, ba = self.best_bid, self.best_ask
        return bb is not None and ba is not None and bb.price >= ba.price

    # -- invariants ------------------------------------------------------------------
    def validate(self) -> None:
        """Raise AssertionError if any internal invariant is broken."""
        for side, levels in ((BUY, self.bids), (-BUY, self.asks)):
            for price, level in levels.items():
                assert level.price == price, "level keyed under a different price"
                assert level.head is not None and level.tail is not None, "empty level kept"
                assert level.head.prev is None and level.tail.next is None, "open list ends"
                total = count = 0
                prev: Order | None = None
                o = level.head
                while o is not None:
                    assert o.prev is prev, "broken back link"
                    assert o.side == side and o.price == price, "order on wrong level"
                    assert o.leaves > 0 and o.cum + o.leaves == o.qty, "quantity identity"
                    total += o.leaves
                    count += 1
                    prev = o
                    o = o.next
                assert prev is level.tail, "tail is not the last order"
                assert total == level.total, f"level total {level.total} != {total}"
                assert count == level.count, "level count"
        assert self.bid_prices == sorted(self.bids), "bid price list is not the bid levels"
        assert self.ask_prices == sorted(self.asks), "ask price list is not the ask levels"
        exp_bid = self.bids[self.bid_prices[-1]] if self.bids else None
        exp_ask = self.asks[self.ask_prices[0]] if self.asks else None
        assert self.best_bid is exp_bid, "stale best bid"
        assert self.best_ask is exp_ask, "stale best ask"
        if self.status == InstrumentStatus.TRADING:
            assert not self.is_crossed(), "book crossed in continuous trading"
