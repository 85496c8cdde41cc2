"""The boundary check of the validating entry point: is a command well formed?

``MatchingEngine.apply`` runs these checks before a command reaches the engine's handlers;
``apply_trusted`` and ``apply_batch`` skip them, for commands the exchange core built
from requests it has already validated. What a trusted command must satisfy is exactly
what passes here: every field of its exact type (``True`` is not an ``int``), enumerated
fields within their enumeration, ids and timestamps integers, a client order id a ``str``
of at most 64 characters, a price in ``1..MAX_PRICE``.

Rules of this module:

1. Pure functions of the command and the instrument; nothing here reads or changes
   engine state, so a check can run anywhere (the core may run it at its own boundary).
2. The order of the checks is the order of the reject reasons: a command with several
   faults is refused for the first one listed here, as it always was.
3. Checks that depend on the instrument's definition (lot, size limits, tick) or on the
   engine's state (halt, duplicates, band, post-only) stay in the engine's handlers too,
   so a trusted command is still refused for those.
"""

from __future__ import annotations

from matching.book import OrderBook
from matching.commands import CancelOrder, NewOrder
from matching.enums import EndReason, OrdType, StpMode, TimeInForce
from matching.instrument import MAX_PRICE
from matching.reasons import Reason

MAX_CLIENT_ORDER_ID = 64

_LIMIT = int(OrdType.LIMIT)
_MARKET = int(OrdType.MARKET)
_GTD = int(TimeInForce.GTD)
_TIFS = frozenset(int(t) for t in TimeInForce)
_STP_MODES = frozenset(int(m) for m in StpMode)
END_REASONS = frozenset(int(r) for r in EndReason)
_USER_CANCEL = int(EndReason.USER_CANCEL)


def new_order_problem(cmd: NewOrder, books: dict[str, OrderBook]) -> Reason | None:
    """The reason ``cmd`` is refused before it reaches the book, or None if well formed."""
    (ts, sym, oid, acct, side, qty, price, otype, tif, clid, post_only, reduce_only, stp,
     expire_ts) = cmd  # fmt: skip
    try:
        book = books[sym]
    except (KeyError, TypeError):
        return Reason.UNKNOWN_INSTRUMENT
    # enumerated fields: an int, or an IntEnum member, but not a bool (True == 1) and not
    # a float (1.0 == 1); checked inline, a helper call per field costs a fifth of apply
    if type(oid) is not int:
        return Reason.INVALID_ORDER_ID
    if type(acct) is not int:
        return Reason.INVALID_ACCOUNT
    if (side != 1 and side != -1) or type(side) is bool or not isinstance(side, int):
        return Reason.INVALID_SIDE
    if (otype != _LIMIT and otype != _MARKET) or type(otype) is bool or not isinstance(
        otype, int
    ):
        return Reason.INVALID_ORDER_TYPE
    if type(tif) is bool or not isinstance(tif, int) or tif not in _TIFS:
        return Reason.INVALID_TIME_IN_FORCE
    lot, min_qty, max_qty, tick = book.limits
    if type(qty) is not int or qty <= 0:
        return Reason.INVALID_QUANTITY
    if qty % lot:
        return Reason.OFF_LOT_QUANTITY
    if qty < min_qty:
        return Reason.QUANTITY_TOO_SMALL
    if qty > max_qty:
        return Reason.QUANTITY_TOO_LARGE
    if price is None and otype == _MARKET:
        return Reason.MISSING_PROTECTION_PRICE
    if type(price) is not int or price <= 0 or price > MAX_PRICE:
        return Reason.INVALID_PRICE
    if price % tick:
        return Reason.OFF_TICK_PRICE
    if type(clid) is not str or len(clid) > MAX_CLIENT_ORDER_ID:
        return Reason.INVALID_CLIENT_ORDER_ID
    if type(post_only) is not bool or type(reduce_only) is not bool:
        return Reason.INVALID_FLAG
    if type(stp) is bool or not isinstance(stp, int) or stp not in _STP_MODES:
        return Reason.INVALID_STP_MODE
    if type(expire_ts) is not int or (tif == _GTD and expire_ts <= ts):
        return Reason.INVALID_EXPIRE_TIME
    return None


def book_problem(cmd: NewOrder, book: OrderBook) -> Reason | None:
    """What the instrument's definition refuses in a well-formed ``cmd`` (the trusted path).

    The same checks, in the same order, as the instrument-dependent part of
    ``new_order_problem``; the trusted handler calls this only once a cheap combined test
    has found something wrong.
    """
    lot, min_qty, max_qty, tick = book.limits
    qty, price = cmd.qty, cmd.price
    if qty % lot:
        return Reason.OFF_LOT_QUANTITY
    if qty < min_qty:
        return Reason.QUANTITY_TOO_SMALL
    if qty > max_qty:
        return Reason.QUANTITY_TOO_LARGE
    if price % tick:
        return Reason.OFF_TICK_PRICE
    if cmd.tif == _GTD and cmd.expire_ts <= cmd.ts:
        return Reason.INVALID_EXPIRE_TIME
    return None


def well_formed_cancel(cmd: CancelOrder) -> CancelOrder | None:
    """None if the order id or the account is not an int (a float or a bool would find an
    order); else ``cmd``, its reason made USER_CANCEL if it is not an ``EndReason``."""
    if type(cmd.order_id) is not int or type(cmd.account) is not int:
        return None
    reason = cmd.reason
    # a list is unhashable: the type checks come first
    if type(reason) is bool or not isinstance(reason, int) or reason not in END_REASONS:
        return cmd._replace(reason=_USER_CANCEL)
    return cmd
