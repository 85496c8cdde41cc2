"""Accounts: balances, position records, live orders, the hold ledger, cached risk.

Per-account risk figures at the current marks live in ``AccountTable``: four int64
columns (``array('q')``, so the pre-trade path reads them as plain Python ints and the
re-mark views them as numpy arrays without a copy), indexed by the account's ``slot``:

- ``eq``  equity E = settlement cash + haircut collateral + sum of s·P·m
- ``im``  initial margin of the positions
- ``mm``  maintenance margin of the positions
- ``req`` IM plus the worst-side reservation of the resting orders (``margin`` module)

Every change to a position, order, balance or mark updates these incrementally; the
engine's ``validate()`` recomputes them from scratch and must agree exactly.

The hold ledger (``held``, ``placed``, ``released``, ``settled``): an admitted order
reserves a hold (the increase in ``req`` it caused); a fill settles the hold pro rata,
a cancel/expiry/reject releases what is left, so ``placed == released + settled + held``.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clearing.orders import Order
    from clearing.positions import Position


class Account:
    __slots__ = (
        "balances",
        "coll_value",
        "held",
        "id",
        "orders",
        "placed",
        "positions",
        "released",
        "ro_leaves",
        "settled",
        "slot",
    )

    def __init__(self, account_id: int, slot: int) -> None:
        self.id = account_id
        self.slot = slot
        self.balances: dict[str, int] = {}
        self.positions: dict[str, Position] = {}
        self.orders: dict[int, Order] = {}
        self.coll_value = 0
        self.held = 0
        self.placed = 0
        self.released = 0
        self.settled = 0
        self.ro_leaves: dict[tuple[str, int], int] = {}


class AccountTable:
    """Cached risk columns by slot (see the module docstring)."""

    __slots__ = ("eq", "im", "mm", "n", "req")

    def __init__(self) -> None:
        self.eq = array("q")
        self.im = array("q")
        self.mm = array("q")
        self.req = array("q")
        self.n = 0

    def add(self) -> int:
        for col in (self.eq, self.im, self.mm, self.req):
            col.append(0)
        self.n += 1
        return self.n - 1
