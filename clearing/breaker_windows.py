"""Rolling windows of trade prices for the circuit breakers: a running mean and running extremes.

Rules of this module:

1. A window ending at time ``t`` with length ``W`` holds the samples with ``t - W < ts <= t``;
   ``evict(cutoff)`` drops every sample with ``ts <= cutoff``. Samples arrive in
   non-decreasing time order (the caller's clock never runs backwards).
2. Integers only: the mean is kept as an exact (total, count) pair.
3. Amortised O(1) per sample: the extremes are monotonic deques (each sample enters and
   leaves each deque once).
4. ``export()`` returns plain lists of ints and ``restore()`` rebuilds the identical window.
"""

from __future__ import annotations

from collections import deque


class MeanWindow:
    """Trade prices in a time window, with their exact running total."""

    __slots__ = ("samples", "total")

    def __init__(self) -> None:
        self.samples: deque[tuple[int, int]] = deque()
        self.total = 0

    def __len__(self) -> int:
        return len(self.samples)

    def add(self, ts: int, price: int) -> None:
        self.samples.append((ts, price))
        self.total += price

    def evict(self, cutoff: int) -> None:
        samples = self.samples
        while samples and samples[0][0] <= cutoff:
            self.total -= samples.popleft()[1]

    def export(self) -> list[list[int]]:
        return [[ts, price] for ts, price in self.samples]

    @classmethod
    def restore(cls, rows: list[list[int]]) -> MeanWindow:
        window = cls()
        for ts, price in rows:
            window.add(ts, price)
        return window


class ExtremaWindow:
    """The lowest and highest trade price in a time window (monotonic deques).

    ``lows`` holds candidates for the minimum with strictly increasing prices, ``highs``
    candidates for the maximum with strictly decreasing prices; among equal prices the
    latest sample is kept (it stays in the window longest).
    """

    __slots__ = ("highs", "lows")

    def __init__(self) -> None:
        self.lows: deque[tuple[int, int]] = deque()
        self.highs: deque[tuple[int, int]] = deque()

    def __bool__(self) -> bool:
        return bool(self.lows)

    def add(self, ts: int, price: int) -> None:
        lows, highs = self.lows, self.highs
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((ts, price))
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((ts, price))

    def evict(self, cutoff: int) -> None:
        for dq in (self.lows, self.highs):
            while dq and dq[0][0] <= cutoff:
                dq.popleft()

    def low(self) -> tuple[int, int]:
        """``(ts, price)`` of the lowest sample (the window must not be empty)."""
        return self.lows[0]

    def high(self) -> tuple[int, int]:
        """``(ts, price)`` of the highest sample (the window must not be empty)."""
        return self.highs[0]

    def clear(self) -> None:
        self.lows.clear()
        self.highs.clear()

    def export(self) -> dict[str, list[list[int]]]:
        return {
            "lows": [[ts, p] for ts, p in self.lows],
            "highs": [[ts, p] for ts, p in self.highs],
        }

    @classmethod
    def restore(cls, data: dict[str, list[list[int]]]) -> ExtremaWindow:
        window = cls()
        window.lows.extend((ts, p) for ts, p in data["lows"])
        window.highs.extend((ts, p) for ts, p in data["highs"])
        return window
