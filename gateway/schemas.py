"""Field schemas of crossbook's wire protocol: vocabularies, field kinds, message tables.

This module is data plus tiny checkers; ``gateway.codec`` runs them and ``gateway.protocol``
is what clients import. Rules:

1. One table per message type, one ``Field`` per key. A field knows its own check, whether it
   is required, its default (filled in by ``decode`` when the field is absent) and one line
   of documentation; ``docs/protocol.md``'s field tables are generated from these objects.
2. Checks are plain closures over ``type(v) is ...`` tests (``bool`` is never an ``int``;
   ints stay within int64; strings within their length limits). No schema library: decoding
   sits on the order path.
3. Enumerations travel as short lowercase strings (``"buy"``, ``"gtc"``); the ``*_CODES``
   tables map them to the matcher's integers and are generated from ``matching.enums`` so
   the two cannot drift. FIX ExecType / OrdStatus travel as FIX's own one-character codes.
4. Requests are strict (an unknown field is refused: a typo must not silently change an
   order); in messages from the exchange an unknown field is passed through unchecked, so the
   exchange may add fields within a protocol version. ``encode`` refuses unknown fields in
   every message, so the exchange only ever sends documented fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from matching.enums import EndReason, InstrumentStatus, OrdType, Side, StpMode, TimeInForce
from matching.instrument import MAX_PRICE

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})

# -- limits ------------------------------------------------------------------------------
MAX_MESSAGE_SIZE = 64 * 1024
"""Largest frame, in bytes, either side accepts (checked before unpacking)."""
MAX_STR_LEN = 4096
"""Longest msgpack string the unpacker accepts; fields have their own, smaller limits."""
MAX_ARRAY_LEN = 1024
"""Longest msgpack array the unpacker accepts (e.g. ``items`` of a query reply)."""
MAX_MAP_LEN = 64
"""Most keys in one msgpack map the unpacker accepts."""
MAX_DEPTH = 3
"""Deepest nesting the schemas use: message map -> list -> record map. A container found
where the schema has a scalar is an INVALID_FIELD; msgpack itself stops at 1024 levels."""
MAX_ID_LEN = 64
MAX_TEXT_LEN = 256
MAX_FIGURES = 16

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def _lower_names(enum: Iterable[Any]) -> dict[str, int]:
    return {m.name.lower(): int(m) for m in enum}


# -- vocabularies (wire string -> matcher int) -------------------------------------------
SIDE_CODES: dict[str, int] = _lower_names(Side)
ORD_TYPE_CODES: dict[str, int] = _lower_names(OrdType)
TIF_CODES: dict[str, int] = _lower_names(TimeInForce)
STP_CODES: dict[str, int] = _lower_names(StpMode)
END_REASON_CODES: dict[str, int] = _lower_names(EndReason)
INSTRUMENT_STATUS_CODES: dict[str, int] = _lower_names(InstrumentStatus)

SIDE_NAMES: dict[int, str] = {v: k for k, v in SIDE_CODES.items()}
ORD_TYPE_NAMES: dict[int, str] = {v: k for k, v in ORD_TYPE_CODES.items()}
TIF_NAMES: dict[int, str] = {v: k for k, v in TIF_CODES.items()}
STP_NAMES: dict[int, str] = {v: k for k, v in STP_CODES.items()}
END_REASON_NAMES: dict[int, str] = {v: k for k, v in END_REASON_CODES.items()}
INSTRUMENT_STATUS_NAMES: dict[int, str] = {v: k for k, v in INSTRUMENT_STATUS_CODES.items()}


class ExecType:
    """FIX 4.4 ExecType (150): what an execution report is about."""

    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    REJECTED = "8"
    EXPIRED = "C"
    RESTATED = "D"
    TRADE = "F"


class OrdStatus:
    """FIX 4.4 OrdStatus (39): where the order is after the report."""

    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    REJECTED = "8"
    EXPIRED = "C"


EXEC_TYPE_NAMES: dict[str, str] = {
    v: k.lower() for k, v in vars(ExecType).items() if not k.startswith("_")
}
ORD_STATUS_NAMES: dict[str, str] = {
    v: k.lower() for k, v in vars(OrdStatus).items() if not k.startswith("_")
}
TERMINAL_STATUSES = frozenset(
    {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED}
)
LIQUIDITY = ("maker", "taker", "auction")
CHANNELS = ("positions", "balances", "margin")
QUERIES = ("orders", "trades", "positions", "balances", "margin", "instruments", "option_chain",
           "greeks")
MARGIN_MODES = ("standard", "portfolio")
OPTION_TYPES = ("call", "put")

CXL_REJ_RESPONSE_TO = {1: "cancel", 2: "amend"}
"""FIX CxlRejResponseTo (434): 1 cancel request, 2 cancel/replace (amend) request."""

_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")

Check = Callable[[Any], "str | None"]
"""A field check: ``None`` when the value is fine, else a short description of the problem."""


def _got(v: object) -> str:
    t = type(v)
    if v is None:
        return "nil"
    return {
        bool: "bool",
        int: "int",
        float: "float",
        str: "str",
        bytes: "bin",
        list: "array",
        dict: "map",
    }.get(t, t.__name__)


# -- field kinds -------------------------------------------------------------------------
class Field:
    """One key of a message: its check, required flag, default and documentation.

    ``check`` is the complete check. For the common scalar kinds the codec first tries an
    inline fast path from ``pytype`` and the bounds below and calls ``check`` only when that
    fails (or for the other kinds, whose ``pytype`` is None), to describe the problem.
    """

    __slots__ = (
        "check", "choices", "default", "doc", "hi", "kind", "lo", "max_len", "min_len", "name",
        "nullable", "printable", "pytype", "required",
    )  # fmt: skip

    def __init__(
        self, name: str, kind: str, check: Check, required: bool, default: Any, doc: str
    ) -> None:
        self.name = name
        self.kind = kind
        self.check = check
        self.required = required
        self.default = default
        self.doc = doc
        self.pytype: type | None = None
        self.nullable = False
        self.lo = INT64_MIN
        self.hi = INT64_MAX
        self.min_len = 0
        self.max_len = 0
        self.printable = False
        self.choices: frozenset[str] | None = None

    def fast(self, pytype: type, nullable: bool = False, **bounds: Any) -> Field:
        """Declare the inline fast path (see the class docstring)."""
        self.pytype = pytype
        self.nullable = nullable
        for k, v in bounds.items():
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.kind!r})"


_NO_DEFAULT = object()


def _field(name: str, kind: str, check: Check, doc: str, default: Any = _NO_DEFAULT) -> Field:
    required = default is _NO_DEFAULT
    return Field(name, kind, check, required, None if required else default, doc)


def int_field(
    name: str,
    doc: str,
    *,
    lo: int = INT64_MIN,
    hi: int = INT64_MAX,
    nullable: bool = False,
    default: Any = _NO_DEFAULT,
) -> Field:
    """An integer within ``[lo, hi]`` (never a bool); ``nullable`` also allows nil."""

    def check(v: Any) -> str | None:
        if type(v) is int:
            if lo <= v <= hi:
                return None
            return f"must be within [{lo}, {hi}]"
        if v is None and nullable:
            return None
        return f"expected int, got {_got(v)}"

    if lo == INT64_MIN and hi == INT64_MAX:
        kind = "int"
    elif hi == INT64_MAX:
        kind = f"int ≥ {lo}"
    else:
        kind = f"int {lo}..{hi}"
    f = _field(name, kind + ("|nil" if nullable else ""), check, doc, default)
    return f.fast(int, nullable, lo=lo, hi=hi)


def bool_field(name: str, doc: str, *, default: Any = _NO_DEFAULT) -> Field:
    def check(v: Any) -> str | None:
        return None if type(v) is bool else f"expected bool, got {_got(v)}"

    return _field(name, "bool", check, doc, default).fast(bool)


def str_field(
    name: str,
    doc: str,
    *,
    max_len: int,
    min_len: int = 0,
    printable: bool = False,
    nullable: bool = False,
    default: Any = _NO_DEFAULT,
) -> Field:
    """A UTF-8 string of ``min_len..max_len`` characters; ``printable``: printable ASCII."""

    def check(v: Any) -> str | None:
        if type(v) is str:
            n = len(v)
            if n < min_len or n > max_len:
                return f"length must be within [{min_len}, {max_len}]"
            if printable and not (v.isascii() and v.isprintable()):
                return "must be printable ASCII"
            return None
        if v is None and nullable:
            return None
        return f"expected str, got {_got(v)}"

    kind = f"str {min_len}..{max_len}" + (" ascii" if printable else "")
    f = _field(name, kind + ("|nil" if nullable else ""), check, doc, default)
    return f.fast(str, nullable, min_len=min_len, max_len=max_len, printable=printable)


def enum_field(
    name: str,
    doc: str,
    choices: Iterable[str],
    *,
    nullable: bool = False,
    default: Any = _NO_DEFAULT,
) -> Field:
    """One string out of a closed set."""
    allowed = frozenset(choices)
    listed = "|".join(f'"{c}"' for c in choices)

    def check(v: Any) -> str | None:
        if type(v) is str:
            return None if v in allowed else f"must be one of {listed}"
        if v is None and nullable:
            return None
        return f"expected str, got {_got(v)}"

    f = _field(name, listed + ("|nil" if nullable else ""), check, doc, default)
    return f.fast(str, nullable, choices=allowed)


def decimal_field(
    name: str, doc: str, *, nullable: bool = False, default: Any = _NO_DEFAULT
) -> Field:
    """An exact decimal number as a string, e.g. ``"100.25"`` (no exponent, no '+')."""
    match = _DECIMAL.fullmatch

    def check(v: Any) -> str | None:
        if type(v) is str:
            return None if len(v) <= 48 and match(v) else "must be a decimal string like 100.25"
        if v is None and nullable:
            return None
        return f"expected decimal str, got {_got(v)}"

    return _field(name, "decimal str" + ("|nil" if nullable else ""), check, doc, default)


def list_field(
    name: str, doc: str, item: Field, *, max_items: int, min_items: int = 0, unique: bool = False
) -> Field:
    """An array of scalars, each checked by ``item``'s check."""
    item_check = item.check

    def check(v: Any) -> str | None:
        if type(v) is not list:
            return f"expected array, got {_got(v)}"
        if not min_items <= len(v) <= max_items:
            return f"must hold {min_items}..{max_items} items"
        for i, x in enumerate(v):
            problem = item_check(x)
            if problem:
                return f"item {i}: {problem}"
        if unique and len(set(v)) != len(v):
            return "items must be unique"
        return None

    return _field(name, f"array of {item.kind}", check, doc)


