"""The open-loop pacing schedule and the loop that keeps to it (bench/pacing.py)."""

from __future__ import annotations

from array import array

import pytest

from bench.pacing import count_for, drive, plan_times


def test_plan_times_are_exact_absolute_deadlines() -> None:
    plan = plan_times(1000, 5, start_ns=7)
    assert list(plan) == [7, 1_000_007, 2_000_007, 3_000_007, 4_000_007]
    # a rate whose interval is not a whole number of ns: no drift, the i-th is exact
    plan = plan_times(3, 1_000_001)
    assert plan[1] == 333_333_333
    assert plan[3] == 1_000_000_000
    assert plan[1_000_000] == 1_000_000 * 1_000_000_000 // 3
    assert all(plan[i] < plan[i + 1] for i in range(0, len(plan) - 1, 9973))


def test_plan_times_fractional_rate_and_bad_input() -> None:
    assert list(plan_times(0.5, 3)) == [0, 2_000_000_000, 4_000_000_000]
    with pytest.raises(ValueError):
        plan_times(0, 3)
    with pytest.raises(ValueError):
        plan_times(10, -1)
    assert count_for(1000, 1.25) == 1250
    assert count_for(1, 0.1) == 1


class FakeClock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


def _run(plan: array, clock: FakeClock, stall_at: int | None = None, stall_ns: int = 0,
         oversleep_ns: int = 0) -> tuple[array, list[tuple[int, int]]]:  # fmt: skip
    sent = array("q", bytes(8 * len(plan)))
    log: list[tuple[int, int]] = []

    def send(i: int) -> None:
        log.append((i, clock.t))
        if i == stall_at:
            clock.t += stall_ns  # the sender itself freezes (GC pause, descheduled)

    def wait(ns: int) -> None:
        assert ns > 0
        clock.t += ns + oversleep_ns

    drive(plan, clock, send, lambda: None, wait, sent)
    return sent, log


def test_drive_sends_every_request_in_order_never_early() -> None:
    clock = FakeClock()
    plan = plan_times(10_000, 500, start_ns=1_000)
    sent, log = _run(plan, clock, oversleep_ns=30_000)  # each wake-up 30 µs late
    assert [i for i, _ in log] == list(range(500))
    assert all(sent[i] >= plan[i] for i in range(500))
    # lateness does not accumulate: deadlines are absolute, so every send is < 30 µs late
    assert max(sent[i] - plan[i] for i in range(500)) <= 30_000


def test_drive_catches_up_after_a_stall_with_a_burst() -> None:
    clock = FakeClock()
    plan = plan_times(1_000, 300)
    sent, _ = _run(plan, clock, stall_at=100, stall_ns=50_000_000)
    stall_end = plan[100] + 50_000_000
    late = [i for i in range(300) if sent[i] > plan[i]]
    # the 50 requests planned during the stall all go out the moment it ends
    assert late == list(range(101, 150))
    assert all(sent[i] == stall_end for i in late)
    assert all(sent[i] == plan[i] for i in range(150, 300))


def test_drive_stop_ends_early() -> None:
    clock = FakeClock()
    plan = plan_times(1_000, 100)
    sent = array("q", bytes(800))
    calls = []

    def wait(ns: int) -> None:
        clock.t += ns

    n = drive(plan, clock, calls.append, lambda: None, wait, sent, stop=lambda: len(calls) >= 10)
    assert n == 10 and calls == list(range(10))
    assert all(sent[i] == 0 for i in range(10, 100))
