"""``crossbook bot optionsmm`` against a real ``crossbook serve``: it quotes calls and puts
around the mark IV, a client trades with its quotes, it delta-hedges on BTC-PERP (the
perpetual market maker provides the liquidity) and stops with a report of its positions,
Greeks and margin: on a portfolio account the options net against the perpetual, so its
IMR is below what standard mode would require. Plus the quoting rule without a server."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from clients.bots.optionsmm import OptionsMarketMaker
from tests.clients.serve_helpers import client, client_env, running_exchange
from tests.clients.test_bots import account_of, start_bot

pytestmark = pytest.mark.timeout(120)

PERP = "BTC-PERP"


async def test_optionsmm_nets_options_against_the_perpetual(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv:
        assert srv.keys is not None
        env = client_env(srv)
        perp_mm = await start_bot(env, "marketmaker", tmp_path / "mm.json", 40.0, "--interval",
                                  "0.2", "--size", "0.5")  # fmt: skip
        await account_of(perp_mm)
        report = tmp_path / "optionsmm.json"
        omm = await start_bot(env, "optionsmm", report, 12.0, "--interval", "0.3",
                              "--key", str(srv.keys.files[7]), "--strikes", "2")  # fmt: skip
        assert await account_of(omm) == 7
        async with client(srv, 2) as tk:
            async with client(srv, 7) as view:
                async with asyncio.timeout(20):  # the bot's quotes: 2 strikes, call and put
                    while len(quotes := await view.fetch_open_orders()) < 8:
                        await asyncio.sleep(0.1)
                assert {o.symbol.split("-")[-1] for o in quotes} == {"C", "P"}
            # hit the bot: sell it a call, buy one of its asks (it ends long delta and hedges)
            bids = sorted((o for o in quotes if o.side == "buy"), key=lambda o: o.symbol)
            asks = sorted((o for o in quotes if o.side == "sell"), key=lambda o: o.symbol)
            calls = [o for o in bids if o.symbol.endswith("-C")]
            for o in (calls[0], asks[-1]):  # 10 % through the quote: it may have moved
                side = "sell" if o.side == "buy" else "buy"
                m = tk.market(o.symbol)
                px = (m.round_price(o.price * Decimal("0.9")) if side == "sell"
                      else m.round_price(o.price * Decimal("1.1"), up=True))  # fmt: skip
                done = await tk.create_order(o.symbol, "limit", side, o.amount, px,
                                             {"timeInForce": "IOC"})  # fmt: skip
                assert done.filled == o.amount
        out, err = await asyncio.wait_for(omm.communicate(), 40)
        assert omm.returncode == 0, err.decode()
        perp_mm.terminate()
        await asyncio.wait_for(perp_mm.communicate(), 30)
        text = out.decode()
        rep = json.loads(report.read_text())
        for word in ("positions", "greeks", "delta", "margin", "portfolio mode", "IMR",
                     "standard mode"):  # fmt: skip
            assert word in text, (word, text)
        options = {s: Decimal(q) for s, q in rep["positions"].items() if s.count("-") >= 3}
        assert options, rep
        assert rep["hedges"] >= 1 and Decimal(rep["positions"]["BTC/USD:USD"]) != 0, rep
        assert rep["margin_mode"] == "portfolio"
        assert Decimal(rep["initial_margin"]) < Decimal(rep["standard_initial_margin"]), rep
        assert rep["worst_scenario"]["underlying"] == "BTC"
        # the hedge left the net delta small against what the options alone carry
        async with client(srv, 7) as view:
            g = (await view.fetch_account_greeks("BTC"))["BTC"]
            assert abs(Decimal(rep["greeks"]["delta"]) - g.delta) < Decimal("0.01")  # marks move
            option_delta = sum(p["delta"] for s, p in g.positions.items() if s.count("-") >= 3)
            assert abs(g.delta) < abs(option_delta)
            assert await view.fetch_open_orders() == []


def test_quotes_follow_mark_iv_with_inventory_skew() -> None:
    class FakeMarket:
        lot = Decimal("0.01")
        tick = Decimal("0.5")

        def round_price(self, v: Decimal, up: bool = False) -> Decimal:
            q = (v / self.tick).to_integral_value(rounding="ROUND_CEILING" if up else
                                                  "ROUND_FLOOR")  # fmt: skip
            return q * self.tick

    bot = OptionsMarketMaker.__new__(OptionsMarketMaker)
    bot.half_spread_vol, bot.skew_vol, bot.max_position_lots = Decimal(2), Decimal(2), 10
    m = FakeMarket()
    o = SimpleNamespace(impliedVolatility=Decimal("0.6"), markPrice=Decimal(5000),
                        info={"vega": "100"})  # fmt: skip
    flat = bot.targets(m, o, Decimal(0))  # type: ignore[arg-type]
    assert flat == {"buy": Decimal(4800), "sell": Decimal(5200)}  # ±2 vol points x 100
    long = bot.targets(m, o, Decimal("0.05"))  # type: ignore[arg-type]
    assert long == {"buy": Decimal(4700), "sell": Decimal(5100)}  # half the limit: -1 point
    assert bot.targets(m, o, Decimal("0.10"))["buy"] is None  # type: ignore[arg-type]
    assert bot.targets(m, o, Decimal("-0.10"))["sell"] is None  # type: ignore[arg-type]