def figures_field(name: str, doc: str) -> Field:
    """A small map of named figures: str keys, int or str values (or nil for none)."""

    def check(v: Any) -> str | None:
        if v is None:
            return None
        if type(v) is not dict:
            return f"expected map, got {_got(v)}"
        if len(v) > MAX_FIGURES:
            return f"at most {MAX_FIGURES} figures"
        for k, x in v.items():
            if type(k) is not str or not 0 < len(k) <= 32:
                return "figure names must be strings of 1..32 characters"
            if type(x) is int:
                if not INT64_MIN <= x <= INT64_MAX:
                    return f"figure {k!r} out of int64 range"
            elif type(x) is not str or len(x) > 64:
                return f"figure {k!r} must be an int or a string of at most 64 characters"
        return None

    return _field(name, "map str→int|str|nil", check, doc, None)


class Record:
    """A nested record schema (an item of a query reply)."""

    __slots__ = ("doc", "fields", "name", "names")

    def __init__(self, name: str, fields: tuple[Field, ...], doc: str) -> None:
        self.name = name
        self.fields = fields
        self.doc = doc
        self.names = frozenset(f.name for f in fields)


def records_field(name: str, doc: str, records: Mapping[str, Record]) -> Field:
    """An array of record maps; which record schema applies is decided by the message's
    ``post`` check (``query_reply`` picks it by its ``query`` field). Here only the shape."""

    def check(v: Any) -> str | None:
        if type(v) is not list:
            return f"expected array, got {_got(v)}"
        for i, x in enumerate(v):
            if type(x) is not dict:
                return f"item {i}: expected map, got {_got(x)}"
        return None

    return _field(name, "array of records", check, doc)


