"""crossbook's matcher: deterministic price-time order books behind ``apply(command)``.

Pure: no I/O, no clocks, no randomness. See ``matching.engine`` for the rules.

``BUILD`` says which build of the hot modules (order, book, engine) runs: ``"compiled"``
(Cython, from the same ``.py`` files) or ``"pure: <why>"``; ``COMPILED`` is the same as a
bool. See ``matching._compiled``.
"""

from matching._compiled import select as _select

BUILD = _select()
COMPILED = BUILD == "compiled"

# ruff: noqa: E402  (the build is chosen before the modules below load)
from matching.book import OrderBook
from matching.checksum import book_checksum
from matching.commands import (
    AddInstrument,
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Halt,
    MassCancel,
    NewOrder,
    OpenAuction,
    Resume,
    SetBand,
)
from matching.engine import MatchingEngine
from matching.enums import (
    BUY,
    SELL,
    EndReason,
    InstrumentStatus,
    OrdType,
    Side,
    StpMode,
    TimeInForce,
)
from matching.events import (
    AuctionUncrossed,
    BandChanged,
    CancelRejected,
    CommandRejected,
    Fill,
    InstrumentAdded,
    InstrumentStatusChanged,
    LevelChanged,
    MassCancelDone,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    SelfTradePrevented,
)
from matching.instrument import Instrument
from matching.reasons import Reason

__all__ = [
    "BUILD",
    "BUY",
    "COMPILED",
    "SELL",
    "AddInstrument",
    "AdvanceTime",
    "AmendOrder",
    "AuctionUncrossed",
    "BandChanged",
    "CancelOrder",
    "CancelRejected",
    "CommandRejected",
    "EndReason",
    "Fill",
    "Halt",
    "Instrument",
    "InstrumentAdded",
    "InstrumentStatus",
    "InstrumentStatusChanged",
    "LevelChanged",
    "MassCancel",
    "MassCancelDone",
    "MatchingEngine",
    "NewOrder",
    "OpenAuction",
    "OrdType",
    "OrderAccepted",
    "OrderAmended",
    "OrderBook",
    "OrderCanceled",
    "OrderExpired",
    "OrderRejected",
    "Reason",
    "Resume",
    "SelfTradePrevented",
    "SetBand",
    "Side",
    "StpMode",
    "TimeInForce",
    "book_checksum",
]
