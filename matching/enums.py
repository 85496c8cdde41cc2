"""Small closed vocabularies shared by commands, events and books.

Each is an ``IntEnum`` so that it travels as a plain integer on the wire and compares
as an ``int`` in the hot path. Values follow FIX 4.4 where FIX has one (Side is the
exception: +1 buy / -1 sell makes signed position arithmetic direct).
"""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        return Side(-self.value)


class OrdType(IntEnum):
    """FIX OrdType (40): 1 market, 2 limit."""

    MARKET = 1
    LIMIT = 2


class TimeInForce(IntEnum):
    """FIX TimeInForce (59) values for the ones we support."""

    GTC = 1
    IOC = 3
    FOK = 4
    GTD = 6


class StpMode(IntEnum):
    """Self-trade prevention, decided by the taker's mode (Binance names)."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3
    DECREMENT = 4


class EndReason(IntEnum):
    """Why an order left the book without filling (OrderCanceled / OrderExpired)."""

    USER_CANCEL = 1
    MASS_CANCEL = 2
    CANCEL_ON_DISCONNECT = 3
    RISK = 4
    LIQUIDATION = 5
    IOC_REMAINDER = 10
    FOK_NOT_FILLABLE = 11
    GTD_EXPIRED = 12
    SELF_TRADE = 13
    PRICE_BAND = 14
    NO_LIQUIDITY = 15
    REDUCE_ONLY = 16


class InstrumentStatus(IntEnum):
    TRADING = 1
    HALTED = 2
    AUCTION = 3


class CxlRejResponseTo(IntEnum):
    """FIX CxlRejResponseTo (434)."""

    CANCEL = 1
    AMEND = 2


BUY = 1
SELL = -1