# -- reusable fields ---------------------------------------------------------------------
def _nn(name: str, doc: str, **kw: Any) -> Field:
    """Non-negative int64."""
    return int_field(name, doc, lo=0, **kw)


def _pos(name: str, doc: str, **kw: Any) -> Field:
    """Positive int64."""
    return int_field(name, doc, lo=1, **kw)


def _instrument(doc: str = "instrument symbol, e.g. BTC-PERP", **kw: Any) -> Field:
    return str_field("instrument", doc, min_len=1, max_len=MAX_ID_LEN, printable=True, **kw)


def _clid(doc: str, **kw: Any) -> Field:
    return str_field("client_order_id", doc, min_len=1, max_len=MAX_ID_LEN, printable=True, **kw)


_PRICE_DOC = "price in price units (integer; see the instrument's tick_size and price_decimals)"
_QTY_DOC = "quantity in quantity units (integer; see lot_size and qty_decimals)"

COMMON_FIELDS: tuple[Field, ...] = (
    int_field("v", f"protocol version, {PROTOCOL_VERSION}", lo=0, hi=255),
    str_field("type", "message type", min_len=1, max_len=32),
    _nn(
        "req_id",
        "client-chosen request id; echoed in the direct reply (and in execution reports "
        "that answer this request)",
        default=None,
        nullable=True,
    ),
)
PUSH_FIELDS: tuple[Field, ...] = (
    _nn(
        "seq",
        "session sequence number set by the gateway: +1 per message to this session, so a "
        "gap shows a dropped message (query your orders to resynchronise)",
        default=None,
        nullable=True,
    ),
)
HOP_FIELDS: tuple[str, ...] = (
    "ts_gw_in",
    "ts_clr_in",
    "ts_clr_out",
    "ts_me_in",
    "ts_me_out",
    "ts_gw_out",
)
_HOP_DOCS = {
    "ts_gw_in": "gateway received the request",
    "ts_clr_in": "clearing received it (pre-trade check starts)",
    "ts_clr_out": "clearing released it to the matcher (or rejected it)",
    "ts_me_in": "matcher received it",
    "ts_me_out": "matcher emitted the event behind this report",
    "ts_gw_out": "gateway sent this report",
}


def _hops(required: bool) -> tuple[Field, ...]:
    kw: dict[str, Any] = {} if required else {"default": 0}
    return tuple(
        _nn(n, f"ns since the epoch: {_HOP_DOCS[n]}; 0 = hop not visited", **kw) for n in HOP_FIELDS
    )


def _ts(doc: str = "exchange time of the event, ns since the epoch") -> Field:
    return _nn("ts", doc)


def _reason_fields() -> tuple[Field, ...]:
    return (
        _pos("reason", "reject code, a `Reason` value (table below)"),
        str_field("reason_name", "the code's name, e.g. INSUFFICIENT_MARGIN", max_len=64),
        str_field("text", "human-readable explanation", max_len=MAX_TEXT_LEN),
        figures_field(
            "figures", "the numbers behind the reject (e.g. required/available margin); nil if none"
        ),
    )


# -- records (query reply items; the *_update pushes reuse them) --------------------------
_GREEK_DOCS = {
    "delta": "delta in units of the underlying (an option's per unit of underlying: "
             "-1..1; a perpetual's 1)",
    "gamma": "gamma per 1 quote-currency move of the underlying",
    "vega": "vega in quote currency per 1 vol point",
    "theta": "theta in quote currency per calendar day",
}


def _greek_fields(prefix: str, suffix: str = "", required: bool = False) -> tuple[Field, ...]:
    """delta, gamma, vega, theta as exact decimal strings (``docs/options.md``)."""
    kw: dict[str, Any] = {} if required else {"nullable": True, "default": None}
    return tuple(decimal_field(n, f"{prefix}{d}{suffix}", **kw) for n, d in _GREEK_DOCS.items())


