"""Units <-> decimals at the SDK's edge, and the ccxt-shaped records built from wire messages."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.sdk import errors as E
from clients.sdk.markets import Market, money, unified_symbol
from clients.sdk.records import (
    balances_from_records,
    book_from_levels,
    iso8601,
    margin_from_record,
    order_from_state,
    position_from_record,
    trade_from_fill,
    trade_from_record,
)

BTC = {
    "symbol": "BTC-PERP", "kind": "perpetual", "tick_size": 5, "lot_size": 1, "min_qty": 1,
    "max_qty": 1_000_000, "price_decimals": 1, "qty_decimals": 3, "status": "trading",
    "settlement_asset": "USD",
}  # fmt: skip


@pytest.fixture
def btc() -> Market:
    return Market.from_record(BTC)


def test_market_fields(btc: Market) -> None:
    assert btc.id == "BTC-PERP" and btc.symbol == "BTC/USD:USD"
    assert (btc.base, btc.quote, btc.settle, btc.type) == ("BTC", "USD", "USD", "swap")
    assert btc.tick == Decimal("0.5") and btc.lot == Decimal("0.001")
    ccxt = btc.to_ccxt()
    assert ccxt["precision"] == {"amount": 0.001, "price": 0.5}
    assert ccxt["limits"]["amount"]["min"] == 0.001
    json.dumps(ccxt)  # plain data only


def test_unified_symbol_only_for_perpetuals() -> None:
    assert unified_symbol({"symbol": "AMZN-PERP", "settlement_asset": "USD"}) == "AMZN/USD:USD"
    assert unified_symbol({"symbol": "X", "kind": "spot"}) == "X"


def test_conversions_both_ways(btc: Market) -> None:
    assert btc.price_units("60000.5") == 600005
    assert btc.price_units(60000.5) == 600005
    assert btc.price_units(Decimal("60000")) == 600000
    assert btc.amount_units("0.25") == 250
    assert btc.amount_units(0.001) == 1
    assert btc.price(600005) == Decimal("60000.5")
    assert btc.amount(250) == Decimal("0.250")
    assert btc.cost(600005 * 250) == Decimal("15000.125")


@pytest.mark.parametrize("bad", ["60000.55", "-1", "0", "nan", "inf", "abc", None, True, [1]])
def test_bad_prices_are_refused_before_sending(btc: Market, bad: object) -> None:
    with pytest.raises(E.InvalidOrder) as ei:
        btc.price_units(bad)  # type: ignore[arg-type]
    assert ei.value.local and ei.value.field == "price"


def test_bad_amount_names_the_reason(btc: Market) -> None:
    with pytest.raises(E.InvalidOrder) as ei:
        btc.amount_units("0.0001")
    assert ei.value.reason_name == "INVALID_QUANTITY"


@settings(max_examples=200, deadline=None)
@given(units=st.integers(min_value=1, max_value=10**15), dec=st.integers(0, 12))
def test_round_trip_is_exact(units: int, dec: int) -> None:
    m = Market.from_record({**BTC, "price_decimals": dec, "qty_decimals": dec})
    assert m.price_units(m.price(units)) == units  # type: ignore[arg-type]
    assert m.amount_units(str(m.amount(units))) == units


def test_round_price_to_the_tick(btc: Market) -> None:
    assert btc.round_price("60000.74") == Decimal("60000.5")
    assert btc.round_price("60000.26", up=True) == Decimal("60000.5")
    assert btc.round_amount("0.0129") == Decimal("0.012")


def test_order_from_a_fill_report(btc: Market) -> None:
    st_ = {
        "order_id": 81234, "client_order_id": "mm-1", "instrument": "BTC-PERP",
        "side": "buy", "ord_type": "limit", "tif": "gtc", "price": 600005, "order_qty": 250,
        "cum_qty": 150, "leaves_qty": 100, "avg_px": "600001.66666667",
        "cum_notional": 90000250, "ord_status": "1", "ts": 1767225600000300000,
        "created_ts": 1767225600000000000, "post_only": True,
    }  # fmt: skip
    o = order_from_state(st_, btc)
    assert o.id == "81234" and o.clientOrderId == "mm-1" and o.status == "open"
    assert o.symbol == "BTC/USD:USD" and o.timeInForce == "PO" and o.postOnly
    assert o.price == Decimal("60000.5") and o.amount == Decimal("0.250")
    assert o.filled == Decimal("0.150") and o.remaining == Decimal("0.100")
    assert o.average == Decimal("60000.166666667")
    assert o.cost == Decimal("9000.025")
    assert o.timestamp == 1767225600000 and o.datetime == "2026-01-01T00:00:00.000Z"
    d = o.to_ccxt()
    assert d["filled"] == 0.15 and d["info"]["order_id"] == 81234
    json.dumps(d)


@pytest.mark.parametrize(("code", "status"), [("0", "open"), ("1", "open"), ("2", "closed"),
                                              ("4", "canceled"), ("C", "expired"),
                                              ("8", "rejected")])  # fmt: skip
def test_status_vocabulary(btc: Market, code: str, status: str) -> None:
    st_ = {"order_id": 1, "instrument": "BTC-PERP", "ord_status": code, "order_qty": 1}
    assert order_from_state(st_, btc).status == status


def test_trades(btc: Market) -> None:
    rep = {"trade_id": 5531, "order_id": 7, "client_order_id": "c", "side": "sell",
           "last_px": 600000, "last_qty": 3, "liquidity": "maker", "ts": 2_000_000}  # fmt: skip
    t = trade_from_fill(rep, btc)
    assert (t.id, t.order, t.side, t.takerOrMaker) == ("5531", "7", "sell", "maker")
    assert t.price == Decimal("60000") and t.amount == Decimal("0.003")
    assert t.cost == Decimal("180") and t.timestamp == 2
    rec = {"trade_id": 9, "order_id": 7, "client_order_id": "c", "instrument": "BTC-PERP",
           "side": "buy", "price": 600000, "qty": 1000, "liquidity": "taker", "fee": 30000000,
           "fee_asset": "USD", "ts": 0}  # fmt: skip
    t2 = trade_from_record(rec, btc)
    assert t2.fee == {"cost": Decimal("30"), "currency": "USD"} and t2.amount == 1


def test_position_balance_margin(btc: Market) -> None:
    pos = position_from_record(
        {"instrument": "BTC-PERP", "qty": -150, "entry_price": "600016.5", "mark_price": 600100,
         "unrealized_pnl": -125000, "realized_pnl": 2500000, "initial_margin": 48750000,
         "maintenance_margin": 29250000, "ts": 5_000_000}, btc)  # fmt: skip
    assert pos.side == "short" and pos.contracts == Decimal("0.150")
    assert pos.signed_contracts == Decimal("-0.150")
    assert pos.entryPrice == Decimal("60001.65") and pos.markPrice == Decimal("60010")
    assert pos.notional == Decimal("9001.500") and pos.unrealizedPnl == Decimal("-0.125")
    assert pos.realizedPnl == Decimal("2.5") and pos.initialMargin == Decimal("48.75")
    flat = position_from_record({"instrument": "BTC-PERP", "qty": 0, "entry_price": None,
                                 "ts": 0}, btc)  # fmt: skip
    assert flat.side is None and flat.contracts == 0 and flat.entryPrice is None
    bal = balances_from_records([{"asset": "USD", "total": 12_000_000, "free": 11_000_000,
                                  "used": 1_000_000, "ts": 0}])  # fmt: skip
    assert bal["USD"].total == Decimal(12) and bal.free == {"USD": Decimal(11)}
    d = bal.to_ccxt()
    assert d["USD"] == {"free": 11.0, "used": 1.0, "total": 12.0} and d["total"]["USD"] == 12.0
    mg = margin_from_record({"asset": "USD", "equity": 12_000_125_000, "initial_margin": 1,
                             "maintenance_margin": 2, "free_collateral": 3,
                             "margin_ratio_ppm": 2438, "ts": 0})  # fmt: skip
    assert mg.equity == Decimal("12000.125") and mg.marginRatio == Decimal("0.002438")
    assert money(5, "XYZ") == Decimal(5)


def test_book_levels(btc: Market) -> None:
    b = book_from_levels([[600000, 5, 1], [599995, 7, 2]], [[600005, 1, 1]], btc, nonce=42,
                         ts_ns=1_000_000_000, limit=1)  # fmt: skip
    assert b.bids == ((Decimal("60000"), Decimal("0.005")),)
    assert b.best_ask == Decimal("60000.5") and b.nonce == 42
    assert b.to_ccxt()["bids"] == [[60000.0, 0.005]]
    assert iso8601(1000) == "1970-01-01T00:00:01.000Z"


def test_ccxt_camel_case_aliases() -> None:
    from clients.sdk.exchange import CCXT_METHODS, Exchange

    assert Exchange.createOrder is Exchange.create_order  # type: ignore[attr-defined]
    assert Exchange.fetchOrderBook is Exchange.fetch_order_book  # type: ignore[attr-defined]
    assert all(hasattr(Exchange, n) for n in CCXT_METHODS)
