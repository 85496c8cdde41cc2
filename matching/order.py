"""A resting order and the price level (an intrusive FIFO list) that holds it.

Orders link to their neighbours directly (``prev``/``next``), so cancel is O(1) and a level
needs no container of its own. When an order leaves the book every link is cleared at
once: nothing keeps a dead order alive for the garbage collector to trace.
"""

from __future__ import annotations

from matching.commands import NewOrder


class Order:
    """Mutable state of one live order; ``cmd`` holds what the client asked for.

    ``clid`` and ``instrument`` repeat ``cmd.client_order_id`` and ``cmd.instrument``: the
    hot paths read them from a slot instead of a NamedTuple field.
    """

    __slots__ = (
        "account", "clid", "cmd", "cum", "instrument", "leaves", "next", "order_id", "prev",
        "price", "qty", "side",
    )  # fmt: skip

    def __init__(
        self, cmd: NewOrder, order_id: int, account: int, side: int, price: int, qty: int
    ) -> None:
        self.cmd = cmd
        self.clid = cmd.client_order_id
        self.instrument = cmd.instrument
        self.order_id = order_id
        self.account = account
        self.side = side
        self.price = price
        self.qty = qty
        self.leaves = qty
        self.cum = 0
        self.prev: Order | None = None
        self.next: Order | None = None

    @property
    def key(self) -> str | int:
        """The order's key in its account's index: client order id, or order id without one."""
        return self.clid or self.order_id

    def __repr__(self) -> str:
        return (
            f"Order(id={self.order_id}, acct={self.account}, side={self.side}, "
            f"price={self.price}, qty={self.qty}, leaves={self.leaves}, cum={self.cum})"
        )


class PriceLevel:
    """All resting orders at one price on one side, oldest first."""

    __slots__ = ("count", "head", "price", "tail", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.head: Order | None = None
        self.tail: Order | None = None
        self.total = 0
        self.count = 0

    def append(self, order: Order) -> None:
        tail = self.tail
        if tail is None:
            self.head = order
        else:
            tail.next = order
            order.prev = tail
        self.tail = order
        self.total += order.leaves
        self.count += 1

    def prepend(self, order: Order) -> None:
        head = self.head
        if head is None:
            self.tail = order
        else:
            head.prev = order
            order.next = head
        self.head = order
        self.total += order.leaves
        self.count += 1

    def unlink(self, order: Order) -> None:
        """Remove ``order`` (its leaves must already be subtracted from ``total``)."""
        prev = order.prev
        nxt = order.next
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = None
        self.count -= 1

    def orders(self) -> list[Order]:
        out = []
        o = self.head
        while o is not None:
            out.append(o)
            o = o.next
        return out