ORDER_RECORD = Record(
    "order",
    (
        _nn("order_id", "exchange order id"),
        str_field(
            "client_order_id",
            "your id for the order ('' for exchange-placed orders)",
            max_len=MAX_ID_LEN,
        ),
        _instrument(),
        enum_field("side", "order side", SIDE_CODES),
        enum_field("ord_type", "order type", ORD_TYPE_CODES),
        enum_field("tif", "time in force", TIF_CODES),
        _pos(
            "price", _PRICE_DOC + " (limit, or protection price of a market order)", nullable=True
        ),
        _nn("order_qty", "current total order quantity (FIX OrderQty)"),
        _nn("cum_qty", "quantity filled so far"),
        _nn("leaves_qty", "quantity still open"),
        decimal_field("avg_px", "average fill price in price units (exact decimal)", nullable=True),
        enum_field("ord_status", "FIX OrdStatus", ORD_STATUS_NAMES),
        bool_field("post_only", "post-only flag", default=False),
        bool_field("reduce_only", "reduce-only flag", default=False),
        enum_field("stp", "self-trade prevention mode", STP_CODES, default="none"),
        _nn("expire_ts", "GTD expiry, ns since the epoch; 0 if none", default=0),
        _nn("ts", "time of the order's last change, ns"),
    ),
    "one order",
)
TRADE_RECORD = Record(
    "trade",
    (
        _pos("trade_id", "exchange trade id (shared by both sides)"),
        _nn("order_id", "your order"),
        str_field("client_order_id", "your id for the order", max_len=MAX_ID_LEN),
        _instrument(),
        enum_field("side", "your side", SIDE_CODES),
        _pos("price", _PRICE_DOC),
        _pos("qty", _QTY_DOC),
        enum_field("liquidity", "maker, taker or auction", LIQUIDITY),
        int_field("fee", "fee charged in minor units of fee_asset (negative = rebate)", default=0),
        str_field("fee_asset", "asset of the fee", max_len=16, default="USD"),
        _nn("ts", "trade time, ns"),
    ),
    "one of your fills",
)
POSITION_RECORD = Record(
    "position",
    (
        _instrument(),
        int_field("qty", "signed position in quantity units: > 0 long, < 0 short"),
        decimal_field("entry_price", "average entry price in price units", nullable=True),
        _pos("mark_price", "current mark price in price units", nullable=True, default=None),
        int_field("unrealized_pnl", "minor units of the settlement asset", default=0),
        int_field("realized_pnl", "minor units of the settlement asset", default=0),
        _nn("initial_margin", "initial margin of this position, minor units", default=0),
        _nn("maintenance_margin", "maintenance margin of this position, minor units", default=0),
        _pos(
            "liquidation_price",
            "estimated liquidation price in price units",
            nullable=True,
            default=None,
        ),
        _nn("ts", "time of the last change, ns"),
        *_greek_fields("this position's ", "; nil when the instrument has no option chain on "
                       "its index"),
    ),
    "one position",
)
BALANCE_RECORD = Record(
    "balance",
    (
        str_field("asset", "asset, e.g. USD", min_len=1, max_len=16),
        int_field("total", "total balance in minor units (ccxt total)"),
        int_field("free", "available for new orders and withdrawals, minor units (ccxt free)"),
        int_field("used", "held for open orders and margin, minor units (ccxt used)"),
        _nn("ts", "time of the last change, ns"),
    ),
    "one asset balance",
)
MARGIN_RECORD = Record(
    "margin",
    (
        str_field("asset", "settlement asset the figures are in", min_len=1, max_len=16),
        int_field("equity", "cash + unrealised PnL, minor units"),
        _nn("initial_margin", "initial margin requirement (IMR), minor units"),
        _nn("maintenance_margin", "maintenance margin requirement (MMR), minor units"),
        int_field("free_collateral", "equity - initial margin - open-order holds, minor units"),
        _nn(
            "margin_ratio_ppm",
            "maintenance_margin / equity in ppm (liquidation at ≥ 1000000); nil when equity ≤ 0",
            nullable=True,
        ),
        _nn("ts", "time of the figures, ns"),
        enum_field("margin_mode", "which mode produced initial_margin and maintenance_margin "
                   "for the option chains' underlyings (docs/options.md)", MARGIN_MODES,
                   default="standard"),
        _nn("standard_initial_margin", "what standard mode would require as initial margin "
            "(positions only, no open orders), minor units; nil without option chains",
            nullable=True, default=None),
        _nn("standard_maintenance_margin", "what standard mode would require as maintenance "
            "margin, minor units; nil without option chains", nullable=True, default=None),
        _nn("scan", "portfolio mode: the weighted worst scenario loss summed over "
            "underlyings (SCAN), minor units", nullable=True, default=None),
        _nn("min_delta", "portfolio mode: the MinDelta floor summed over underlyings, minor "
            "units", nullable=True, default=None),
        str_field("worst_underlying", "portfolio mode: the underlying of the worst scenario",
                  max_len=16, nullable=True, default=None),
        int_field("worst_spot_shock_ppm", "portfolio mode: the worst scenario's spot move, ppm "
                  "(-660000 = -66 %)", nullable=True, default=None),
        enum_field("worst_vol_shock", "portfolio mode: the worst scenario's vol shock",
                   ("up", "down", "none"), nullable=True, default=None),
        _nn("worst_weight_ppm", "portfolio mode: the worst scenario's weight, ppm",
            nullable=True, default=None),
    ),
    "the account's cross-margin figures",
)
INSTRUMENT_RECORD = Record(
    "instrument",
    (
        str_field("symbol", "instrument symbol", min_len=1, max_len=MAX_ID_LEN),
        str_field("kind", "instrument kind, e.g. perpetual", max_len=32, default="perpetual"),
        _pos("tick_size", "price increment in price units"),
        _pos("lot_size", "quantity increment in quantity units"),
        _pos("min_qty", "smallest order quantity"),
        _pos("max_qty", "largest order quantity"),
        int_field(
            "price_decimals", "display price = price units / 10**price_decimals", lo=0, hi=18
        ),
        int_field("qty_decimals", "display qty = quantity units / 10**qty_decimals", lo=0, hi=18),
        enum_field("status", "trading status", INSTRUMENT_STATUS_CODES, default="trading"),
        str_field(
            "settlement_asset", "asset PnL and margin are paid in", max_len=16, default="USD"
        ),
        decimal_field("contract_size", "base asset per quantity unit, e.g. 0.001",
                      nullable=True, default=None),
        str_field("underlying", "options: the chain's underlying, e.g. BTC", max_len=16,
                  nullable=True, default=None),
        _pos("expiry_ts", "options and futures: expiry, ns since the epoch", nullable=True,
             default=None),
        _pos("strike", "options: strike in price units", nullable=True, default=None),
        enum_field("option_type", "options: call or put", OPTION_TYPES, nullable=True,
                   default=None),
    ),
    "one instrument definition",
)
OPTION_RECORD = Record(
    "option",
    (
        str_field("symbol", "native name, e.g. BTC-25DEC26-60000-C", min_len=1,
                  max_len=MAX_ID_LEN),
        str_field("underlying", "the chain's underlying, e.g. BTC", min_len=1, max_len=16),
        _pos("strike", "strike in price units"),
        _pos("expiry_ts", "expiry, ns since the epoch"),
        enum_field("option_type", "call or put", OPTION_TYPES),
        enum_field("status", "trading status", INSTRUMENT_STATUS_CODES, default="trading"),
        bool_field("expired", "settled and delisted", default=False),
        _nn("index", "the index price, price units", nullable=True, default=None),
        decimal_field("forward", "the forward F the series is priced on, price units",
                      nullable=True, default=None),
        _nn("mark_price", "Black-76 value at the mark IV, price units (rounded)",
            nullable=True, default=None),
        _nn("mark_iv_ppm", "mark implied volatility, ppm (600000 = 60 %)", nullable=True,
            default=None),
        _pos("bid", "best bid, price units", nullable=True, default=None),
        _pos("ask", "best ask, price units", nullable=True, default=None),
        _nn("bid_iv_ppm", "the best bid as an implied volatility, ppm (nil: none or outside "
            "the no-arbitrage bounds)", nullable=True, default=None),
        _nn("ask_iv_ppm", "the best ask as an implied volatility, ppm", nullable=True,
            default=None),
        *_greek_fields("per one unit of underlying: "),
        bool_field("stale_iv", "the expiry's smile is stale: orders that add risk are refused",
                   default=False),
        _nn("ts", "time of the figures, ns"),
    ),
    "one option series with its mark, IVs and Greeks",
)
GREEKS_RECORD = Record(
    "greeks",
    (
        str_field("underlying", "e.g. BTC", min_len=1, max_len=16),
        _instrument("the position; nil on the underlying's total row", nullable=True,
                    default=None),
        int_field("qty", "signed position in quantity units (nil on the total row)",
                  nullable=True, default=None),
        *_greek_fields("", required=True),
        _nn("ts", "time of the figures, ns"),
    ),
    "Greeks of one position, or (instrument nil) their sum over one underlying",
)
RECORDS: dict[str, Record] = {
    "orders": ORDER_RECORD,
    "trades": TRADE_RECORD,
    "positions": POSITION_RECORD,
    "balances": BALANCE_RECORD,
    "margin": MARGIN_RECORD,
    "instruments": INSTRUMENT_RECORD,
    "option_chain": OPTION_RECORD,
    "greeks": GREEKS_RECORD,
}


