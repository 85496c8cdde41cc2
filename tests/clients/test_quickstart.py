"""The README's quickstart, run as it is against a real ``crossbook serve``: it connects on
a demo account, quotes both sides, and prints the fill when another account hits its bid."""

from __future__ import annotations

import asyncio
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.clients.serve_helpers import REPO, client, client_env, running_exchange

pytestmark = pytest.mark.timeout(60)


def quickstart_code() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README.md has no python block under ## Quickstart"
    return m.group(1)


def test_quickstart_is_about_ten_lines() -> None:
    code = [ln for ln in quickstart_code().splitlines() if ln.strip()]
    assert len(code) <= 13


async def test_quickstart_quotes_and_prints_its_fills(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart_code(), encoding="utf-8")
    async with running_exchange(tmp_path) as srv:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=tmp_path, env=client_env(srv),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with client(srv, 6) as taker:  # an account the quickstart cannot claim first
                async with asyncio.timeout(20):
                    while True:
                        book = await taker.fetch_order_book("BTC/USD:USD")
                        if book.bids and book.asks:
                            break
                        if proc.returncode is not None:
                            _, err = await proc.communicate()
                            pytest.fail(f"the quickstart stopped: {err.decode()}")
                        await asyncio.sleep(0.1)
                bid = book.bids[0][0]
                sold = await taker.create_order("BTC/USD:USD", "limit", "sell", "0.004", bid,
                                                {"timeInForce": "IOC"})  # fmt: skip
                assert sold.filled == Decimal("0.004")
                assert proc.stdout is not None
                line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
            fields = line.split()
            assert fields[1:] == ["buy", "0.004", "@", str(bid)], line
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
