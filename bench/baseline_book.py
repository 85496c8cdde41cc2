"""A plain SortedDict + deque book with no events: the yardstick for the matcher bench.

It does the least a price-time book can do (no validation, no events, no indexes beyond
order id, lazy cancel), so the ratio matcher/baseline measured in one run says how much
the real engine's contracts cost on whatever machine the bench ran on.
"""

from __future__ import annotations

from collections import deque

from sortedcontainers import SortedDict

from matching import CancelOrder


class BaselineBook:
    __slots__ = ("asks", "bids", "orders")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.orders: dict[int, list] = {}

    def apply(self, cmd) -> None:  # type: ignore[no-untyped-def]
        if type(cmd) is CancelOrder:
            entry = self.orders.pop(cmd.order_id, None)
            if entry is not None:
                entry[1] = 0
            return
        side, qty, price = cmd.side, cmd.qty, cmd.price
        if side == 1:
            book, other = self.bids, self.asks
            while qty and other:
                best = other.peekitem(0)[0]
                if best > price:
                    break
                qty = self._take(other, best, qty)
        else:
            book, other = self.asks, self.bids
            while qty and other:
                best = other.peekitem(-1)[0]
                if best < price:
                    break
                qty = self._take(other, best, qty)
        if qty and cmd.tif == 1:
            entry = [cmd.order_id, qty]
            q = book.get(price)
            if q is None:
                book[price] = q = deque()
            q.append(entry)
            self.orders[cmd.order_id] = entry

    def _take(self, side: SortedDict, price: int, qty: int) -> int:
        q = side[price]
        while qty and q:
            entry = q[0]
            if entry[1] == 0:
                q.popleft()
                continue
            n = min(qty, entry[1])
            entry[1] -= n
            qty -= n
            if entry[1] == 0:
                q.popleft()
                self.orders.pop(entry[0], None)
        if not q:
            del side[price]
        return qty
