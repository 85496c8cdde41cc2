"""Options through a real ``crossbook serve`` (default configuration) and the SDK: markets
with ccxt's option fields, option orders admitted from the start (the IV feed fires at
once), the option chain, one option and its Greeks, positions with Greeks, the margin
record's mode and what-if, option tickers on market data, and portfolio netting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from clearing.options.series import OptionSeries
from clients.sdk import Greeks, Option
from gateway.exchange_config import default_config
from tests.clients.serve_helpers import client, running_exchange

pytestmark = pytest.mark.timeout(90)

PERP = "BTC/USD:USD"


def _live(kind: str) -> OptionSeries:
    """The 60,000 series of the default chain's nearest expiry (the chain rolls with the
    date: its first expiry is at least 7 days away)."""
    chain = default_config().clearing.options["BTC"]
    assert chain.expiries[0] > time.time_ns() + 3 * 86_400 * 10**9
    return OptionSeries("BTC", chain.expiries[0], 600_000, kind, price_decimals=1)


SYM, ID = _live("C").ccxt_symbol, _live("C").native_name
PUT = _live("P").ccxt_symbol


async def test_option_markets_have_ccxt_fields_and_both_names(tmp_path: Path) -> None:
    cfg = default_config()
    specs = {s: i for s, i in cfg.clearing.instruments.items() if i.kind == "option"}
    async with running_exchange(tmp_path) as srv, client(srv, 1) as ex:
        markets = await ex.fetch_markets()
        opts = [m for m in markets if m.option]
        assert len(opts) == 36
        for m in opts:
            assert m.symbol == specs[m.id].option.ccxt_symbol  # the kernel's own name
            assert ex.market(m.id) is ex.market(m.symbol)
        series = _live("C")
        expiry_ms = series.expiry_ts // 1_000_000
        d = datetime.fromtimestamp(expiry_ms // 1000, tz=UTC)
        ccxt = f"BTC/USD:USD-{d:%y%m%d}-60000-C"
        assert ccxt == SYM and series.native_name == ID
        m = ex.market(SYM)
        assert (m.id, m.type, m.option, m.contract, m.swap, m.future) == (
            ID, "option", True, True, False, False)
        assert (m.strike, m.optionType, m.underlying) == (Decimal(60000), "call", "BTC")
        assert (d.weekday(), d.hour, d.month % 3) == (4, 8, 0)  # a quarterly Friday, 08:00
        assert m.expiry == expiry_ms and m.expiryDatetime == f"{d:%Y-%m-%d}T08:00:00.000Z"
        c = m.to_ccxt()
        assert (c["option"], c["strike"], c["optionType"], c["type"]) == (True, 60000.0,
                                                                        "call", "option")
        assert c["expiry"] == expiry_ms and c["info"]["contract_size"] == "0.01"
        perp = ex.market(PERP)
        assert not perp.option and perp.strike is None and perp.to_ccxt()["option"] is False


async def test_options_trade_from_the_start_with_chain_greeks_and_margin(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as mm, client(srv, 2) as tk:
        chain = await mm.fetch_option_chain("BTC")
        assert len(chain) == 36 and all(type(o) is Option for o in chain.values())
        atm = chain[SYM]
        assert atm.markPrice and atm.underlyingPrice and atm.impliedVolatility
        assert Decimal("0.2") < atm.impliedVolatility < Decimal("2")
        assert not atm.info["stale_iv"]  # the IV feed fired when the exchange started
        mark = atm.markPrice
        m = mm.market(SYM)
        bid = m.round_price(mark * Decimal("0.97"))
        ask = m.round_price(mark * Decimal("1.03"), up=True)
        b = await mm.create_order(SYM, "limit", "buy", "0.5", bid)
        a = await mm.create_order(SYM, "limit", "sell", "0.5", ask)
        assert b.status == a.status == "open"

        g = await tk.fetch_greeks(SYM)
        assert type(g) is Greeks and g.bidPrice == bid and g.askPrice == ask
        assert g.bidImpliedVolatility < g.markImpliedVolatility < g.askImpliedVolatility
        assert Decimal("0.3") < g.delta < Decimal("0.8") and g.gamma > 0 and g.vega > 0
        assert g.theta < 0 and g.rho == 0
        o = await tk.fetch_option(ID)  # the native name works too
        assert o.bidPrice == bid and o.midPrice == (bid + ask) / 2

        t = await tk.create_order(SYM, "limit", "buy", "0.2", ask, {"timeInForce": "IOC"})
        assert t.filled == Decimal("0.2")
        pos = {p.symbol: p for p in await tk.fetch_positions()}
        p = pos[SYM]
        assert p.side == "long" and p.contracts == Decimal("0.2")
        assert p.delta is not None and abs(p.delta - g.delta * Decimal("0.2")) < Decimal(
            "0.02")
        assert p.vega > 0 and p.theta < 0
        margin = await tk.fetch_margin()
        assert margin.marginMode == "standard" and margin.worstScenario is None
        assert margin.standardInitialMargin == margin.initialMargin > 0  # long: premium
        greeks = await tk.fetch_account_greeks("BTC")
        assert greeks["BTC"].delta == p.delta and list(greeks["BTC"].positions) == [SYM]


async def test_option_ticker_on_market_data(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 3) as ex:
        mark = (await ex.fetch_option(SYM)).markPrice
        assert mark is not None
        bid = ex.market(SYM).round_price(mark * Decimal("0.95"))
        await ex.create_order(SYM, "limit", "buy", "0.1", bid)
        async with asyncio.timeout(20):
            while True:
                t = await ex.watch_ticker(SYM)
                opt = t.info.get("option")
                if opt and opt.get("bid") is not None and t.bid is not None:
                    break  # the ticker saw the bid, and so did the local book
        assert t.bid == bid and t.markPrice is not None
        assert opt["mark_iv_ppm"] > 0 and opt["bid_iv_ppm"] < opt["mark_iv_ppm"]
        assert opt["ask_iv_ppm"] is None and opt["underlying"] == "BTC"
        assert {"delta", "gamma", "vega", "theta", "forward"} <= set(opt)
        assert Decimal(opt["delta"]) > 0 and opt["option_type"] == "call"


async def test_portfolio_account_nets_options_against_the_perpetual(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as maker, client(srv, 7) as pm:
        chain = await pm.fetch_option_chain("BTC")
        atm = chain[SYM]
        put = chain[PUT]
        # a short straddle, sold to the maker's bids
        for s, o in ((SYM, atm), (PUT, put)):
            px = maker.market(s).round_price(o.markPrice)
            await maker.create_order(s, "limit", "buy", "1", px)
            await pm.create_order(s, "limit", "sell", "1", px, {"timeInForce": "IOC"})
        g = (await pm.fetch_account_greeks("BTC"))["BTC"]
        lots = maker.market(PERP).round_amount(abs(g.delta))
        side = "buy" if g.delta < 0 else "sell"
        if lots:
            perp_px = maker.market(PERP).round_price(atm.underlyingPrice)
            await maker.create_order(PERP, "limit", "sell" if side == "buy" else "buy",
                                     lots, perp_px)  # fmt: skip
            await pm.create_order(PERP, "limit", side, lots, perp_px, {"timeInForce": "IOC"})
        margin = await pm.fetch_margin()
        assert margin.marginMode == "portfolio"
        assert margin.initialMargin < margin.standardInitialMargin
        assert margin.maintenanceMargin < margin.standardMaintenanceMargin
        assert margin.scan is not None and margin.worstScenario is not None
        assert margin.worstScenario["underlying"] == "BTC"
        assert margin.worstScenario["volShock"] in ("up", "down")


async def test_the_iv_feed_is_journaled_and_the_journal_replays_to_the_same_state(
        tmp_path: Path) -> None:  # fmt: skip
    from gateway.journal.replay import config_for, replay

    async with running_exchange(tmp_path) as srv, client(srv, 7) as ex:
        o = await ex.fetch_option(SYM)
        await ex.create_order(SYM, "limit", "sell", "0.1", ex.market(SYM).round_price(
            o.markPrice * 2, up=True))  # fmt: skip
        await asyncio.sleep(1.5)  # a few more feed steps
    assert srv.clearing is not None and srv.clearing.last_state_hash
    report = replay(config_for(tmp_path / "state"), earliest=True)
    assert report["inputs"]["IVUpdate"] >= 4  # 2 expiries, at start and every second
    assert report["journal_seq"] == srv.clearing.core.seq
    assert report["state_hash"] == srv.clearing.last_state_hash
