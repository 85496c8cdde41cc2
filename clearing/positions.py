"""Positions: the per-instrument ledger of holders, and the trade arithmetic.

``Ledger`` keeps one row per account that holds a position or resting orders in the
instrument, as int64 columns (``array('q')``: plain ints for the pre-trade path, zero-copy
numpy views for the re-mark). Columns:

- ``slot``  the account's slot in ``AccountTable``
- ``size``  signed position (quantity units, long > 0)
- ``cost``  signed entry notional of the open position (size · average entry · m)
- ``bq bv bf`` resting buys: total leaves, sum of leaves·price, reserved fees
- ``sq sv sf`` resting sells: the same
- ``im mm cb cs req`` the margin charges at the current mark (``margin`` module)
- ``val`` an option position's value at the mark, rounded against the holder (options
  only: ``clearing.options.rows``; futures count ``size·mark·m`` directly)

``Position`` holds what is only reported: realised PnL, fees and funding paid, the
funding index at the last settlement.

Trade arithmetic (``apply_trade``): a trade of signed quantity ``d`` at price ``p`` moves
cash by ``-d·p·m`` (the buyer pays the seller, so cash is conserved exactly). The cost
basis follows the average-entry rule; closing part of a position removes
``ceil(cost · closed / |size|)`` of the cost, and realised PnL is what the closed part
brought in minus the cost removed. Realised PnL is a report: equity never depends on it.
"""

from __future__ import annotations

from array import array

COLUMNS = ("slot", "size", "cost", "bq", "bv", "bf", "sq", "sv", "sf", "im", "mm", "cb", "cs",
           "req", "val")  # fmt: skip


class Ledger:
    __slots__ = (*COLUMNS, "row_of", "n")

    def __init__(self) -> None:
        for name in COLUMNS:
            setattr(self, name, array("q"))
        self.row_of: dict[int, int] = {}
        self.n = 0

    def row(self, slot: int) -> int:
        """The row of account ``slot``, created (all zero) on first use."""
        r = self.row_of.get(slot)
        if r is None:
            r = self.n
            for name in COLUMNS:
                getattr(self, name).append(0)
            self.slot[r] = slot  # type: ignore[attr-defined]
            self.row_of[slot] = r
            self.n += 1
        return r


class Position:
    __slots__ = ("fees_paid", "funding_index", "funding_paid", "realized_pnl", "row")

    def __init__(self, row: int, funding_index: int = 0) -> None:
        self.row = row
        self.realized_pnl = 0
        self.fees_paid = 0
        self.funding_paid = 0
        self.funding_index = funding_index


def apply_trade(size: int, cost: int, d: int, price: int, mult: int) -> tuple[int, int, int]:
    """Return ``(new_size, new_cost, realized)`` after trading ``d`` at ``price``."""
    if d == 0:
        return size, cost, 0
    if size == 0 or (size > 0) == (d > 0):
        return size + d, cost + d * price * mult, 0
    held = abs(size)
    closed = min(abs(d), held)
    removed = cost if closed == held else -((-cost * closed) // held)
    sign = 1 if size > 0 else -1
    realized = sign * closed * price * mult - removed
    new_size = size + d
    new_cost = cost - removed
    if abs(d) > held:
        new_cost = new_size * price * mult
    return new_size, new_cost, realized
