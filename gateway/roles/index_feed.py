"""A simulated index feed: a seeded random walk per index (the demo's oracle).

Each ``step()`` moves every index by a normally distributed relative step of standard
deviation ``step_ppm`` (parts per million), rounded to an integer price unit and never
below 1. The same seed and starting prices give the same path. The clearing role's shell
turns each step into ``IndexPrice`` commands; the engines never see randomness.
"""

from __future__ import annotations

import random
from collections.abc import Mapping


class RandomWalkIndex:
    def __init__(self, start: Mapping[str, int], seed: int, step_ppm: int) -> None:
        if step_ppm < 0:
            raise ValueError("step_ppm must not be negative")
        self.prices = dict(sorted(start.items()))
        self.step_ppm = step_ppm
        self._rng = random.Random(seed)

    def step(self) -> list[tuple[str, int]]:
        """Move every index once; return ``(name, price)`` pairs in name order."""
        out = []
        for name, price in self.prices.items():
            move = self._rng.gauss(0.0, self.step_ppm / 1_000_000)
            new = max(1, round(price * (1.0 + move)))
            self.prices[name] = new
            out.append((name, new))
        return out
