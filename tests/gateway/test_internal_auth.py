"""Internal links with ``--role``: CURVE with one key pair per role, known peers only.

Three role processes run; strangers then try each internal port with a valid CURVE client
key that is not the port's peer role (an account's key, a fresh key, the other role's key)
and without CURVE, sending well-formed internal messages (an order and a balance query for
account 1 on the gateway link, a matcher ``hello`` on the matcher link, which a trusting
clearing would answer with every book). They get nothing, and nothing they sent happened.
A peer with the right role key does get an answer (so silence means refusal)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from clearing.core.inputs import PlaceOrder, pack_input
from gateway import keys as keyfiles
from gateway.roles import links
from gateway.roles.internal_auth import role_name
from tests.gateway.test_serve_processes import bot, serve, stop, write_config

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]
QUIET_S = 1.5


def _gateway_link_message() -> bytes:
    order = pack_input(PlaceOrder(1, 0, 1, 9, 1, "BTC-PERP", -1, 1, 600_000, 0, 0, "stranger",
                                  False, False, 0, 0))  # fmt: skip
    query = [1, 1, 10, {"v": 1, "type": "query_balances", "req_id": 10, "asset": None}]
    return links.pack(["stranger-run", 1, [order], [query], []])


async def _answered(ctx: zmq.asyncio.Context, endpoint: str, message: bytes,
                    client: keyfiles.KeyPair | None, server_public: bytes) -> bool:  # fmt: skip
    """Whether anything comes back from ``endpoint`` within ``QUIET_S``."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    try:
        if client is not None:
            sock.curve_secretkey = client.secret
            sock.curve_publickey = client.public
            sock.curve_serverkey = server_public
        sock.connect(endpoint)
        await sock.send(message)
        return bool(await sock.poll(int(QUIET_S * 1000), zmq.POLLIN))
    finally:
        sock.close(linger=0)


async def test_strangers_get_nothing_on_any_internal_port(tmp_path: Path) -> None:
    cfg, eps, state = write_config(tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        async with (
            serve("--config", str(cfg), "--role", "matching") as matching,
            serve("--config", str(cfg), "--role", "clearing") as clearing,
            serve("--config", str(cfg), "--role", "gateway") as gateway,
        ):
            owner = bot(ctx, eps, state, 1)
            await owner.logon()  # the roles found each other over CURVE
            server = keyfiles.load_keypair(
                keyfiles.public_path(state, role_name("clearing"))).public  # fmt: skip
            role = {r: keyfiles.load_secret(keyfiles.secret_path(state, role_name(r)))
                    for r in ("gateway", "matching")}  # fmt: skip
            strangers = {
                "an account's key": keyfiles.load_account_keys(state, 2),
                "a fresh key": keyfiles.generate(),
                "no CURVE": None,
            }
            hello = links.pack(["hello", "stranger", None, 0])
            probes = []
            for name, pair in strangers.items():
                probes.append((f"{name} on the gateway link", eps.clearing,
                               _gateway_link_message(), pair))  # fmt: skip
                probes.append((f"{name} on the matcher link", eps.commands, hello, pair))
            probes.append(("the matching key on the gateway link", eps.clearing,
                           _gateway_link_message(), role["matching"]))  # fmt: skip
            probes.append(("the gateway key on the matcher link", eps.commands, hello,
                           role["gateway"]))  # fmt: skip
            probes.append(("anyone on the old events port", eps.events, hello, None))
            results = await asyncio.gather(*(_answered(ctx, ep, msg, pair, server)
                                             for _, ep, msg, pair in probes))  # fmt: skip
            answered = [p[0] for p, r in zip(probes, results) if r]
            assert answered == [], answered
            # control: the right role key on its link is answered (clearing numbers a gateway)
            ping = links.pack(["control-run", 1, [], [], []])
            assert await _answered(ctx, eps.clearing, ping, role["gateway"], server)
            # nothing a stranger sent happened: account 1 has no order "stranger"
            orders = await owner.query("orders", open_only=False)
            assert [o for o in orders if o["client_order_id"] == "stranger"] == []
            assert (await owner.order("mine", "sell", 1, 600_000))["exec_type"] == "0"
            owner.close()
            codes = [(await stop(p))[0] for p in (gateway, clearing, matching)]
        assert codes == [0, 0, 0]
    finally:
        ctx.destroy(linger=0)
