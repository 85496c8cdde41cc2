"""The example bots against a real ``crossbook serve``: they trade with each other, each
reports the position the exchange holds for it, and the market maker pulls its quotes on
a halt and quotes again after it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from clearing.commands import MarketHalt, MarketResume
from clients.bots.marketmaker import MarketMaker
from clients.bots.taker import Taker
from tests.clients.serve_helpers import client, client_env, quick_reopening, running_exchange

pytestmark = pytest.mark.timeout(90)

SYM = "BTC-PERP"


async def start_bot(env: dict[str, str], kind: str, report: Path, duration: float,
                    *extra: str) -> asyncio.subprocess.Process:  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "bot", kind, "--duration", str(duration),
        "--report", str(report), "--seed", "7", *extra,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def account_of(proc: asyncio.subprocess.Process) -> int:
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    m = re.search(r"account (\d+) trading", line)
    assert m, line
    return int(m.group(1))


async def test_bots_trade_with_each_other(tmp_path: Path) -> None:
    async with running_exchange(tmp_path, clearing=quick_reopening()) as srv:
        env = client_env(srv)
        reports = {k: tmp_path / f"{k}.json" for k in ("marketmaker", "taker", "random")}
        mm = await start_bot(env, "marketmaker", reports["marketmaker"], 9.0, "--interval", "0.2")
        mm_acct = await account_of(mm)
        async with client(srv, mm_acct) as mm_view:  # a second session on the bot's account
            async with asyncio.timeout(15):
                while len(await mm_view.fetch_open_orders(SYM)) < 2:
                    await asyncio.sleep(0.1)
            tk = await start_bot(env, "taker", reports["taker"], 4.0, "--interval", "0.2")
            rnd = await start_bot(env, "random", reports["random"], 4.0, "--rate", "40")
            accounts = {mm_acct, await account_of(tk), await account_of(rnd)}
            assert len(accounts) == 3  # no --key: each bot claimed its own demo account

            await asyncio.sleep(1.0)
            assert srv.clearing is not None
            srv.clearing.admin(lambda ts: MarketHalt(ts))
            async with asyncio.timeout(10):  # the market maker pulls its quotes
                while await mm_view.fetch_open_orders(SYM):
                    await asyncio.sleep(0.05)
            srv.clearing.admin(lambda ts: MarketResume(ts))
            async with asyncio.timeout(15):  # and quotes again once trading resumes
                while not await mm_view.fetch_open_orders(SYM):
                    await asyncio.sleep(0.1)

        outs = {}
        for name, proc in (("marketmaker", mm), ("taker", tk), ("random", rnd)):
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err.decode()
            outs[name] = out.decode()
        got = {k: json.loads(p.read_text()) for k, p in reports.items()}

        total = Decimal(0)
        for name, rep in got.items():
            assert f"crossbook bot {name}: account {rep['account']}" in outs[name]
            for word in ("position", "PnL", "margin", "unrealized", "equity"):
                assert word in outs[name]
            async with client(srv, rep["account"]) as view:
                positions = await view.fetch_positions([SYM])
                held = positions[0].signed_contracts if positions else Decimal(0)
                assert Decimal(rep["position"]) == held, name
                realized = positions[0].realizedPnl if positions else Decimal(0)
                assert Decimal(rep["realized_pnl"]) == realized, name  # (equity moves with marks)
                assert await view.fetch_open_orders() == []  # each cancelled on the way out
            total += held
        assert total == 0  # they traded only with each other
        assert got["taker"]["fills"] > 0  # (it takes from the maker or the random bot)
        assert sum(r["fills"] for r in got.values()) >= 2 * got["taker"]["fills"]
        assert got["random"]["orders_sent"] > 20


def test_market_maker_quotes_and_skew() -> None:
    class FakeMarket:
        lot = Decimal("0.001")
        tick = Decimal("0.5")

        def round_price(self, v: Decimal, up: bool = False) -> Decimal:
            q = (v / self.tick).to_integral_value(rounding="ROUND_CEILING" if up else
                                                  "ROUND_FLOOR")  # fmt: skip
            return q * self.tick

    mm = MarketMaker.__new__(MarketMaker)
    mm.market = FakeMarket()  # type: ignore[assignment]
    mm.half_spread = Decimal("0.001")
    mm.skew = Decimal("0.001")
    mm.max_position_lots = 10
    mm.position = Decimal(0)
    flat = mm.targets(Decimal(60000))
    assert flat == {"buy": Decimal("59940"), "sell": Decimal("60060")}
    mm.position = Decimal("0.005")  # long half the limit: both quotes move down
    long = mm.targets(Decimal(60000))
    assert long["buy"] < flat["buy"] and long["sell"] < flat["sell"]  # type: ignore[operator]
    mm.position = Decimal("0.010")  # at the limit: only the reducing side
    assert mm.targets(Decimal(60000))["buy"] is None
    mm.position = Decimal("-0.010")
    assert mm.targets(Decimal(60000))["sell"] is None


def test_taker_leans_against_its_position() -> None:
    import random

    tk = Taker.__new__(Taker)
    tk.market = type("M", (), {"lot": Decimal("0.001")})()  # type: ignore[assignment]
    tk.max_position_lots = 10
    tk.rng = random.Random(1)
    tk.position = Decimal("0.010")
    assert {tk.choose_side() for _ in range(20)} == {"sell"}
    tk.position = Decimal("-0.010")
    assert {tk.choose_side() for _ in range(20)} == {"buy"}
    tk.position = Decimal("0.008")
    sells = sum(tk.choose_side() == "sell" for _ in range(2000))
    assert sells > 1300  # leaning: about 82 % sells
