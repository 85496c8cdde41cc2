"""A real ``crossbook serve`` exchange for client tests: in-process, random ports, tmp state.

``running_exchange(tmp_path)`` starts the embedded exchange (``gateway.serve.Exchange``:
gateway, clearing and matching joined by tcp sockets on 127.0.0.1) on the default
configuration with every endpoint on a port the OS picks and the state directory under
``tmp_path``; ``client(srv, account)`` is an SDK client for one of its demo accounts;
``client_env(srv)`` the environment a subprocess (a bot, the README quickstart) needs to
reach it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearing.config import ClearingConfig
from clients.sdk import Exchange
from gateway.exchange_config import ExchangeConfig, default_config
from gateway.serve import Exchange as Server
from gateway.serve import random_ports

REPO = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def running_exchange(tmp_path: Path, **changes: Any) -> AsyncIterator[Server]:
    cfg: ExchangeConfig = replace(random_ports(default_config()), state_dir=tmp_path / "state",
                                  **changes)  # fmt: skip
    async with Server(cfg, restore=False) as srv:
        yield srv


def quick_reopening(config: ExchangeConfig | None = None) -> ClearingConfig:
    """The default clearing configuration with BTC-PERP reopening after a 1 s call (the
    default pause is minutes long), for tests that halt and resume the market."""
    clearing = (config or default_config()).clearing
    table = {**clearing.breakers.get("BTC-PERP", {}), "pause_ns": 2_000_000_000,
             "call_period_ns": 1_000_000_000}  # fmt: skip
    return replace(clearing, breakers={**clearing.breakers, "BTC-PERP": table})


def client(srv: Server, account: int | None = None, **kw: Any) -> Exchange:
    """An SDK client of ``srv`` on ``account`` (or a free demo account when None)."""
    eps = srv.endpoints
    kw.setdefault("timeout", 5.0)
    if account is not None:
        assert srv.keys is not None
        kw["key"] = srv.keys.files[account]
    else:
        kw["state_dir"] = srv.config.state_dir
    return Exchange(eps["order_entry"], md_endpoint=eps["market_data"],
                    snapshot_endpoint=eps["snapshots"], **kw)  # fmt: skip


def client_env(srv: Server) -> dict[str, str]:
    """Environment for a subprocess client of ``srv`` (the SDK reads these defaults)."""
    eps = srv.endpoints
    env = dict(os.environ)
    env.update(
        CROSSBOOK_ENDPOINT=eps["order_entry"], CROSSBOOK_MD_ENDPOINT=eps["market_data"],
        CROSSBOOK_SNAPSHOT_ENDPOINT=eps["snapshots"],
        CROSSBOOK_STATE_DIR=str(srv.config.state_dir), PYTHONPATH=str(REPO),
    )  # fmt: skip
    return env
