"""The SDK gets a paged answer whole (``gateway.roles.query_pages``): ``fetch_open_orders``
over 600 open orders (6 ``query_reply`` frames built over 6 loop turns) while the same
session places more orders, whose reports interleave with the pages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.clients.serve_helpers import client, running_exchange
from tests.clients.test_sdk_e2e import SYM, quotes

pytestmark = pytest.mark.timeout(60)
OPEN = 600


async def test_fetch_open_orders_over_many_pages(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as mm:
        await mm.load_markets()
        bid_px, _ = await quotes(mm, "0.01")

        async def place(n: int) -> list[str]:
            orders = await asyncio.gather(*(
                mm.create_order(SYM, "limit", "buy", "0.001", bid_px, {"postOnly": True})
                for _ in range(n)))  # fmt: skip
            assert all(o.status == "open" for o in orders)
            return [o.id for o in orders]

        before: list[str] = []
        for _ in range(OPEN // 100):
            before += await place(100)
        fetch = asyncio.ensure_future(mm.fetch_open_orders(SYM))
        during = await place(20)  # while the answer is paged out
        got = [o.id for o in await fetch]
        assert len(got) == len(set(got))
        assert set(before) <= set(got) <= set(before) | set(during)
        assert len(await mm.fetch_open_orders(SYM)) == OPEN + 20
