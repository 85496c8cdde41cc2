"""Typed results with ccxt's field names: orders, trades, positions, balances, books, tickers.

Each record is a frozen, slotted dataclass whose attribute names are ccxt's unified field
names (``clientOrderId``, ``timeInForce``, ``unrealizedPnl``...), so a bot reads
``order.filled`` as it would read ``order["filled"]`` from ccxt; ``to_ccxt()`` gives the
ccxt dict itself (numbers as floats, as ccxt returns them, and the exchange's message as
``info``). Prices and amounts are ``Decimal`` in instrument units, money ``Decimal`` in
whole units of its asset, times integer milliseconds (``timestamp``) as in ccxt.

The ``*_from_*`` builders are the only place wire integers become these records; they
take the ``Market`` of the instrument (``clients.sdk.markets``) and never guess a scale.

Status vocabulary (ccxt): FIX OrdStatus New/Partially filled -> ``open``, Filled ->
``closed``, Canceled -> ``canceled``, Expired -> ``expired``, Rejected -> ``rejected``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from clients.sdk.markets import ASSET_DECIMALS, Market, money

ORDER_STATUS = {
    "0": "open",
    "1": "open",
    "2": "closed",
    "4": "canceled",
    "C": "expired",
    "8": "rejected",
}

Level = tuple[Decimal, Decimal]


def iso8601(ms: int | None) -> str | None:
    """``1767225600123`` -> ``"2026-01-01T00:00:00.123Z"`` (ccxt's ``datetime``)."""
    if ms is None:
        return None
    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ns_to_ms(ns: int | None) -> int | None:
    return None if not ns else ns // 1_000_000


def _num(v: Any) -> Any:
    """Decimal -> float for ``to_ccxt`` (recursively through lists, tuples and dicts)."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, list | tuple):
        return [_num(x) for x in v]
    if isinstance(v, dict):
        return {k: _num(x) for k, x in v.items()}
    return v


class _Record:
    """``to_ccxt()`` shared by the records: every field except ``info`` as floats, then info."""

    __slots__ = ()

    def to_ccxt(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name.startswith("_"):
                continue
            value = getattr(self, f.name)
            out[f.name] = dict(value) if f.name == "info" else _num(value)
        return out


@dataclass(frozen=True, slots=True)
class Order(_Record):
    id: str | None
    clientOrderId: str
    timestamp: int | None
    datetime: str | None
    lastTradeTimestamp: int | None
    status: str
    symbol: str
    type: str | None
    timeInForce: str | None
    side: str | None
    price: Decimal | None
    average: Decimal | None
    amount: Decimal
    filled: Decimal
    remaining: Decimal
    cost: Decimal | None
    postOnly: bool = False
    reduceOnly: bool = False
    fee: dict[str, Any] | None = None
    trades: tuple[Trade, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class Trade(_Record):
    id: str
    order: str | None
    clientOrderId: str | None
    timestamp: int | None
    datetime: str | None
    symbol: str
    side: str | None
    price: Decimal
    amount: Decimal
    cost: Decimal
    takerOrMaker: str | None
    type: str | None = None
    fee: dict[str, Any] | None = None
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Position(_Record):
    symbol: str
    side: str | None
    contracts: Decimal
    contractSize: Decimal
    entryPrice: Decimal | None
    markPrice: Decimal | None
    notional: Decimal | None
    unrealizedPnl: Decimal
    realizedPnl: Decimal
    initialMargin: Decimal
    maintenanceMargin: Decimal
    liquidationPrice: Decimal | None
    timestamp: int | None
    datetime: str | None
    marginMode: str = "cross"
    hedged: bool = False
    leverage: Decimal | None = None
    collateral: Decimal | None = None
    marginRatio: Decimal | None = None
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    delta: Decimal | None = None
    """the position's Greeks (positions on an option chain's index; None otherwise):
    delta in units of the underlying, gamma per 1 quote-currency move, vega in quote
    currency per vol point, theta in quote currency per day"""
    gamma: Decimal | None = None
    vega: Decimal | None = None
    theta: Decimal | None = None

    @property
    def signed_contracts(self) -> Decimal:
        """The position as one signed number: > 0 long, < 0 short."""
        return -self.contracts if self.side == "short" else self.contracts


@dataclass(frozen=True, slots=True)
class Balance(_Record):
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class Balances:
    """ccxt's balance structure: ``balances["USD"].free``, ``balances.free["USD"]``."""

    assets: Mapping[str, Balance]
    timestamp: int | None = None
    info: Sequence[Mapping[str, Any]] = field(default_factory=tuple, compare=False, repr=False)

    def __getitem__(self, asset: str) -> Balance:
        return self.assets[asset]

    def __contains__(self, asset: object) -> bool:
        return asset in self.assets

    def __iter__(self) -> Iterator[str]:
        return iter(self.assets)

    @property
    def free(self) -> dict[str, Decimal]:
        return {a: b.free for a, b in self.assets.items()}

    @property
    def used(self) -> dict[str, Decimal]:
        return {a: b.used for a, b in self.assets.items()}

    @property
    def total(self) -> dict[str, Decimal]:
        return {a: b.total for a, b in self.assets.items()}

    def to_ccxt(self) -> dict[str, Any]:
        out: dict[str, Any] = {a: b.to_ccxt() for a, b in self.assets.items()}
        out["free"] = _num(self.free)
        out["used"] = _num(self.used)
        out["total"] = _num(self.total)
        out["timestamp"] = self.timestamp
        out["datetime"] = iso8601(self.timestamp)
        out["info"] = [dict(i) for i in self.info]
        return out


