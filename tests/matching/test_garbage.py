"""The matcher leaves no cyclic garbage: what it drops, reference counting frees at once.

A filled, cancelled or expired order leaves every index with its links cleared, and
nothing else the engine makes is cyclic, so a shell may run the hot path with the
collector's automatic passes off (``crossbook bench matcher --gc freeze`` does) and never
pay a collector pause for the matcher.
"""

from __future__ import annotations

import gc

from matching import MatchingEngine
from tests.matching.test_state import INSTRUMENTS, command_log


def test_a_busy_log_leaves_nothing_for_the_collector() -> None:
    log = command_log(5, 3_000)
    engine = MatchingEngine(INSTRUMENTS)
    gc.collect()
    gc.disable()
    try:
        events = [e for cmd in log for e in engine.apply(cmd)]
        events += engine.apply_batch(command_log(6, 500, log[-1].ts))  # type: ignore[attr-defined]
        del events
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0
    assert len(engine.orders) > 0  # the log left a book behind, and it is not garbage
