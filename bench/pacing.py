"""Open-loop pacing: planned send times at a fixed rate, and the loop that keeps to them.

Rules (wrk2 / exchange-core style, docs/benchmarks.md):

- Request ``i`` of a step at ``rate`` requests/s is *planned* for
  ``start_ns + i * 10**9 // rate``: absolute deadlines computed from the start, never
  "sleep one interval after the previous send", so lateness never accumulates into drift.
- The sender never sends early. When it is late (a stall of its own, a slow wake-up), it
  sends every request already due at once and catches up; it does not skip or thin out.
- Latency is measured from the planned time (coordinated-omission corrected): a stall is
  charged to every request it delayed. The actual send time is recorded as well, so the
  uncorrected latency (from the send) can be shown beside it.
- The loop itself is clock-, socket- and sleep-agnostic (functions are passed in), so a
  test drives it with a fake clock and a fake server.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

NS_PER_S = 1_000_000_000


def plan_times(rate: float, count: int, start_ns: int = 0) -> array:
    """Planned send times (ns) of ``count`` requests at ``rate`` per second from ``start_ns``.

    Integer arithmetic on the index, so the ``i``-th time is exact whatever ``i`` is.
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0, was {rate!r}")
    if count < 0:
        raise ValueError(f"count must be >= 0, was {count!r}")
    per_ns = round(rate * 1000)  # requests per 10**12 ns: keeps fractional rates exact enough
    scale = NS_PER_S * 1000
    return array("q", (start_ns + i * scale // per_ns for i in range(count)))


def count_for(rate: float, seconds: float) -> int:
    """How many requests a step of ``seconds`` at ``rate`` plans (at least 1)."""
    return max(1, round(rate * seconds))


def drive(
    plan: array,
    clock: Callable[[], int],
    send: Callable[[int], None],
    service: Callable[[], None],
    wait: Callable[[int], None],
    sent: array,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Send request ``i`` (``send(i)``) at or after ``plan[i]``, in order; how many were sent.

    ``sent[i]`` receives the clock reading just before request ``i`` went out.
    ``service()`` is called after every burst of sends (to drain replies);
    ``wait(ns)`` is called with the time left until the next planned send (> 0) and
    may return early (a reply arrived) or late (the machine was busy): the loop re-reads
    the clock either way. A late loop sends every request already due back to back.
    ``stop()``, checked after each ``service()``, ends the loop early (e.g. when the
    server has fallen hopelessly behind); the requests not sent keep ``sent[i]`` as it was.
    """
    n = len(plan)
    i = 0
    while i < n:
        now = clock()
        while i < n and plan[i] <= now:
            sent[i] = clock()
            send(i)
            i += 1
        service()
        if stop is not None and stop():
            break
        if i < n:
            delay = plan[i] - clock()
            if delay > 0:
                wait(delay)
    return i