@dataclass(frozen=True, slots=True)
class Margin(_Record):
    """Account-level margin figures (not a ccxt structure; ccxt folds some into balances)."""

    asset: str
    equity: Decimal
    initialMargin: Decimal
    maintenanceMargin: Decimal
    freeCollateral: Decimal
    marginRatio: Decimal | None
    timestamp: int | None
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    marginMode: str = "standard"
    """which mode produced initialMargin and maintenanceMargin (IMR, MMR) for the option
    chains' underlyings: ``standard`` or ``portfolio``"""
    standardInitialMargin: Decimal | None = None
    """what standard mode would require for the positions (None without option chains)"""
    standardMaintenanceMargin: Decimal | None = None
    scan: Decimal | None = None
    """portfolio mode: the weighted worst scenario loss (SCAN), summed over underlyings"""
    minDelta: Decimal | None = None
    worstScenario: dict[str, Any] | None = None
    """portfolio mode: ``underlying``, ``spotShock`` (fraction, -0.66), ``volShock``
    (``up``/``down``/``none``) and ``weight`` (fraction) of the worst scenario"""


@dataclass(frozen=True, slots=True)
class Option(_Record):
    """ccxt's option structure (``fetch_option``, ``fetch_option_chain``); implied
    volatilities are fractions (0.6 = 60 %), ``underlyingPrice`` the forward the series
    is priced on (the index is in ``info``)."""

    symbol: str
    currency: str
    timestamp: int | None
    datetime: str | None
    impliedVolatility: Decimal | None
    openInterest: Decimal | None
    bidPrice: Decimal | None
    askPrice: Decimal | None
    midPrice: Decimal | None
    markPrice: Decimal | None
    lastPrice: Decimal | None
    underlyingPrice: Decimal | None
    change: Decimal | None = None
    percentage: Decimal | None = None
    baseVolume: Decimal | None = None
    quoteVolume: Decimal | None = None
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Greeks(_Record):
    """ccxt's greeks structure (``fetch_greeks``): per one unit of underlying, in quote
    currency (vega per vol point, theta per day); implied volatilities as fractions."""

    symbol: str
    timestamp: int | None
    datetime: str | None
    delta: Decimal | None
    gamma: Decimal | None
    theta: Decimal | None
    vega: Decimal | None
    rho: Decimal | None
    bidSize: Decimal | None
    askSize: Decimal | None
    bidImpliedVolatility: Decimal | None
    askImpliedVolatility: Decimal | None
    markImpliedVolatility: Decimal | None
    bidPrice: Decimal | None
    askPrice: Decimal | None
    markPrice: Decimal | None
    lastPrice: Decimal | None
    underlyingPrice: Decimal | None
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AccountGreeks(_Record):
    """The sum of your positions' Greeks on one underlying (``fetch_account_greeks``), with
    each position's in ``positions`` (symbol -> {contracts, delta, gamma, vega, theta})."""

    underlying: str
    delta: Decimal
    gamma: Decimal
    vega: Decimal
    theta: Decimal
    positions: dict[str, dict[str, Decimal]]
    timestamp: int | None
    info: Sequence[Mapping[str, Any]] = field(default_factory=tuple, compare=False,
                                              repr=False)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OrderBook(_Record):
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    timestamp: int | None
    datetime: str | None
    nonce: int | None
    status: str | None = None

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None


