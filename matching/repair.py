"""Book surgery for replays: change resting orders directly, outside the command stream.

A replay of historical order flow (``clients.replay``) must sometimes make the engine's
book agree with a record it cannot fully explain: orders older than the file, liquidity
that slides into view from beyond the recorded depth, a fill that the matcher put on a
different resting order than the one the record names. These functions do exactly that
and nothing else.

Rules of this module:

1. Pure and deterministic like the engine: no I/O, no clock, no randomness.
2. Every function leaves the engine's invariants intact, so ``engine.validate()`` passes
   after any call: order-id index, account index, level ``total``/``count``, FIFO links,
   cached best levels, ``cum + leaves == qty`` on every order, book not crossed outside a
   call auction.
3. Surgery emits no events and takes no sequence number: it is not exchange activity but a
   correction of the replay's picture of the book. Callers that publish events must say so.
4. Misuse (an order that is not resting, a quantity out of range, a resting order that
   would cross the book) raises ``ValueError`` and leaves the state untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from matching.book import OrderBook
from matching.commands import NewOrder
from matching.engine import MatchingEngine
from matching.enums import BUY, InstrumentStatus, TimeInForce
from matching.order import Order, PriceLevel

_GTC = int(TimeInForce.GTC)


def _book(engine: MatchingEngine, symbol: str) -> OrderBook:
    book = engine.books.get(symbol)
    if book is None:
        raise ValueError(f"unknown instrument {symbol!r}")
    return book


def _levels(book: OrderBook, side: int) -> dict[int, PriceLevel]:
    return book.bids if side == BUY else book.asks


def _would_cross(book: OrderBook, side: int, price: int) -> bool:
    if book.status == InstrumentStatus.AUCTION:
        return False
    if side == BUY:
        return book.best_ask is not None and book.best_ask.price <= price
    return book.best_bid is not None and book.best_bid.price >= price


def is_resting(engine: MatchingEngine, order: Order) -> bool:
    """Whether ``order`` (this very object) is live in the engine's indexes."""
    return engine.orders.get(order.order_id) is order


def _index(engine: MatchingEngine, order: Order) -> None:
    engine.orders[order.order_id] = order
    key = order.cmd.client_order_id or order.order_id
    acct = engine.accounts.get(order.account)
    if acct is None:
        engine.accounts[order.account] = {key: order}
    else:
        acct[key] = order


def _unindex(engine: MatchingEngine, order: Order) -> None:
    del engine.orders[order.order_id]
    del engine.accounts[order.account][order.cmd.client_order_id or order.order_id]


def _drop_if_empty(book: OrderBook, side: int, level: PriceLevel) -> None:
    if level.count == 0:
        book.remove_level(side, level)


def add_resting(
    engine: MatchingEngine,
    symbol: str,
    order_id: int,
    account: int,
    side: int,
    price: int,
    qty: int,
    ts: int,
    *,
    front: bool = False,
) -> Order:
    """Rest a GTC limit order at the back (or ``front``) of its level without matching.

    The order is indexed like any accepted order (id index, account index) so later
    commands (cancel, amend, a taker) treat it as ordinary liquidity.
    """
    book = _book(engine, symbol)
    if side != 1 and side != -1:
        raise ValueError(f"side must be +1 or -1, not {side!r}")
    if type(qty) is not int or qty <= 0 or type(price) is not int or price <= 0:
        raise ValueError(f"price and qty must be positive integers ({price!r}, {qty!r})")
    if type(order_id) is not int or order_id in engine.orders:
        raise ValueError(f"order id {order_id!r} is not free")
    if _would_cross(book, side, price):
        raise ValueError(f"a resting order at {price} on side {side} would cross the book")
    cmd = NewOrder(ts, symbol, order_id, account, side, qty, price, tif=_GTC)
    order = Order(cmd, order_id, account, side, price, qty)
    level = book.level_for_insert(side, price)
    if front:
        level.prepend(order)
    else:
        level.append(order)
    _index(engine, order)
    return order


def reduce_order(engine: MatchingEngine, symbol: str, order: Order, qty: int) -> int:
    """Take ``qty`` shares off a resting order as if cancelled (``qty`` and ``leaves`` shrink).

    The order keeps its queue position; at zero leaves it leaves the book and every index.
    Returns the quantity still resting on the order.
    """
    book = _book(engine, symbol)
    if not is_resting(engine, order):
        raise ValueError(f"order {order.order_id} is not resting")
    if type(qty) is not int or qty <= 0 or qty > order.leaves:
        raise ValueError(f"cannot take {qty!r} from order {order.order_id} ({order.leaves} left)")
    level = _levels(book, order.side)[order.price]
    order.leaves -= qty
    order.qty -= qty
    level.total -= qty
    if order.leaves == 0:
        level.unlink(order)
        _unindex(engine, order)
        _drop_if_empty(book, order.side, level)
    return order.leaves