# -- messages ----------------------------------------------------------------------------
PostCheck = Callable[[dict, bool, bool], "tuple[str, str, str] | None"]
"""A cross-field check ``(msg, strict, fill)``: ``None`` or ``(code, field, problem)`` with code
``invalid`` or ``missing``; ``strict`` and ``fill`` apply to nested records."""


class MessageSpec:
    """The table of one message type (common fields included)."""

    __slots__ = ("defaults", "doc", "fields", "name", "post", "request", "required")

    def __init__(
        self,
        name: str,
        request: bool,
        fields: Iterable[Field],
        doc: str,
        post: PostCheck | None = None,
    ) -> None:
        self.name = name
        self.request = request
        self.doc = doc
        self.post = post
        common = COMMON_FIELDS if request else COMMON_FIELDS + PUSH_FIELDS
        own = tuple(fields)
        all_fields = common + own
        self.fields: dict[str, Field] = {f.name: f for f in all_fields}
        if len(self.fields) != len(all_fields):
            raise ValueError(f"duplicate field in {name}")
        self.required = frozenset(f.name for f in all_fields if f.required)
        self.defaults: dict[str, Any] = {f.name: f.default for f in all_fields if not f.required}


def _check_new_order(
    m: dict, strict: bool = True, fill: bool = True
) -> tuple[str, str, str] | None:
    if m.get("price") is None and m.get("ord_type", "limit") == "limit":
        return ("missing", "price", "a limit order needs a price")
    if m.get("tif") == "gtd":
        if not m.get("expire_ts"):
            return ("missing", "expire_ts", "a GTD order needs expire_ts")
    elif m.get("expire_ts"):
        return ("invalid", "expire_ts", "expire_ts is only allowed with tif gtd")
    return None


def _check_order_ref(
    m: dict, strict: bool = True, fill: bool = True
) -> tuple[str, str, str] | None:
    has_id = m.get("order_id") is not None
    has_clid = m.get("client_order_id") is not None
    if has_id and has_clid:
        return ("invalid", "client_order_id", "give order_id or client_order_id, not both")
    if not (has_id or has_clid):
        return ("missing", "order_id", "give order_id or client_order_id")
    return None


def _check_amend(m: dict, strict: bool = True, fill: bool = True) -> tuple[str, str, str] | None:
    problem = _check_order_ref(m, strict, fill)
    if problem:
        return problem
    if m.get("price") is None and m.get("qty") is None:
        return ("missing", "price", "an amend needs a new price and/or qty")
    return None


def check_record(
    record: Record, item: dict, strict: bool, fill: bool
) -> tuple[str, str, str] | None:
    """Check one record map; ``strict`` refuses unknown keys, ``fill`` writes defaults."""
    if strict:
        known = record.names
        for key in item:
            if key not in known:
                return ("invalid", str(key)[:32], "unknown field")
    for f in record.fields:
        if f.name in item:
            problem = f.check(item[f.name])
            if problem:
                return ("invalid", f.name, problem)
        elif f.required:
            return ("missing", f.name, "required")
        elif fill:
            item[f.name] = f.default
    return None


def _check_query_reply(m: dict, strict: bool, fill: bool) -> tuple[str, str, str] | None:
    record = RECORDS[m["query"]]
    for i, item in enumerate(m["items"]):
        problem = check_record(record, item, strict, fill)
        if problem:
            code, name, text = problem
            return (code, f"items[{i}].{name}", text)
    return None


def _record_push(name: str, record: Record, doc: str, extra: Iterable[Field] = ()) -> MessageSpec:
    own = (_nn("account", "your account id"), *record.fields, *extra)
    return MessageSpec(name, False, own, doc)


