"""Two SDK sessions of one account at once: each one's requests are answered to it (the
other sees the pushes without a request id), ``cancel_all_orders`` included."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from tests.clients.serve_helpers import client, running_exchange

pytestmark = pytest.mark.timeout(60)
SYM = "BTC/USD:USD"


async def test_cancel_all_orders_from_the_second_of_two_sessions(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as a, client(srv, 1) as b:
        mark = (await a.fetch_ticker(SYM)).markPrice
        assert mark is not None
        px = a.market(SYM).round_price(mark * Decimal("0.999"))
        oa = await a.create_order(SYM, "limit", "buy", "0.001", px)
        ob = await b.create_order(SYM, "limit", "buy", "0.002", px)
        await asyncio.sleep(0.2)  # each session has seen the other's New by now
        gone = await b.cancel_all_orders(SYM)  # the second session: answered, not timed out
        assert {o.id for o in gone} == {oa.id, ob.id}
        assert all(o.status == "canceled" for o in gone)
        gone_a = await a.cancel_all_orders()  # nothing left: answered with nothing
        assert gone_a == []
        assert await a.fetch_open_orders() == [] and await b.fetch_open_orders() == []
