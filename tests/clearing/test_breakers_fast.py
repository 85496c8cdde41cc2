"""The breakers' fast paths (``on_trade`` inlined, ``on_tick`` skipping instruments with no
timer running) give exactly what the straightforward composition of the helpers gives:
the same outputs and the same state after random sequences of every input."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.breaker_config import mean_to_tick
from clearing.breakers import TRADING, BreakerConfig, CircuitBreakers

S = 1_000_000_000


class Reference(CircuitBreakers):
    """``on_trade`` and ``on_tick`` as they were written before the fast paths."""

    def on_trade(self, symbol: str, ts: int, price: int) -> list:
        st_, rejected = self._check("on_trade", symbol, ts)
        if st_ is None:
            return rejected
        if not (type(price) is int and 0 < price <= 2**62):
            return super().on_trade(symbol, ts, price)  # the same refusal
        ts = self._clock(ts)
        out = self._advance(st_, ts)
        cfg = st_.config
        st_.trades.add(ts, price)
        st_.trades.evict(ts - cfg.luld_window_ns)
        st_.reference = mean_to_tick(st_.trades.total, len(st_.trades), cfg.tick_size)
        out.extend(self._send_band(st_, ts, force=False))
        if st_.phase == TRADING and not self.market_halted:
            tripped = self._velocity(st_, ts, price)
            if tripped:
                out.extend(tripped)
            else:
                self._evaluate_limit(st_, ts)
        return out

    def on_tick(self, ts: int) -> list:
        if not (type(ts) is int and ts >= 0):
            return super().on_tick(ts)
        ts = self._clock(ts)
        out: list = []
        for st_ in self._symbols.values():
            out.extend(self._advance(st_, ts))
        return out


CONFIGS = {
    "A": BreakerConfig(static_band_ppm=50_000, tiers=((None, 40_000),), velocity_ppm=30_000,
                       velocity_window_ns=20 * S, luld_window_ns=40 * S, limit_state_ns=5 * S,
                       pause_ns=4 * S, call_period_ns=S, tick_size=5),
    "B": BreakerConfig(static_band_ppm=80_000, velocity_ppm=0, luld_window_ns=10 * S,
                       limit_state_ns=2 * S, pause_ns=20 * S, call_period_ns=5 * S),
}  # fmt: skip

def _steps(rng: random.Random, n: int) -> list[tuple]:
    """Mostly trades on A around a walking price whose moves sit on the velocity limit
    (100 -> 103 is exactly 3 %), with tops, ticks, market halts and junk in between."""
    out = []
    center = 100
    for _ in range(n):
        kind = rng.choices(["trade", "top", "tick", "halt", "resume", "bad"],
                           [60, 14, 15, 2, 6, 3])[0]  # fmt: skip
        sym = rng.choices(["A", "B", "Z"], [70, 25, 5])[0]
        dt = rng.choice((0, 1, S // 10, S // 2, S, 3 * S, 25 * S))
        center = max(60, center + rng.choice((-4, -3, -1, 0, 0, 1, 3, 4)))
        price = center
        if rng.random() < 0.5:  # exactly 3 % apart: up from 100, down from 100
            price = rng.choice((100, 103) if rng.random() < 0.5 else (97, 100))
        out.append((kind, sym, dt, price, rng.randint(-3, 3)))
    return out


def _run(steps: list) -> None:
    fast, ref = CircuitBreakers(CONFIGS), Reference(CONFIGS)
    ts = 0
    for kind, sym, dt, price, spread in steps:
        ts += dt
        price *= 5
        for b in (fast, ref):
            if kind == "trade":
                got = b.on_trade(sym, ts, price)
            elif kind == "top":
                got = b.on_top_of_book(sym, ts, price - 5 * spread, price + 5 * spread)
            elif kind == "tick":
                got = b.on_tick(ts)
            elif kind == "halt":
                got = b.market_halt(ts, "test")
            elif kind == "resume":
                got = b.market_resume(ts)
            else:
                got = b.on_trade(sym, ts - 10 * S, -price) + b.on_trade(sym, -1, price)
            if b is fast:
                fast_out = got
            else:
                assert got == fast_out
        assert fast.export_state() == ref.export_state()


@pytest.mark.parametrize("seed", range(20))
def test_fast_paths_equal_the_reference(seed: int) -> None:
    _run(_steps(random.Random(seed), 400))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 200))
def test_fast_paths_equal_the_reference_any_seed(seed: int, n: int) -> None:
    _run(_steps(random.Random(seed), n))