_OPT_INSTRUMENT = _instrument("limit to one instrument; nil = all", nullable=True, default=None)

MESSAGES: dict[str, MessageSpec] = {}


def _add(*specs: MessageSpec) -> None:
    for spec in specs:
        MESSAGES[spec.name] = spec


# requests ------------------------------------------------------------------------------
_add(
    MessageSpec(
        "logon",
        True,
        (
            bool_field(
                "cancel_on_disconnect",
                "cancel all your open orders when this session ends or its heartbeats stop",
                default=False,
            ),
            int_field(
                "heartbeat_ms",
                "how often you promise to send something; silence for 3 intervals ends the session",
                lo=100,
                hi=60_000,
                default=5_000,
            ),
            str_field("client", "free-form client name/version, for logs", max_len=64, default=""),
        ),
        "Open a session. The account is the one the CURVE key maps to.",
    ),
    MessageSpec("logout", True, (), "End the session (cancel-on-disconnect fires if set)."),
    MessageSpec(
        "heartbeat",
        True,
        (_nn("ts", "your clock, ns; echoed in heartbeat_ack", default=0),),
        "Keep the session alive; answered by heartbeat_ack.",
    ),
    MessageSpec(
        "new_order",
        True,
        (
            _instrument(),
            enum_field("side", "buy or sell", SIDE_CODES),
            enum_field("ord_type", "limit or market", ORD_TYPE_CODES, default="limit"),
            _pos("qty", _QTY_DOC),
            _pos(
                "price",
                _PRICE_DOC + "; required for limit orders, the protection price "
                "(worst acceptable) for market orders",
                hi=MAX_PRICE,
                nullable=True,
                default=None,
            ),
            enum_field("tif", "time in force", TIF_CODES, default="gtc"),
            _clid("your id for the order (ClOrdID), unique among your working orders"),
            bool_field("post_only", "reject instead of taking liquidity", default=False),
            bool_field("reduce_only", "may only reduce your position", default=False),
            enum_field(
                "stp",
                "self-trade prevention mode (the taker's mode decides)",
                STP_CODES,
                default="none",
            ),
            _nn(
                "expire_ts",
                "GTD expiry, ns since the epoch; required with tif gtd, else 0",
                default=0,
            ),
        ),
        "Place an order.",
        _check_new_order,
    ),
    MessageSpec(
        "cancel",
        True,
        (
            _nn("order_id", "exchange order id", nullable=True, default=None),
            _clid("your id for the order", nullable=True, default=None),
            _instrument("optional; if given it must match the order", nullable=True, default=None),
        ),
        "Cancel one order, by order_id or client_order_id (exactly one).",
        _check_order_ref,
    ),
    MessageSpec(
        "amend",
        True,
        (
            _nn("order_id", "exchange order id", nullable=True, default=None),
            _clid("your id for the order", nullable=True, default=None),
            _instrument("optional; if given it must match the order", nullable=True, default=None),
            _pos(
                "price", "new price; nil keeps the price", hi=MAX_PRICE, nullable=True, default=None
            ),
            _pos(
                "qty",
                "new total order quantity (FIX OrderQty, fills included); nil keeps it",
                nullable=True,
                default=None,
            ),
        ),
        "Cancel/replace: change price and/or quantity of a working order. A quantity decrease "
        "at the same price keeps queue priority; anything else goes to the back of the level.",
        _check_amend,
    ),
    MessageSpec(
        "mass_cancel",
        True,
        (_OPT_INSTRUMENT,),
        "Cancel all your open orders, or those of one instrument.",
    ),
    MessageSpec(
        "cancel_all_after",
        True,
        (
            int_field(
                "seconds",
                "cancel all your open orders if no new cancel_all_after arrives within this "
                "many seconds; 0 disables",
                lo=0,
                hi=86_400,
            ),
        ),
        "Dead man's switch: re-send periodically to push the deadline out.",
    ),
    MessageSpec(
        "subscribe",
        True,
        (
            list_field(
                "channels",
                "private channels to add",
                enum_field("channel", "", CHANNELS),
                min_items=1,
                max_items=len(CHANNELS),
                unique=True,
            ),
        ),
        "Receive position/balance/margin update pushes. Execution reports, margin calls and "
        "liquidation notices are always sent.",
    ),
    MessageSpec(
        "unsubscribe",
        True,
        (
            list_field(
                "channels",
                "private channels to drop",
                enum_field("channel", "", CHANNELS),
                min_items=1,
                max_items=len(CHANNELS),
                unique=True,
            ),
        ),
        "Stop update pushes of these channels.",
    ),
    MessageSpec(
        "query_orders",
        True,
        (
            _OPT_INSTRUMENT,
            _nn("order_id", "one order by exchange id", nullable=True, default=None),
            _clid("one order by your id", nullable=True, default=None),
            bool_field(
                "open_only", "only working orders (else recent finished ones too)", default=True
            ),
        ),
        "Your orders; answered by query_reply with query 'orders'.",
    ),
    MessageSpec(
        "query_trades",
        True,
        (
            _OPT_INSTRUMENT,
            _nn("since_ts", "only trades at or after this time, ns", default=0),
            int_field("limit", "most trades to return (newest last)", lo=1, hi=1000, default=100),
        ),
        "Your recent fills; answered by query_reply with query 'trades'.",
    ),
    MessageSpec(
        "query_positions",
        True,
        (_OPT_INSTRUMENT,),
        "Your positions; answered by query_reply with query 'positions'.",
    ),
    MessageSpec(
        "query_balances",
        True,
        (
            str_field(
                "asset", "one asset; nil = all", min_len=1, max_len=16, nullable=True, default=None
            ),
        ),
        "Your balances; answered by query_reply with query 'balances'.",
    ),
    MessageSpec(
        "query_margin",
        True,
        (),
        "Your cross-margin figures; answered by query_reply with query 'margin' (one item).",
    ),
    MessageSpec(
        "query_instruments",
        True,
        (_OPT_INSTRUMENT,),
        "Instrument definitions (tick, lot, decimals); query_reply with query 'instruments'.",
    ),
    MessageSpec(
        "query_option_chain",
        True,
        (
            str_field("underlying", "one underlying, e.g. BTC; nil = every chain", min_len=1,
                      max_len=16, nullable=True, default=None),
            _instrument("one series by native name; nil = all", nullable=True, default=None),
        ),
        "Option series with mark, IVs and Greeks; query_reply with query 'option_chain'.",
    ),
    MessageSpec(
        "query_greeks",
        True,
        (
            str_field("underlying", "one underlying; nil = every chain", min_len=1,
                      max_len=16, nullable=True, default=None),
        ),
        "Your positions' Greeks and their sums per underlying; query_reply with query "
        "'greeks'.",
    ),
)