@dataclass(frozen=True, slots=True)
class Ticker(_Record):
    symbol: str
    timestamp: int | None
    datetime: str | None
    bid: Decimal | None
    bidVolume: Decimal | None
    ask: Decimal | None
    askVolume: Decimal | None
    last: Decimal | None
    markPrice: Decimal | None
    indexPrice: Decimal | None
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


# -- builders ---------------------------------------------------------------------------
def order_from_state(st: Mapping[str, Any], market: Market) -> Order:
    """An ``Order`` from the SDK's order state (the latest report or query record)."""
    cum = int(st.get("cum_qty") or 0)
    ms = ns_to_ms(st.get("ts"))
    avg = st.get("avg_px")
    tif = st.get("tif")
    post_only = bool(st.get("post_only"))
    order_id = st.get("order_id")
    return Order(
        id=None if order_id is None else str(order_id),
        clientOrderId=str(st.get("client_order_id") or ""),
        timestamp=ns_to_ms(st.get("created_ts")) or ms,
        datetime=iso8601(ns_to_ms(st.get("created_ts")) or ms),
        lastTradeTimestamp=ns_to_ms(st.get("last_trade_ts")),
        status=ORDER_STATUS.get(str(st.get("ord_status")), "open"),
        symbol=market.symbol,
        type=st.get("ord_type"),
        timeInForce="PO" if post_only else (tif.upper() if isinstance(tif, str) else None),
        side=st.get("side"),
        price=market.price(st.get("price")),
        average=market.price(avg) if cum and avg is not None else None,
        amount=market.amount(int(st.get("order_qty") or 0)) or Decimal(0),
        filled=market.amount(cum) or Decimal(0),
        remaining=market.amount(int(st.get("leaves_qty") or 0)) or Decimal(0),
        cost=market.cost(st.get("cum_notional")) if cum else Decimal(0),
        postOnly=post_only,
        reduceOnly=bool(st.get("reduce_only")),
        info=dict(st),
    )


def trade_from_fill(rep: Mapping[str, Any], market: Market) -> Trade:
    """One of your fills from an execution report ``F`` (no fee: reports do not carry it)."""
    ms = ns_to_ms(rep.get("ts"))
    px, qty = int(rep["last_px"]), int(rep["last_qty"])
    return Trade(
        id=str(rep.get("trade_id")),
        order=str(rep.get("order_id")),
        clientOrderId=rep.get("client_order_id"),
        timestamp=ms,
        datetime=iso8601(ms),
        symbol=market.symbol,
        side=rep.get("side"),
        price=market.price(px) or Decimal(0),
        amount=market.amount(qty) or Decimal(0),
        cost=market.cost(px * qty) or Decimal(0),
        takerOrMaker=rep.get("liquidity"),
        type=rep.get("ord_type"),
        fee=None,
        info=dict(rep),
    )


def trade_from_record(rec: Mapping[str, Any], market: Market) -> Trade:
    """One of your fills from a ``trades`` query record (with its fee)."""
    ms = ns_to_ms(rec.get("ts"))
    px, qty = int(rec["price"]), int(rec["qty"])
    asset = str(rec.get("fee_asset") or market.settle)
    return Trade(
        id=str(rec["trade_id"]),
        order=str(rec["order_id"]),
        clientOrderId=rec.get("client_order_id"),
        timestamp=ms,
        datetime=iso8601(ms),
        symbol=market.symbol,
        side=rec.get("side"),
        price=market.price(px) or Decimal(0),
        amount=market.amount(qty) or Decimal(0),
        cost=market.cost(px * qty) or Decimal(0),
        takerOrMaker=rec.get("liquidity"),
        fee={"cost": money(int(rec.get("fee") or 0), asset), "currency": asset},
        info=dict(rec),
    )


def public_trade(msg: Mapping[str, Any], market: Market) -> Trade:
    """A trade from the public feed (``trade.<SYM>|``): side is the aggressor's."""
    ms = ns_to_ms(msg.get("ts_event"))
    px, qty = int(msg["price"]), int(msg["qty"])
    return Trade(
        id=str(msg.get("trade_id")),
        order=None,
        clientOrderId=None,
        timestamp=ms,
        datetime=iso8601(ms),
        symbol=market.symbol,
        side=msg.get("aggressor"),
        price=market.price(px) or Decimal(0),
        amount=market.amount(qty) or Decimal(0),
        cost=market.cost(px * qty) or Decimal(0),
        takerOrMaker=None,
        info=dict(msg),
    )