def take_from_level(
    engine: MatchingEngine,
    symbol: str,
    side: int,
    price: int,
    qty: int,
    *,
    prefer: Callable[[Order], bool] | None = None,
    from_back: bool = False,
) -> int:
    """Take up to ``qty`` shares from the level at ``price`` as cancels; return what was taken.

    Orders for which ``prefer`` is true give first, then the others; within each group
    the walk runs from the front of the queue, or from the back with ``from_back``.
    """
    book = _book(engine, symbol)
    if type(qty) is not int or qty < 0:
        raise ValueError(f"quantity must be a non-negative integer, not {qty!r}")
    level = _levels(book, side).get(price)
    if level is None or qty == 0:
        return 0
    queue = level.orders()
    if from_back:
        queue.reverse()
    if prefer is not None:
        queue = [o for o in queue if prefer(o)] + [o for o in queue if not prefer(o)]
    taken = 0
    for order in queue:
        if taken == qty:
            break
        q = min(order.leaves, qty - taken)
        reduce_order(engine, symbol, order, q)
        taken += q
    return taken


def remove_level(engine: MatchingEngine, symbol: str, side: int, price: int) -> int:
    """Drop every order resting at ``price`` on ``side``; return the quantity removed."""
    book = _book(engine, symbol)
    level = _levels(book, side).get(price)
    if level is None:
        return 0
    total = level.total
    for order in level.orders():
        level.unlink(order)
        _unindex(engine, order)
    level.total = 0
    book.remove_level(side, level)
    return total


def replace_order(
    engine: MatchingEngine, symbol: str, order: Order, order_id: int, account: int, ts: int
) -> Order:
    """Put a new order holding ``order``'s leaves in its exact queue place; drop ``order``.

    The level's total and count do not change. Returns the new order.
    """
    book = _book(engine, symbol)
    if not is_resting(engine, order):
        raise ValueError(f"order {order.order_id} is not resting")
    if type(order_id) is not int or order_id in engine.orders:
        raise ValueError(f"order id {order_id!r} is not free")
    level = _levels(book, order.side)[order.price]
    cmd = NewOrder(ts, symbol, order_id, account, order.side, order.leaves, order.price, tif=_GTC)
    new = Order(cmd, order_id, account, order.side, order.price, order.leaves)
    prev, nxt = order.prev, order.next
    new.prev, new.next = prev, nxt
    if prev is None:
        level.head = new
    else:
        prev.next = new
    if nxt is None:
        level.tail = new
    else:
        nxt.prev = new
    order.prev = order.next = None
    _unindex(engine, order)
    _index(engine, new)
    return new


def move_fill(
    engine: MatchingEngine, symbol: str, from_order: Order, to_order: Order, qty: int
) -> None:
    """Move ``qty`` of an executed quantity from ``from_order`` onto resting ``to_order``.

    ``from_order`` gets the shares back (``cum`` down, ``leaves`` up). If the fill had taken
    it out of the book, it goes back at the *front* of its level, where the matcher took it
    from; undo several fills of one sweep in reverse order and the queue is restored as it
    was. ``to_order`` is executed by ``qty`` instead (``cum`` up, ``leaves`` down) and leaves
    the book at zero. Both orders must be on the same side.
    """
    book = _book(engine, symbol)
    if from_order is to_order:
        raise ValueError("cannot move a fill onto the same order")
    if not is_resting(engine, to_order):
        raise ValueError(f"order {to_order.order_id} is not resting")
    if from_order.side != to_order.side:
        raise ValueError("orders are on different sides")
    if type(qty) is not int or qty <= 0 or qty > from_order.cum or qty > to_order.leaves:
        raise ValueError(
            f"cannot move {qty!r}: order {from_order.order_id} executed {from_order.cum}, "
            f"order {to_order.order_id} has {to_order.leaves} left"
        )
    back_in = not is_resting(engine, from_order)
    if back_in:
        if from_order.order_id in engine.orders:
            raise ValueError(f"order id {from_order.order_id} is live on another order")
        if _would_cross(book, from_order.side, from_order.price):
            raise ValueError(f"order {from_order.order_id} would cross the book")
    levels = _levels(book, from_order.side)
    # 1. give the shares back (re-inserting at the front if the fill had removed it)
    from_order.cum -= qty
    from_order.leaves += qty
    if back_in:
        from_order.prev = from_order.next = None
        level = book.level_for_insert(from_order.side, from_order.price)
        level.prepend(from_order)  # adds leaves to total
        _index(engine, from_order)
    else:
        levels[from_order.price].total += qty
    # 2. execute the named order instead
    to_level = levels[to_order.price]
    to_order.cum += qty
    to_order.leaves -= qty
    to_level.total -= qty
    if to_order.leaves == 0:
        to_level.unlink(to_order)
        _unindex(engine, to_order)
        _drop_if_empty(book, to_order.side, to_level)


def set_level_total(
    engine: MatchingEngine,
    symbol: str,
    side: int,
    price: int,
    total: int,
    new_order: Callable[[], tuple[int, int]],
    ts: int,
    *,
    prefer: Callable[[Order], bool] | None = None,
) -> int:
    """Make the level at ``price`` hold exactly ``total``; return the signed change.

    Missing volume is added as one order at the back of the level, its id and account
    taken from ``new_order()``; surplus is taken as by ``take_from_level`` from the back
    (the most recent orders go first), ``prefer``-ed orders before the others.
    """
    book = _book(engine, symbol)
    if type(total) is not int or total < 0:
        raise ValueError(f"level total must be a non-negative integer, not {total!r}")
    level = _levels(book, side).get(price)
    have = 0 if level is None else level.total
    if total > have:
        order_id, account = new_order()
        add_resting(engine, symbol, order_id, account, side, price, total - have, ts)
    elif total < have:
        take_from_level(engine, symbol, side, price, have - total, prefer=prefer, from_back=True)
    return total - have
