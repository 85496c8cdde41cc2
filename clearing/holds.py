"""Order reservations: side aggregates in the ledger and the per-order hold ledger.

``change_leaves`` is the one place an order's leaves quantity changes after admission
(fill, partial or full cancel, expiry, self-trade decrement, reject, amend): it moves the
ledger's side aggregates, re-reserves the fee for the new leaves, recomputes the row's
charges and moves the order's hold to ``settled`` (fills) or ``released`` (the rest).
A fill settles the hold pro rata (floor), the last one settles what is left, so holds
never go negative and ``placed == released + settled + held`` always.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.orders import Order

if TYPE_CHECKING:
    from clearing.engine import ClearingEngine, InstrumentState

SETTLED = 1
RELEASED = 0


def change_leaves(eng: ClearingEngine, inst: InstrumentState, order: Order, new_leaves: int,
                  how: int, new_price: int | None = None, move_hold: bool = True) -> None:
    """Set the order's leaves (and price); move its reservation and hold accordingly."""
    old = order.leaves
    price = order.price if new_price is None else new_price
    acct = eng.accounts[order.account]
    if not order.liquidation:
        L = inst.ledger
        r = L.row_of[acct.slot]
        m = inst.mult
        fee_new = 0
        if order.fee_ppm and new_leaves > 0:
            fee_new = -((-new_leaves * price * m * order.fee_ppm) // 1_000_000)
        if order.side > 0:
            L.bq[r] += new_leaves - old
            L.bv[r] += new_leaves * price - old * order.price
            L.bf[r] += fee_new - order.fee_res
        else:
            L.sq[r] += new_leaves - old
            L.sv[r] += new_leaves * price - old * order.price
            L.sf[r] += fee_new - order.fee_res
        order.fee_res = fee_new
        eng.refresh_row(inst, r)
    if order.reduce_only:
        key = (order.symbol, order.side)
        acct.ro_leaves[key] = acct.ro_leaves.get(key, 0) + new_leaves - old
        if not acct.ro_leaves[key]:
            del acct.ro_leaves[key]
    order.price = price
    order.leaves = new_leaves
    if move_hold:
        release_part(acct, order, old, new_leaves, how)


def release_part(acct: object, order: Order, old: int, new_leaves: int, how: int) -> None:
    """Move the hold of the ``old - new_leaves`` that left the order (pro rata, floor)."""
    if new_leaves < old and order.hold:
        if new_leaves == 0:
            part = order.hold
        else:
            part = order.hold * (old - new_leaves) // old
        order.hold -= part
        acct.held -= part
        if how == SETTLED:
            acct.settled += part
        else:
            acct.released += part


def forget(eng: ClearingEngine, order: Order) -> None:
    """The order is done (leaves 0): drop it from every index."""
    eng.orders.pop(order.order_id, None)
    eng.accounts[order.account].orders.pop(order.order_id, None)