# replies and pushes --------------------------------------------------------------------
_add(
    MessageSpec(
        "logon_ack",
        False,
        (
            _nn("account", "the account your key maps to"),
            _pos("session_id", "this session's id"),
            int_field("heartbeat_ms", "the heartbeat interval in force", lo=100, hi=60_000),
            bool_field("cancel_on_disconnect", "whether cancel-on-disconnect is on"),
            _ts("gateway time, ns"),
        ),
        "Answer to logon.",
    ),
    MessageSpec("logout_ack", False, (_ts("gateway time, ns"),), "Answer to logout."),
    MessageSpec(
        "heartbeat_ack",
        False,
        (_nn("ts", "your heartbeat's ts, echoed"), _nn("ts_gw", "gateway time, ns")),
        "Answer to heartbeat.",
    ),
    MessageSpec(
        "reject",
        False,
        (
            _nn(
                "account",
                "your account, when the refusal came from past the session layer",
                nullable=True,
                default=None,
            ),
            str_field(
                "ref_type",
                "type of the refused request when known, else nil",
                max_len=32,
                nullable=True,
                default=None,
            ),
            *_reason_fields(),
            str_field(
                "field",
                "the offending field when one is to blame, else nil",
                max_len=80,
                nullable=True,
                default=None,
            ),
            _ts("gateway time, ns"),
        ),
        "A request was refused before it became an order event: malformed or unknown message, "
        "not logged on, rate limited, ... (order rejects are exec_reports, cancel/amend rejects "
        "are cancel_rejects).",
    ),
    MessageSpec(
        "exec_report",
        False,
        (
            _nn("account", "the account the order belongs to (yours)"),
            _nn(
                "exec_id",
                "unique report id: 2 * the matcher event seq (+1 for the maker's "
                "report of a fill); 0 for rejects that never reached the matcher",
            ),
            enum_field("exec_type", "FIX ExecType: what this report is about", EXEC_TYPE_NAMES),
            enum_field("ord_status", "FIX OrdStatus: where the order is now", ORD_STATUS_NAMES),
            _nn("order_id", "exchange order id (OrderID); nil if none was assigned", nullable=True),
            str_field(
                "client_order_id",
                "your ClOrdID ('' for exchange-placed orders)",
                max_len=MAX_ID_LEN,
            ),
            _instrument(nullable=True),
            enum_field("side", "order side (nil only on some rejects)", SIDE_CODES, nullable=True),
            enum_field("ord_type", "order type", ORD_TYPE_CODES, nullable=True, default=None),
            enum_field("tif", "time in force", TIF_CODES, nullable=True, default=None),
            _pos("price", _PRICE_DOC, nullable=True),
            _nn("order_qty", "OrderQty: current total quantity of the order"),
            _nn("cum_qty", "CumQty: filled so far"),
            _nn("leaves_qty", "LeavesQty: still open; 0 on terminal states"),
            decimal_field(
                "avg_px",
                "AvgPx = cum_notional / cum_qty in price units as a decimal string (see "
                "AvgPx below; '0' before any fill); nil if unknown",
                nullable=True,
            ),
            _nn(
                "cum_notional",
                "sum of last_px * last_qty over the order's fills (exact integer); nil if unknown",
                nullable=True,
            ),
            _pos("last_qty", "LastQty of this fill (ExecType F only)", nullable=True, default=None),
            _pos("last_px", "LastPx of this fill (ExecType F only)", nullable=True, default=None),
            _pos(
                "trade_id", "trade id of this fill (ExecType F only)", nullable=True, default=None
            ),
            enum_field(
                "liquidity",
                "maker/taker/auction (ExecType F only)",
                LIQUIDITY,
                nullable=True,
                default=None,
            ),
            enum_field(
                "end_reason",
                "why the order ended or was restated (ExecType 4, C, D)",
                END_REASON_CODES,
                nullable=True,
                default=None,
            ),
            bool_field(
                "kept_priority", "amend kept queue priority (ExecType 5 only)", default=False
            ),
            _nn(
                "reason",
                "reject code, a `Reason` value (ExecType 8 only)",
                nullable=True,
                default=None,
            ),
            str_field(
                "reason_name",
                "the code's name (ExecType 8 only)",
                max_len=64,
                nullable=True,
                default=None,
            ),
            int_field(
                "ord_rej_reason",
                "FIX OrdRejReason for the code (ExecType 8 only)",
                lo=0,
                hi=99,
                nullable=True,
                default=None,
            ),
            str_field(
                "text",
                "explanation (rejects, restatements)",
                max_len=MAX_TEXT_LEN,
                nullable=True,
                default=None,
            ),
            figures_field("figures", "numbers behind a reject, e.g. required/available margin"),
            _ts("TransactTime: exchange time of the event, ns"),
            *_hops(required=True),
        ),
        "FIX 4.4 ExecutionReport (MsgType 8) for one of your orders.",
    ),
    MessageSpec(
        "cancel_reject",
        False,
        (
            _nn("account", "your account"),
            _nn("order_id", "exchange order id when known", nullable=True),
            str_field(
                "client_order_id", "your ClOrdID when known", max_len=MAX_ID_LEN, nullable=True
            ),
            _instrument(nullable=True),
            enum_field(
                "response_to",
                "what was refused: cancel or amend (FIX CxlRejResponseTo 1/2)",
                ("cancel", "amend"),
            ),
            enum_field(
                "ord_status", "FIX OrdStatus of the order now ('8' when unknown)", ORD_STATUS_NAMES
            ),
            int_field(
                "cxl_rej_reason",
                "FIX CxlRejReason: 1 unknown order, 6 duplicate ClOrdID, 99 other",
                lo=0,
                hi=99,
            ),
            *_reason_fields(),
            _ts("exchange time, ns"),
            *_hops(required=False),
        ),
        "FIX OrderCancelReject (MsgType 9): a cancel or amend was refused; the order is unchanged.",
    ),
    MessageSpec(
        "mass_cancel_report",
        False,
        (
            _nn("account", "your account"),
            _instrument("the instrument, or nil for all", nullable=True),
            _nn("canceled", "how many orders were cancelled (each also gets an exec_report)"),
            enum_field("end_reason", "why", END_REASON_CODES),
            _ts("exchange time, ns"),
            *_hops(required=False),
        ),
        "FIX OrderMassCancelReport: answer to mass_cancel (also sent when cancel_all_after or "
        "cancel-on-disconnect fires).",
    ),
    MessageSpec(
        "cancel_all_after_ack",
        False,
        (
            int_field("seconds", "the timeout in force; 0 = disabled", lo=0, hi=86_400),
            _nn("deadline_ts", "when your orders will be cancelled, ns; 0 = disabled"),
            _ts("gateway time, ns"),
        ),
        "Answer to cancel_all_after.",
    ),
    MessageSpec(
        "subscribe_ack",
        False,
        (
            list_field(
                "channels",
                "your channels now",
                enum_field("channel", "", CHANNELS),
                max_items=len(CHANNELS),
                unique=True,
            ),
        ),
        "Answer to subscribe and unsubscribe.",
    ),
    MessageSpec(
        "query_reply",
        False,
        (
            enum_field("query", "which query this answers", QUERIES),
            records_field("items", "the records, schema by query (see Records)", RECORDS),
            bool_field(
                "last", "false when more parts of this reply follow (64 KiB frames)", default=True
            ),
            _ts("exchange time the figures reflect, ns"),
        ),
        "Answer to a query_* request.",
        _check_query_reply,
    ),
    _record_push("position_update", POSITION_RECORD, "A position changed (channel positions)."),
    _record_push("balance_update", BALANCE_RECORD, "A balance changed (channel balances)."),
    _record_push("margin_update", MARGIN_RECORD, "Margin figures changed (channel margin)."),
    MessageSpec(
        "margin_call",
        False,
        (
            _nn("account", "your account"),
            str_field("asset", "settlement asset", min_len=1, max_len=16),
            int_field("equity", "minor units"),
            _nn("initial_margin", "minor units"),
            _nn("maintenance_margin", "minor units"),
            _nn(
                "margin_ratio_ppm",
                "maintenance_margin / equity in ppm; nil when equity ≤ 0",
                nullable=True,
            ),
            str_field("text", "what happens next", max_len=MAX_TEXT_LEN, default=""),
            _ts(),
        ),
        "Your equity fell below the initial margin requirement: add collateral or reduce.",
    ),
    MessageSpec(
        "liquidation_notice",
        False,
        (
            _nn("account", "your account"),
            str_field("stage", "started, order, completed or deleveraged", min_len=1, max_len=32),
            _instrument(nullable=True, default=None),
            int_field("qty", "signed quantity being liquidated", nullable=True, default=None),
            _pos("price", "price of the liquidation order", nullable=True, default=None),
            _nn("order_id", "the liquidation order", nullable=True, default=None),
            int_field("equity", "minor units", nullable=True, default=None),
            _nn("maintenance_margin", "minor units", nullable=True, default=None),
            str_field("text", "explanation", max_len=MAX_TEXT_LEN, default=""),
            _ts(),
        ),
        "Your account is being liquidated (one notice per stage).",
    ),
)

