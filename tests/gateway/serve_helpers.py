"""Helpers for the ``crossbook serve`` tests: a running embedded exchange and a small bot.

``running_exchange(tmp_path, ...)`` starts ``gateway.serve.Exchange`` on random 127.0.0.1
ports with its state in ``tmp_path``. ``Bot`` is a ZeroMQ DEALER with CURVE that speaks
``gateway.protocol``: it keeps every message it received (``seen``) and checks that the
session ``seq`` runs 1, 2, 3, ... without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from gateway import keys as keyfiles
from gateway.auth import curve_client
from gateway.exchange_config import ExchangeConfig, Limits, default_config
from gateway.protocol import decode_push, encode
from gateway.serve import Exchange, random_ports

WAIT_S = 10.0


def make_config(tmp_path: Path, **changes: Any) -> ExchangeConfig:
    cfg = random_ports(default_config())
    limits = changes.pop("limits", None)
    base = {"state_dir": tmp_path / "state", "snapshot_every_s": None,
            "stream_heartbeat_ms": 50, "check_outbound": True}
    cfg = replace(cfg, **{**base, **changes})
    if limits is not None:
        cfg = replace(cfg, limits=replace(Limits(), **limits))
    return cfg


@contextlib.asynccontextmanager
async def running_exchange(tmp_path: Path, *, restore: bool = True,
                           config: ExchangeConfig | None = None,
                           **changes: Any) -> AsyncIterator[Exchange]:  # fmt: skip
    cfg = config or make_config(tmp_path, **changes)
    async with Exchange(cfg, restore=restore) as ex:
        yield ex
        # every message the exchange sent was valid (check_outbound) and nothing failed
        assert ex.gateway.stats.errors == 0, ex.gateway.stats
        assert ex.clearing.stats.bad_link_messages == 0


class Bot:
    """One bot session: DEALER + CURVE, protocol messages in and out."""

    def __init__(self, ctx: zmq.asyncio.Context, endpoint: str, pair: keyfiles.KeyPair,
                 server_public: bytes) -> None:  # fmt: skip
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        curve_client(self.sock, pair, server_public)
        self.sock.connect(endpoint)
        self.seen: list[dict] = []
        self.last_seq = 0
        self._req = 0

    @classmethod
    def for_account(cls, ctx: zmq.asyncio.Context, ex: Exchange, account: int) -> Bot:
        assert ex.keys is not None
        pair = keyfiles.load_secret(ex.keys.files[account])
        return cls(ctx, ex.endpoints["order_entry"], pair, ex.keys.server.public)

    def close(self) -> None:
        self.sock.close(linger=0)

    def next_req(self) -> int:
        self._req += 1
        return self._req

    async def send(self, msg: dict) -> int:
        msg = {"v": 1, **msg}
        if "req_id" not in msg:
            msg["req_id"] = self.next_req()
        await self.sock.send(encode(msg))
        return msg["req_id"]

    async def send_raw(self, *frames: bytes) -> None:
        await self.sock.send_multipart(list(frames))

    async def recv(self, timeout: float = WAIT_S) -> dict:
        frame = await asyncio.wait_for(self.sock.recv(), timeout)
        msg = decode_push(frame)
        assert isinstance(msg, dict), f"exchange sent an invalid message: {msg!r}"
        assert msg["seq"] == self.last_seq + 1, f"seq gap: {self.last_seq} -> {msg['seq']}"
        self.last_seq = msg["seq"]
        self.seen.append(msg)
        return msg

    async def wait_for(self, pred: Callable[[dict], bool], timeout: float = WAIT_S) -> dict:
        """The first message (already seen or arriving) matching ``pred``."""
        for msg in self.seen:
            if pred(msg) and not msg.get("_taken"):
                msg["_taken"] = True
                return msg
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.001, deadline - loop.time()))
            if pred(msg):
                msg["_taken"] = True
                return msg

    async def request(self, msg: dict, kind: str | None = None) -> dict:
        """Send ``msg`` and return the reply echoing its req_id (of type ``kind`` if given)."""
        req_id = await self.send(msg)
        return await self.wait_for(
            lambda m: m.get("req_id") == req_id and (kind is None or m["type"] == kind)
        )

    async def logon(self, **fields: Any) -> dict:
        ack = await self.request({"type": "logon", **fields})
        assert ack["type"] == "logon_ack", ack
        return ack

    async def query(self, what: str, **fields: Any) -> list[dict]:
        req_id = await self.send({"type": f"query_{what}", **fields})
        items: list[dict] = []
        while True:
            m = await self.wait_for(lambda m: m.get("req_id") == req_id)
            assert m["type"] == "query_reply", m
            items += m["items"]
            if m["last"]:
                return items

    async def order(self, clid: str, side: str, qty: int, price: int | None,
                    instrument: str = "BTC-PERP", **fields: Any) -> dict:  # fmt: skip
        """Place an order; return its first report (New or Rejected) or a reject."""
        req_id = await self.send({"type": "new_order", "instrument": instrument, "side": side,
                                  "qty": qty, "price": price, "client_order_id": clid,
                                  **fields})  # fmt: skip
        return await self.wait_for(
            lambda m: m.get("req_id") == req_id
            and (m["type"] == "reject" or m.get("exec_type") in ("0", "8"))
        )

    def reports(self, clid: str) -> list[dict]:
        return [m for m in self.seen
                if m["type"] == "exec_report" and m["client_order_id"] == clid]  # fmt: skip


def hops_ordered(report: dict) -> bool:
    names = ("ts_gw_in", "ts_clr_in", "ts_clr_out", "ts_me_in", "ts_me_out", "ts_gw_out")
    values = [report[n] for n in names]
    return all(v > 0 for v in values) and values == sorted(values)
