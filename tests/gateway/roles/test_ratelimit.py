"""Token buckets: burst, refill, and the wait they report, against a simple model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.roles.ratelimit import RateLimiter, TokenBucket


def test_burst_then_refill() -> None:
    b = TokenBucket(rate=10, burst=3, now=0.0)
    assert [b.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = b.take(0.0)
    assert wait == pytest.approx(0.1)
    assert b.take(0.05) == pytest.approx(0.05)
    assert b.take(0.1) == 0.0
    assert b.take(10.0) == 0.0 and b.tokens == pytest.approx(2.0)  # capped at burst


def test_limiter_keeps_accounts_apart_and_reports_whole_ms() -> None:
    lim = RateLimiter(rate=1, burst=1)
    assert lim.take(1, 0.0) == 0
    assert lim.take(1, 0.0) == 1000
    assert lim.take(2, 0.0) == 0
    assert lim.take(1, 0.9995) == 1  # never 0 while refused


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1, 0.0)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)


@settings(max_examples=200, deadline=None)
@given(rate=st.integers(1, 100), burst=st.integers(1, 20),
       gaps=st.lists(st.integers(0, 300), max_size=60))  # fmt: skip
def test_never_more_than_burst_plus_rate_times_time(rate: int, burst: int,
                                                    gaps: list[int]) -> None:  # fmt: skip
    b = TokenBucket(rate, burst, 0.0)
    now, passed = 0.0, 0
    for gap in gaps:
        now += gap / 1000
        if b.take(now) == 0.0:
            passed += 1
        assert passed <= burst + rate * now + 1e-9