REQUEST_TYPES = frozenset(n for n, s in MESSAGES.items() if s.request)
PUSH_TYPES = frozenset(n for n, s in MESSAGES.items() if not s.request)
QUERY_TYPES = frozenset(n for n in REQUEST_TYPES if n.startswith("query_"))
"""The requests clearing answers from its state with ``query_reply`` frames."""


# -- documentation -----------------------------------------------------------------------
def _field_rows(fields: Iterable[Field]) -> list[str]:
    rows = []
    for f in fields:
        if f.required:
            presence = "required"
        else:
            presence = f"default `{_show(f.default)}`"
        kind, doc = f.kind.replace("|", "\\|"), f.doc.replace("|", "\\|")
        rows.append(f"| `{f.name}` | {kind} | {presence} | {doc} |")
    return rows


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    if v is True or v is False:
        return str(v).lower()
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def field_table(name: str) -> str:
    """Markdown table of a message's own fields (common fields are documented once)."""
    spec = MESSAGES[name]
    common = {f.name for f in COMMON_FIELDS + PUSH_FIELDS}
    head = ["| field | type | presence | meaning |", "|---|---|---|---|"]
    own = [f for f in spec.fields.values() if f.name not in common]
    if not own:
        return "(no fields beyond the common ones)"
    return "\n".join(head + _field_rows(own))


def record_table(name: str) -> str:
    head = ["| field | type | presence | meaning |", "|---|---|---|---|"]
    return "\n".join(head + _field_rows(RECORDS[name].fields))


def common_table() -> str:
    head = ["| field | type | presence | meaning |", "|---|---|---|---|"]
    rows = _field_rows(COMMON_FIELDS) + [
        r + " (exchange → client only)" for r in _field_rows(PUSH_FIELDS)
    ]
    return "\n".join(head + rows)
