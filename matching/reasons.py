"""Reject reasons the engines decide: one closed enumeration for matching and clearing.

Codes are grouped by the stage that decides them, as in exchange-core's result codes:
2xxx clearing (margin, risk policy), 3xxx matching (instrument, order shape, book state),
and two 1xxx codes the exchange core decides (``TOO_MANY_OPEN_ORDERS``,
``DUPLICATE_REQUEST``: open-order limits and client order ids are journaled state; their
numbers predate the core and never change). The codes only the gateway decides (wire
format, sessions, rate limits) live in ``gateway.reasons``, whose ``Reason`` adds them to
these for the wire. The enumeration lives in ``matching`` because it is the lowest layer
every other package may import.
"""

from __future__ import annotations

from enum import IntEnum


class ReasonText:
    """What every reason enumeration says about its members (``gateway.reasons`` too)."""

    name: str
    value: int

    @property
    def stage(self) -> str:
        """The stage that owns this code: ``gateway``, ``clearing`` or ``matching``."""
        return {1: "gateway", 2: "clearing", 3: "matching"}[self.value // 1000]

    @property
    def text(self) -> str:
        """A human-readable default text, e.g. ``off tick price``."""
        return self.name.lower().replace("_", " ")


class Reason(ReasonText, IntEnum):
    """Why a request was refused. Values are stable wire codes: never renumber."""

    # -- the exchange core: 1xxx (numbered with the gateway's codes, gateway.reasons) --
    TOO_MANY_OPEN_ORDERS = 1010
    DUPLICATE_REQUEST = 1011

    # -- clearing: 2xxx --------------------------------------------------------------
    INSUFFICIENT_MARGIN = 2001
    REDUCE_ONLY_WOULD_INCREASE = 2002
    PRICE_OUTSIDE_STATIC_BAND = 2003
    UNKNOWN_ACCOUNT = 2004
    INSUFFICIENT_COLLATERAL = 2005
    SETTLEMENT_STOPPED = 2006
    ACCOUNT_IN_LIQUIDATION = 2007
    NO_MARK_PRICE = 2008
    UNKNOWN_ASSET = 2009
    INVALID_AMOUNT = 2010
    UNKNOWN_CLEARING_INSTRUMENT = 2011
    MARKET_HALTED = 2012
    INVALID_BREAKER_INPUT = 2013
    INSTRUMENT_EXPIRED = 2014
    UNKNOWN_CLEARING_ORDER = 2015
    INVALID_REQUEST = 2016
    POSITION_LIMIT_EXCEEDED = 2017
    ACCOUNT_EXISTS = 2018

    # -- matching: 3xxx --------------------------------------------------------------
    UNKNOWN_INSTRUMENT = 3001
    INVALID_PRICE = 3002
    OFF_TICK_PRICE = 3003
    INVALID_QUANTITY = 3004
    OFF_LOT_QUANTITY = 3005
    QUANTITY_TOO_SMALL = 3006
    QUANTITY_TOO_LARGE = 3007
    INVALID_SIDE = 3008
    INVALID_ORDER_TYPE = 3009
    INVALID_TIME_IN_FORCE = 3010
    INVALID_EXPIRE_TIME = 3011
    DUPLICATE_ORDER_ID = 3012
    DUPLICATE_CLIENT_ORDER_ID = 3013
    UNKNOWN_ORDER = 3014
    NOT_ORDER_OWNER = 3015
    INSTRUMENT_HALTED = 3016
    POST_ONLY_WOULD_TAKE = 3017
    PRICE_OUTSIDE_BAND = 3018
    MISSING_PROTECTION_PRICE = 3019
    INVALID_AMEND = 3020
    INVALID_STP_MODE = 3021
    INVALID_ACCOUNT = 3022
    INSTRUMENT_EXISTS = 3023
    UNKNOWN_COMMAND = 3024
    NOT_IN_AUCTION = 3025
    NOT_ALLOWED_IN_AUCTION = 3026
    INVALID_BAND = 3027
    INVALID_CLIENT_ORDER_ID = 3028
    INVALID_TIMESTAMP = 3029
    INVALID_FLAG = 3030
    INVALID_ORDER_ID = 3031
    BOOK_STILL_CROSSED = 3032
    INVALID_INSTRUMENT = 3033