def position_from_record(
    rec: Mapping[str, Any], market: Market, decimals: Mapping[str, int] = ASSET_DECIMALS
) -> Position:
    qty = int(rec.get("qty") or 0)
    settle = market.settle
    mark = market.price(rec.get("mark_price"))
    contracts = market.amount(abs(qty)) or Decimal(0)
    ms = ns_to_ms(rec.get("ts"))
    entry = rec.get("entry_price")

    def m(key: str) -> Decimal:
        return money(int(rec.get(key) or 0), settle, decimals) or Decimal(0)

    def greek(key: str) -> Decimal | None:
        v = rec.get(key)
        return None if v is None else Decimal(v)

    return Position(
        delta=greek("delta"),
        gamma=greek("gamma"),
        vega=greek("vega"),
        theta=greek("theta"),
        symbol=market.symbol,
        side="long" if qty > 0 else ("short" if qty < 0 else None),
        contracts=contracts,
        contractSize=market.contractSize,
        entryPrice=market.price(entry) if qty and entry is not None else None,
        markPrice=mark,
        notional=None if mark is None else contracts * market.contractSize * mark,
        unrealizedPnl=m("unrealized_pnl"),
        realizedPnl=m("realized_pnl"),
        initialMargin=m("initial_margin"),
        maintenanceMargin=m("maintenance_margin"),
        liquidationPrice=market.price(rec.get("liquidation_price")),
        timestamp=ms,
        datetime=iso8601(ms),
        info=dict(rec),
    )


def balances_from_records(
    recs: Sequence[Mapping[str, Any]], decimals: Mapping[str, int] = ASSET_DECIMALS
) -> Balances:
    assets: dict[str, Balance] = {}
    latest = 0
    for r in recs:
        a = str(r["asset"])
        assets[a] = Balance(
            free=money(int(r["free"]), a, decimals) or Decimal(0),
            used=money(int(r["used"]), a, decimals) or Decimal(0),
            total=money(int(r["total"]), a, decimals) or Decimal(0),
        )
        latest = max(latest, int(r.get("ts") or 0))
    return Balances(assets=assets, timestamp=ns_to_ms(latest), info=tuple(dict(r) for r in recs))


def margin_from_record(
    rec: Mapping[str, Any], decimals: Mapping[str, int] = ASSET_DECIMALS
) -> Margin:
    a = str(rec["asset"])
    ratio = rec.get("margin_ratio_ppm")

    def m(key: str) -> Decimal:
        return money(int(rec.get(key) or 0), a, decimals) or Decimal(0)

    def opt(key: str) -> Decimal | None:
        v = rec.get(key)
        return None if v is None else money(int(v), a, decimals)

    worst = None
    if rec.get("worst_underlying") is not None:
        worst = {"underlying": rec["worst_underlying"],
                 "spotShock": Decimal(int(rec.get("worst_spot_shock_ppm") or 0)).scaleb(-6),
                 "volShock": rec.get("worst_vol_shock"),
                 "weight": Decimal(int(rec.get("worst_weight_ppm") or 0)).scaleb(-6)}  # fmt: skip
    return Margin(
        marginMode=str(rec.get("margin_mode") or "standard"),
        standardInitialMargin=opt("standard_initial_margin"),
        standardMaintenanceMargin=opt("standard_maintenance_margin"),
        scan=opt("scan"),
        minDelta=opt("min_delta"),
        worstScenario=worst,
        asset=a,
        equity=m("equity"),
        initialMargin=m("initial_margin"),
        maintenanceMargin=m("maintenance_margin"),
        freeCollateral=m("free_collateral"),
        marginRatio=None if ratio is None else Decimal(int(ratio)).scaleb(-6),
        timestamp=ns_to_ms(rec.get("ts")),
        info=dict(rec),
    )


