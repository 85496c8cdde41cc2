"""One instrument's order book: a ``SortedDict`` of price levels per side.

The book is a data structure with no policy of its own: the engine decides what to match,
the book keeps levels sorted, tracks the best level of each side and answers depth
queries (L2 top-N, L3 order-by-order, checksum) and ``validate()``.

Invariants (checked by ``validate``): every level is non-empty and its ``total``/``count``
equal the sum over its orders; links are consistent; the cached best levels are the
extreme keys; in continuous trading the book is not crossed (a call auction, and a halt
that interrupted one, may hold a crossed book until the uncross on resume).
"""

from __future__ import annotations

from sortedcontainers import SortedDict

from matching.checksum import CHECKSUM_DEPTH, book_checksum
from matching.enums import BUY, InstrumentStatus
from matching.instrument import Instrument
from matching.order import Order, PriceLevel

NO_LOW = -(1 << 62)
NO_HIGH = 1 << 62


class OrderBook:
    __slots__ = (
        "asks",
        "band_high",
        "band_low",
        "best_ask",
        "best_bid",
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
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.best_bid: PriceLevel | None = None
        self.best_ask: PriceLevel | None = None
        self.status = InstrumentStatus.TRADING
        self.band_low = NO_LOW
        self.band_high = NO_HIGH
        self.last_price: int | None = None

    # -- structure -------------------------------------------------------------------
    def level_for_insert(self, side: int, price: int) -> PriceLevel:
        """The level at ``price`` on ``side``, created (and best updated) if missing."""
        levels = self.bids if side == BUY else self.asks
        level = levels.get(price)
        if level is None:
            level = PriceLevel(price)
            levels[price] = level
            if side == BUY:
                best = self.best_bid
                if best is None or price > best.price:
                    self.best_bid = level
            else:
                best = self.best_ask
                if best is None or price < best.price:
                    self.best_ask = level
        return level

    def remove_level(self, side: int, level: PriceLevel) -> None:
        """Drop an empty level and refresh the cached best of its side."""
        if side == BUY:
            bids = self.bids
            del bids[level.price]
            if self.best_bid is level:
                self.best_bid = bids.peekitem(-1)[1] if bids else None
        else:
            asks = self.asks
            del asks[level.price]
            if self.best_ask is level:
                self.best_ask = asks.peekitem(0)[1] if asks else None

    def levels(self, side: int) -> list[PriceLevel]:
        """Levels of one side, best first."""
        if side == BUY:
            return list(reversed(self.bids.values()))
        return list(self.asks.values())

    # -- queries ---------------------------------------------------------------------
    def depth(self, n: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``n`` levels per side as (price, qty), best first: ``(bids, asks)``."""
        bids = [(lv.price, lv.total) for lv in self.bids.values()[: -n - 1 : -1]] if n else []
        asks = [(lv.price, lv.total) for lv in self.asks.values()[:n]]
        return bids, asks

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
        exp_bid = self.bids.peekitem(-1)[1] if self.bids else None
        exp_ask = self.asks.peekitem(0)[1] if self.asks else None
        assert self.best_bid is exp_bid, "stale best bid"
        assert self.best_ask is exp_ask, "stale best ask"
        if self.status == InstrumentStatus.TRADING:
            assert not self.is_crossed(), "book crossed in continuous trading"
