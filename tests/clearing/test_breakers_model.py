"""Property tests: the breakers against naive reference models (no deques, no running sums).

The models recompute everything from the full trade history with ``fractions.Fraction``,
so they share no arithmetic shortcut with the implementation.
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from clearing.breaker_windows import ExtremaWindow, MeanWindow
from clearing.breakers import (
    RULE_VELOCITY,
    BandUpdated,
    BreakerConfig,
    BreakerTripped,
    CircuitBreakers,
)

S = 1_000_000_000

# prices in ticks; the small set puts moves exactly on 5 % (20 -> 21, 40 -> 42, 20 -> 19)
trades = st.lists(
    st.tuples(
        # whole seconds hit the window edges exactly; any ns in between
        st.one_of(st.integers(0, 10).map(lambda g: g * S), st.integers(0, 10 * S)),
        st.one_of(st.integers(1, 400), st.sampled_from([19, 20, 21, 40, 42])),
    ),
    min_size=1,
    max_size=60,
)


def timeline(steps: list[tuple[int, int]], tick: int) -> list[tuple[int, int]]:
    """Turn (gap, price in ticks) pairs into (ts, price) trades on the tick."""
    out = []
    ts = 0
    for gap, ticks in steps:
        ts += gap
        out.append((ts, ticks * tick))
    return out


def model_band(reference: Fraction, ppm: int, tick: int) -> tuple[int, int]:
    low = math.ceil(reference * (1 - Fraction(ppm, 1_000_000)) / tick) * tick
    high = math.floor(reference * (1 + Fraction(ppm, 1_000_000)) / tick) * tick
    return max(low, tick), high


@settings(max_examples=150, deadline=None)
@given(
    steps=trades,
    tick=st.sampled_from([1, 5, 25]),
    window_s=st.integers(1, 120),
    tiers=st.sampled_from(
        [((None, 50_000),), ((2_000, 200_000), (None, 30_000)), ((500, 1), (None, 999_999))]
    ),
)
def test_band_matches_a_recomputed_mean(
    steps: list[tuple[int, int]], tick: int, window_s: int, tiers: tuple
) -> None:
    cfg = BreakerConfig(tick_size=tick, luld_window_ns=window_s * S, tiers=tiers, velocity_ppm=0)
    b = CircuitBreakers({"X": cfg})
    history: list[tuple[int, int]] = []
    sent: tuple[int, int] | None = None
    for ts, price in timeline(steps, tick):
        history.append((ts, price))
        recent = [p for t, p in history if t > ts - window_s * S]
        mean = Fraction(sum(recent), len(recent))
        reference = max(tick, math.floor(mean / tick + Fraction(1, 2)) * tick)
        ppm = next(p for m, p in tiers if m is None or reference <= m)
        band = model_band(Fraction(reference), ppm, tick)
        out = b.on_trade("X", ts, price)
        updates = [o for o in out if isinstance(o, BandUpdated)]
        if band != sent:
            assert updates == [BandUpdated(ts, "X", band[0], band[1], reference)]
            sent = band
        else:
            assert updates == []
        assert b.reference("X") == reference
        low, high = band
        # inside the exact band, on the tick, and never empty around a tick-aligned reference
        assert low % tick == 0 and high % tick == 0 and low <= reference <= high


@settings(max_examples=150, deadline=None)
@example(steps=[(0, 20), (S, 21)], velocity_ppm=50_000, window_s=10, pause_s=10)  # exactly 5 %
@example(steps=[(0, 20), (S, 19)], velocity_ppm=50_000, window_s=10, pause_s=10)
@example(steps=[(0, 20), (S, 22)], velocity_ppm=50_000, window_s=10, pause_s=10)
@given(
    steps=trades,
    velocity_ppm=st.sampled_from([10_000, 35_000, 50_000, 200_000]),
    window_s=st.integers(1, 30),
    pause_s=st.integers(1, 60),
)
def test_velocity_matches_a_pairwise_check(
    steps: list[tuple[int, int]], velocity_ppm: int, window_s: int, pause_s: int
) -> None:
    cfg = BreakerConfig(
        velocity_ppm=velocity_ppm,
        velocity_window_ns=window_s * S,
        pause_ns=pause_s * S,
        call_period_ns=0,
        tiers=((None, 999_999),),
    )
    b = CircuitBreakers({"X": cfg})
    since_reset: list[tuple[int, int]] = []
    halted_until: int | None = None
    for ts, price in timeline(steps, 100):
        if halted_until is not None and ts >= halted_until:
            halted_until = None
        expected_trip = None
        if halted_until is None:
            recent = [(t, p) for t, p in since_reset if t > ts - window_s * S]
            moves = [
                (Fraction(abs(price - p), p), p)
                for t, p in recent
                if abs(price - p) * 1_000_000 > velocity_ppm * p
            ]
            if moves:
                expected_trip = max(moves)
                halted_until = ts + pause_s * S
                since_reset = []
            else:
                since_reset.append((ts, price))
        out = b.on_trade("X", ts, price)
        trips = [o for o in out if isinstance(o, BreakerTripped)]
        if expected_trip is None:
            assert trips == []
        else:
            assert len(trips) == 1 and trips[0].rule == RULE_VELOCITY
            move, _ = expected_trip
            figures = trips[0].figures
            assert figures["move_ppm"] == math.floor(move * 1_000_000)
            # the trade named is one that gives the largest move
            named = figures["from_price"]
            assert isinstance(named, int) and Fraction(abs(price - named), named) == move
        assert b.is_halted("X") == (halted_until is not None)


@settings(max_examples=100, deadline=None)
@given(
    samples=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 50)), max_size=80),
    width=st.integers(1, 10),
)
def test_windows_match_a_plain_list(samples: list[tuple[int, int]], width: int) -> None:
    mean, extrema = MeanWindow(), ExtremaWindow()
    kept: list[tuple[int, int]] = []
    ts = 0
    for gap, price in samples:
        ts += gap
        for w in (mean, extrema):
            w.add(ts, price)
            w.evict(ts - width)
        kept = [(t, p) for t, p in [*kept, (ts, price)] if t > ts - width]
        assert list(mean.samples) == kept and mean.total == sum(p for _, p in kept)
        assert extrema.low()[1] == min(p for _, p in kept)
        assert extrema.high()[1] == max(p for _, p in kept)
        assert MeanWindow.restore(mean.export()).samples == mean.samples
        again = ExtremaWindow.restore(extrema.export())
        assert (again.lows, again.highs) == (extrema.lows, extrema.highs)
