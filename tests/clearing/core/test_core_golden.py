"""The exchange core's every output on seeded random flows, pinned: a speed change must give
the very same replies, market data, touched accounts, clearing outputs, rounds and states.

The digests below were computed by the core before the speed work of issue 8 (branch
``clearing-speed``). Each flow mixes what the fast paths skip or cache: two instruments
(one with circuit breakers and an index, one marked by TWAP), fees and rebates, margin
tiers, accounts thin enough to be called and liquidated, reduce-only and post-only
orders, IOC and market orders, self-trade modes, amends, cancels, mass cancels,
sessions with cancel-on-disconnect, index moves large enough to trip the breakers, and
timer ticks. A change of the rules (not of the speed) changes these digests: recompute
them with ``python -m tests.clearing.core.test_core_golden`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from clearing.commands import Deposit, IndexPrice, Tick
from clearing.core.inputs import (
    AmendOrderRequest,
    CancelAll,
    CancelOrderRequest,
    GatewayUp,
    Logon,
    Logout,
    MassCancelOrders,
    PlaceOrder,
)
from clearing.core.state import state_hash
from clearing.pipeline import Pipeline
from tests.clearing.conftest import make_config

GOLDEN = {
    1: "67d1a19a91bb8a490342a7f665ce8ed444c0d3b575cf1b83bb934f1df25b2725",
    2: "113d1073dc0060f4d2c44efe0e6b050e54f402f1b74d49a62f0bc4e42117a989",
    3: "bc5bb86ea7a859c747da03501a804a3e863d2772ab7276b913bc29e07d4afa18",
    4: "bc51c1e7cb40143d80e06adc705a6319375df95da9c6593a1d3d90f618e764a5",
    5: "6d70c682ed5c7ae9b4923d8b61436f4c58b1e4c4afa1d763b169d3d3ce0ee97c",
}


def _config() -> object:
    return make_config(
        X={"mark_band_ppm": 20_000, "taker_fee_ppm": 300, "maker_fee_ppm": -50,
           "impact_notional": 1_000, "tick_size": 1, "imf_ppm": None, "mmf_ppm": None,
           "margin_tiers": [{"up_to": 20_000, "imf_ppm": 100_000, "mmf_ppm": 50_000},
                            {"imf_ppm": 150_000, "mmf_ppm": 80_000}],
           "breakers": {"static_band_ppm": 60_000, "velocity_ppm": 40_000,
                        "velocity_window_ns": 30_000_000_000, "limit_state_ns": 5_000_000_000,
                        "pause_ns": 60_000_000_000, "call_period_ns": 20_000_000_000}},
        instruments_add={"Y": {"kind": "perpetual", "contract_size": "0.000001",
                               "reference_price": 50, "imf_ppm": 200_000, "mmf_ppm": 100_000,
                               "maker_fee_ppm": 0, "taker_fee_ppm": 1_000, "max_qty": 100_000,
                               "twap_window_ns": 30_000_000_000}},
        accounts=[{"id": 1, "deposits": {"USD": 700}}, {"id": 2, "deposits": {"USD": 1_000}},
                  {"id": 3, "deposits": {"USD": 1_000_000}},
                  {"id": 4, "deposits": {"USD": 2_000, "BTC": 1_000_000}}],
    )  # fmt: skip


def flow(seed: int, batches: int) -> list[list]:
    """A seeded batch list touching every path of the order loop (module docstring)."""
    rng = random.Random(seed)
    out: list[list] = [[GatewayUp(1, "golden", 1)],
                       [Logon(2, 1, a, a, a % 2 == 1) for a in (1, 2, 3, 4)]]  # fmt: skip
    ts = 1_000
    index = {"X": 100, "BTC": 50_000}
    n = 0
    for _ in range(batches):
        batch: list = []
        for _ in range(rng.randint(1, 40)):
            ts += rng.choice((1, 1_000, 1_000_000, 2_000_000_000))
            n += 1
            a = rng.randint(1, 4)
            sym = "X" if rng.random() < 0.75 else "Y"
            mid = index["X"] if sym == "X" else 50
            r = rng.random()
            if r < 0.62:
                side = rng.choice((1, -1))
                ord_type = 1 if rng.random() < 0.05 else 2
                batch.append(PlaceOrder(
                    ts, 1, a, n, a, sym, side, rng.randint(1, 60),
                    mid - side * rng.randint(-3, 4), ord_type, rng.choice((1, 1, 1, 3, 4)),
                    f"c{n}" if rng.random() > 0.02 else "dup", rng.random() < 0.1,
                    rng.random() < 0.1, rng.choice((0, 0, 0, 1, 2, 3, 4)), 0))  # fmt: skip
            elif r < 0.74:
                if rng.random() < 0.5:
                    batch.append(CancelOrderRequest(ts, 1, a, n, a, None,
                                                    rng.randint(max(1, n // 2 - 20), n // 2 + 5),
                                                    None))  # fmt: skip
                else:
                    batch.append(CancelOrderRequest(ts, 1, a, n, a, sym, None,
                                                    f"c{rng.randint(1, n)}"))  # fmt: skip
            elif r < 0.82:
                batch.append(AmendOrderRequest(
                    ts, 1, a, n, a, None, rng.randint(max(1, n // 2 - 20), n // 2 + 5), None,
                    mid + rng.randint(-4, 4) if rng.random() < 0.8 else None,
                    rng.randint(1, 70) if rng.random() < 0.5 else None))  # fmt: skip
            elif r < 0.84:
                batch.append(MassCancelOrders(ts, 1, a, n, a, rng.choice((None, "X", "Y"))))
            elif r < 0.85:
                batch.append(CancelAll(ts, 1, 0, a, 9))
            elif r < 0.91:
                name = rng.choice(("X", "X", "BTC"))
                step = rng.choice((-1, 1)) * rng.choice((1, 1, 2, 5, 9))
                index[name] = max(60, index[name] + step) if name == "X" else max(
                    1_000, index[name] + step * 500)
                batch.append(IndexPrice(ts, name, index[name]))
            elif r < 0.97:
                batch.append(Tick(ts))
            elif r < 0.985:
                batch.append(Deposit(ts, a, "USD", rng.randint(1, 5_000)))
            else:
                batch.append(Logout(ts, 1, a, "bye") if rng.random() < 0.5
                             else Logon(ts, 1, a, a, rng.random() < 0.5))  # fmt: skip
        out.append(batch)
    return out


def digest(seed: int, batches: int = 120) -> str:
    """SHA-256 over every batch's result and the final state of a fresh core."""
    p = Pipeline.from_config(_config())  # type: ignore[arg-type]
    q = Pipeline.from_config(_config())  # type: ignore[arg-type]
    q.core.record_outputs = False
    h = hashlib.sha256()
    for batch in flow(seed, batches):
        res = p.run(batch)
        quiet = q.run(batch)
        assert quiet.replies == res.replies and quiet.market == res.market
        for part in (res.replies, res.market, sorted((a, sorted(s)) for a, s in
                     res.touched.items()), res.outputs, res.rounds):  # fmt: skip
            h.update(repr(part).encode())
            h.update(b"\0")
    p.clearing.validate()
    h.update(state_hash(p.core, p.matcher.state_hash()).encode())
    assert state_hash(q.core, q.matcher.state_hash()) == state_hash(p.core, p.matcher.state_hash())
    return h.hexdigest()


@pytest.mark.parametrize("seed", sorted(GOLDEN))
def test_core_outputs_are_exactly_the_pinned_ones(seed: int) -> None:
    assert digest(seed) == GOLDEN[seed]


if __name__ == "__main__":
    for s in sorted(GOLDEN):
        print(f"    {s}: \"{digest(s)}\",")
