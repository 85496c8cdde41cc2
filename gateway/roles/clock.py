"""The injectable clock: the one place the exchange's shells read the time.

The engines never read a clock; the role shells stamp commands with ``clock.time_ns()``
(wall time, ns since the epoch, the ``ts`` of every command and the hop timestamps of every
execution report) and drive their timers with ``clock.monotonic()`` (seconds, never jumps).
Tests inject a ``ManualClock`` where they need to move time by hand.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time_ns(self) -> int:
        """Wall time, integer nanoseconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for timers and timeouts."""
        ...


class WallClock:
    """The real clock."""

    __slots__ = ()

    time_ns = staticmethod(time.time_ns)
    monotonic = staticmethod(time.monotonic)


class ManualClock:
    """A clock that moves only when told to (``advance``); both readings move together."""

    __slots__ = ("_mono", "_ns")

    def __init__(self, start_ns: int = 1_767_225_600_000_000_000) -> None:
        self._ns = start_ns
        self._mono = 0.0

    def time_ns(self) -> int:
        return self._ns

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        self._mono += seconds
        self._ns += int(seconds * 1e9)


WALL_CLOCK = WallClock()
