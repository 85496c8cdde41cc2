"""crossbook's matcher: deterministic price-time order books behind ``apply(command)``.

Pure: no I/O, no clocks, no randomness. See ``matching.engine`` for the rules.
"""

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
    "BUY",
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
