"""The simulated index: a seeded, reproducible random walk that stays positive."""

from __future__ import annotations

import pytest

from gateway.roles.index_feed import RandomWalkIndex


def test_same_seed_same_path_and_prices_stay_positive_ints() -> None:
    a = RandomWalkIndex({"BTC": 600_000, "ETH": 3}, seed=7, step_ppm=200_000)
    b = RandomWalkIndex({"ETH": 3, "BTC": 600_000}, seed=7, step_ppm=200_000)
    path_a = [a.step() for _ in range(200)]
    assert path_a == [b.step() for _ in range(200)]
    assert all(type(p) is int and p >= 1 for step in path_a for _, p in step)
    assert [n for n, _ in path_a[0]] == ["BTC", "ETH"]
    assert path_a != [RandomWalkIndex({"BTC": 600_000, "ETH": 3}, 8, 200_000).step()
                      for _ in range(200)]  # fmt: skip


def test_zero_step_stands_still_and_negative_is_refused() -> None:
    still = RandomWalkIndex({"BTC": 100}, seed=1, step_ppm=0)
    assert still.step() == [("BTC", 100)]
    with pytest.raises(ValueError):
        RandomWalkIndex({"BTC": 100}, seed=1, step_ppm=-1)
