"""``crossbook serve`` as real processes: one role per process behaves like the embedded
mode, and SIGTERM stops cleanly (final settlement snapshot, exit code 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from clearing.snapshot import load_snapshot, verify_snapshot
from gateway import keys as keyfiles
from gateway.exchange_config import Endpoints, default_toml
from gateway.snapshot_store import list_snapshots, read_snapshot_bytes, snapshot_dir
from tests.gateway.serve_helpers import Bot

pytestmark = pytest.mark.timeout(90)
START_S = 30.0


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write_config(tmp_path: Path, **exchange: int) -> tuple[Path, Endpoints, Path]:
    """A copy of the embedded default on free ports, with its state under ``tmp_path``
    (``exchange``: ``[exchange]`` settings to change, e.g. ``snapshot_every_fills=200``)."""
    ports = _free_ports(6)
    names = list(Endpoints.__dataclass_fields__)
    eps = Endpoints(**{n: f"tcp://127.0.0.1:{p}" for n, p in zip(names, ports, strict=True)})
    text = default_toml()
    for n, default in Endpoints().as_dict().items():
        text = text.replace(f'{n} = "{default}"', f'{n} = "{getattr(eps, n)}"')
    state = tmp_path / "state"
    text = text.replace('state_dir = "./crossbook-state"',
                        f'state_dir = "{state}"\nstream_heartbeat_ms = 50\ndrain_timeout_ms = 3000')
    for key, value in exchange.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        if not n:
            text = text.replace("[exchange]\n", f"[exchange]\n{key} = {value}\n", 1)
    path = tmp_path / "exchange.toml"
    path.write_text(text)
    return path, eps, state


@contextlib.asynccontextmanager
async def serve(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), START_S)
        assert line.startswith(b"crossbook serve"), line + (await proc.stderr.read())
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, bytes, bytes]:
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), START_S)
    assert proc.returncode is not None
    return proc.returncode, out, err


def bot(ctx: zmq.asyncio.Context, eps: Endpoints, state: Path, account: int) -> Bot:
    pair = keyfiles.load_account_keys(state, account)
    return Bot(ctx, eps.order_entry, pair, keyfiles.load_server_public(state))


def final_state(state: Path) -> dict:
    snaps = list_snapshots(snapshot_dir(state))
    assert snaps, "no snapshot written"
    content = read_snapshot_bytes(snaps[-1])
    assert verify_snapshot(content).ok
    return load_snapshot(content).state


async def test_three_role_processes_trade_like_the_embedded_mode(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        async with (
            serve("--config", str(cfg), "--role", "matching") as matching,
            serve("--config", str(cfg), "--role", "clearing") as clearing,
            serve("--config", str(cfg), "--role", "gateway") as gateway,
        ):
            maker, taker = bot(ctx, eps, state, 1), bot(ctx, eps, state, 2)
            await maker.logon()
            await taker.logon()
            assert (await maker.order("m", "sell", 10, 600_000))["exec_type"] == "0"
            assert (await taker.order("t", "buy", 10, 600_000))["exec_type"] == "0"
            t_fill = await taker.wait_for(lambda m: m.get("exec_type") == "F")
            m_fill = await maker.wait_for(lambda m: m.get("exec_type") == "F")
            assert t_fill["trade_id"] == m_fill["trade_id"] and t_fill["ord_status"] == "2"
            assert all(t_fill[h] > 0 for h in ("ts_gw_in", "ts_clr_in", "ts_me_in", "ts_gw_out"))
            assert [p["qty"] for p in await taker.query("positions")] == [10]
            maker.close()
            taker.close()
            results = {}
            for name, proc in (("gateway", gateway), ("clearing", clearing),
                               ("matching", matching)):  # fmt: skip
                results[name] = await stop(proc)
        for name, (code, _out, err) in results.items():
            assert code == 0, f"{name} exited {code}: {err.decode()[-2000:]}"
        st = final_state(state)
        assert st["accounts"][2]["positions"]["BTC-PERP"]["size"] == 10
        assert st["accounts"][1]["positions"]["BTC-PERP"]["size"] == -10
    finally:
        ctx.destroy(linger=0)


async def test_sigterm_writes_a_final_snapshot_and_exits_zero(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        async with serve("--config", str(cfg)) as proc:
            b = bot(ctx, eps, state, 3)
            await b.logon()
            await b.order("rest", "buy", 2, 590_000)
            b.close()
            code, out, err = await stop(proc)
        assert code == 0, err.decode()[-2000:]
        assert b"final snapshot" in out
        st = final_state(state)
        assert st["accounts"][3]["holds"]["held"] > 0  # the resting order, as it stood
        raw = msgpack.unpackb(read_snapshot_bytes(list_snapshots(snapshot_dir(state))[-1]),
                              strict_map_key=False)  # fmt: skip
        assert raw["header"]["last_fill_seq"] == st["last_fill_seq"] > 0
    finally:
        ctx.destroy(linger=0)