def book_from_levels(
    bids: Sequence[Sequence[int]],
    asks: Sequence[Sequence[int]],
    market: Market,
    *,
    nonce: int | None,
    ts_ns: int | None = None,
    limit: int | None = None,
    status: str | None = None,
) -> OrderBook:
    """An ``OrderBook`` from ``[price, qty, ...]`` rows, best first."""
    if limit is not None:
        bids, asks = bids[:limit], asks[:limit]
    p, a = market.price, market.amount
    ms = ns_to_ms(ts_ns)
    return OrderBook(
        symbol=market.symbol,
        bids=tuple((p(r[0]), a(r[1])) for r in bids),  # type: ignore[misc]
        asks=tuple((p(r[0]), a(r[1])) for r in asks),  # type: ignore[misc]
        timestamp=ms,
        datetime=iso8601(ms),
        nonce=nonce,
        status=status,
    )


def _vol(ppm: int | None) -> Decimal | None:
    return None if ppm is None else Decimal(int(ppm)).scaleb(-6)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def option_from_record(rec: Mapping[str, Any], market: Market,
                       last: Mapping[str, Any] | None = None) -> Option:  # fmt: skip
    """An ``Option`` from an ``option_chain`` record (``last``: the latest public trade)."""
    ms = ns_to_ms(rec.get("ts"))
    bid, ask = market.price(rec.get("bid")), market.price(rec.get("ask"))
    fwd = _dec(rec.get("forward"))
    return Option(
        symbol=market.symbol,
        currency=market.settle,
        timestamp=ms,
        datetime=iso8601(ms),
        impliedVolatility=_vol(rec.get("mark_iv_ppm")),
        openInterest=None,
        bidPrice=bid,
        askPrice=ask,
        midPrice=(bid + ask) / 2 if bid is not None and ask is not None else None,
        markPrice=market.price(rec.get("mark_price")),
        lastPrice=market.price(last["price"]) if last else None,
        underlyingPrice=None if fwd is None else fwd.scaleb(-market.price_decimals),
        info=dict(rec),
    )


def greeks_from_record(rec: Mapping[str, Any], market: Market,
                       last: Mapping[str, Any] | None = None) -> Greeks:  # fmt: skip
    """A ``Greeks`` from an ``option_chain`` record (or an ``option`` market-data ticker,
    whose ``mark`` and ``ts_event`` stand in for ``mark_price`` and ``ts``)."""
    ms = ns_to_ms(rec.get("ts") or rec.get("ts_event"))
    fwd = _dec(rec.get("forward"))
    mark = rec.get("mark_price", rec.get("mark"))
    return Greeks(
        symbol=market.symbol,
        timestamp=ms,
        datetime=iso8601(ms),
        delta=_dec(rec.get("delta")),
        gamma=_dec(rec.get("gamma")),
        theta=_dec(rec.get("theta")),
        vega=_dec(rec.get("vega")),
        rho=Decimal(0),  # r = 0: Black-76 on the forward has no rate
        bidSize=None,
        askSize=None,
        bidImpliedVolatility=_vol(rec.get("bid_iv_ppm")),
        askImpliedVolatility=_vol(rec.get("ask_iv_ppm")),
        markImpliedVolatility=_vol(rec.get("mark_iv_ppm")),
        bidPrice=market.price(rec.get("bid")),
        askPrice=market.price(rec.get("ask")),
        markPrice=market.price(mark),
        lastPrice=market.price(last["price"]) if last else None,
        underlyingPrice=None if fwd is None else fwd.scaleb(-market.price_decimals),
        info=dict(rec),
    )


def account_greeks_from_records(recs: Sequence[Mapping[str, Any]],
                                markets: Mapping[str, Market]) -> dict[str, AccountGreeks]:
    """``greeks`` query records -> ``AccountGreeks`` per underlying."""
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for r in recs:
        rows.setdefault(str(r["underlying"]), []).append(r)
    out = {}
    for u, rs in rows.items():
        total = next((r for r in rs if r.get("instrument") is None), None)
        positions = {}
        for r in rs:
            inst = r.get("instrument")
            if inst is None:
                continue
            m = markets.get(inst)
            positions[m.symbol if m else inst] = {
                "contracts": m.amount(int(r["qty"])) if m else Decimal(int(r["qty"])),
                **{k: Decimal(r[k]) for k in ("delta", "gamma", "vega", "theta")}}
        t = total or {"delta": "0", "gamma": "0", "vega": "0", "theta": "0"}
        out[u] = AccountGreeks(
            underlying=u, delta=Decimal(t["delta"]), gamma=Decimal(t["gamma"]),
            vega=Decimal(t["vega"]), theta=Decimal(t["theta"]), positions=positions,
            timestamp=ns_to_ms(max(int(r.get("ts") or 0) for r in rs)), info=tuple(rs))
    return out
