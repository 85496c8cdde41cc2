"""What each account did recently: its last trades and its last finished orders.

Part of the core's state (snapshots carry it, the journal rebuilds it), so trade history
and ``query_orders`` with finished orders survive any restart. Rules:

1. Per account, the newest ``TRADES_KEPT`` trades and ``FINISHED_KEPT`` finished orders,
   oldest first; older ones fall off.
2. A trade record is ``(trade_id, order_id, client_order_id, instrument, side, price,
   qty, liquidity, fee, ts)``; a finished order is its terminal compact execution report
   (``clearing.core.reports``). Both are plain tuples of ints and strs (so Python's
   garbage collector stops tracking them once they are old, however many accounts keep
   their history); export writes them as lists.
"""

from __future__ import annotations

from collections import deque
from typing import Any

TRADES_KEPT = 1000
FINISHED_KEPT = 200


class History:
    __slots__ = ("finished_orders", "trades")

    def __init__(self) -> None:
        self.trades: dict[int, deque] = {}
        self.finished_orders: dict[int, deque] = {}

    def trade(self, account: int, record: tuple) -> None:
        q = self.trades.get(account)
        if q is None:
            q = self.trades[account] = deque(maxlen=TRADES_KEPT)
        q.append(record)

    def finished(self, account: int, report: tuple) -> None:
        q = self.finished_orders.get(account)
        if q is None:
            q = self.finished_orders[account] = deque(maxlen=FINISHED_KEPT)
        q.append(report)

    def trades_of(self, account: int) -> tuple:
        return tuple(self.trades.get(account, ()))

    def finished_of(self, account: int) -> tuple:
        return tuple(self.finished_orders.get(account, ()))

    # -- state ------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        return {
            "trades": [[a, [_list(r) for r in q]] for a, q in sorted(self.trades.items())],
            "finished": [[a, [_list(r) for r in q]]
                         for a, q in sorted(self.finished_orders.items())],
        }  # fmt: skip

    @classmethod
    def restore(cls, d: dict[str, Any]) -> History:
        h = cls()
        for a, recs in d["trades"]:
            h.trades[a] = deque((tuple(r) for r in recs), maxlen=TRADES_KEPT)
        for a, recs in d["finished"]:
            h.finished_orders[a] = deque((_tuple(r) for r in recs), maxlen=FINISHED_KEPT)
        return h


def _list(value: Any) -> Any:
    """Tuples (nested) as lists: the plain form snapshots hash."""
    if isinstance(value, tuple | list):
        return [_list(v) for v in value]
    return value


def _tuple(value: Any) -> Any:
    """Lists back to the tuples the reports were (msgpack turns tuples into lists)."""
    if isinstance(value, list):
        return tuple(_tuple(v) for v in value)
    return value
