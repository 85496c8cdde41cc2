"""The rules of ``crossbook bench e2e``: when a step holds its rate, which rate comes
next, what the run is checked against (pure functions on the steps' entries).

- ``held``: a step holds its rate when (a) every counted request was answered, (b) the
  achieved rate (answered requests / time from the first counted planned send to the
  last answer) is at least ``HELD_ACHIEVED`` of the target, (c) latency does not grow
  during the step (median of the last third of the window at most ``GROWTH_FACTOR`` times
  the first third's plus ``GROWTH_SLACK_US``: a server that falls behind builds a queue,
  and the queue shows as latency rising with time), (d) the corrected order -> ack p99 is
  at most ``HELD_P99_US``, and (e) at most ``MAX_ERROR_FRACTION`` of the counted requests
  were refused (rejects, cancel rejects, rate limiting). A step that is not sending any
  more because its backlog passed ``BACKLOG_S`` seconds of its rate is ``aborted``.
- ``next_rate``: rates step upward until a step is not held, then bisect between the
  last held and the first failed rate; ``sustained`` is the highest held rate.
- ``target_check``: issue 8's targets (``TARGETS``), each with what was measured.
- The same rules judge the exchange, the sink and the echo that measures the floor;
  ``floor_keys`` sets the exchange beside the echo.
"""

from __future__ import annotations

from typing import Any

DEFAULT_RATES = (1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 50_000)
"""probes past the issue-8 target (20,000/s) up to 50,000/s; 1,000 and 5,000 carry targets"""
FLOOR_RATES = (1_000, 5_000, 10_000, 20_000, 30_000, 50_000, 70_000, 100_000)
"""the echo's ladder: it starts at the low rate its round trip is quoted at"""
HELD_ACHIEVED = 0.95
HELD_P99_US = 10_000.0
GROWTH_FACTOR = 2.0
GROWTH_SLACK_US = 1_000.0
MAX_ERROR_FRACTION = 0.01
BACKLOG_S = 0.5
TARGETS: dict[str, Any] = {
    "sustained_orders_per_s": 20_000,
    "sustained_orders_per_s_processes": 15_000,
    "ack_at_rate": [{"rate": 1_000, "p50_us": 150.0, "p99_us": 1_000.0},
                    {"rate": 5_000, "p99_us": 2_000.0}],
    "server_cpu_us_per_order": 40.0,
}  # fmt: skip
"""issue 8 ("Speed"): embedded mode, journal on, the generator sharing the 2 cores"""


def held(entry: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether a step held its rate, and the reasons it did not (docs/benchmarks.md)."""
    why: list[str] = []
    rate = entry["rate"]
    if entry.get("aborted"):
        why.append(f"aborted: more than {BACKLOG_S} s of requests waiting for an answer")
    if entry["requests"] == 0:
        why.append("no request was counted")
    if entry["unanswered"]:
        why.append(f"{entry['unanswered']} requests unanswered")
    if entry["achieved_orders_per_s"] < HELD_ACHIEVED * rate:
        why.append(f"achieved {entry['achieved_orders_per_s']:.0f}/s < "
                   f"{HELD_ACHIEVED:.0%} of {rate}/s")  # fmt: skip
    first, _, last = entry.get("median_by_third_us") or (None, None, None)
    if first is not None and last is not None and last > GROWTH_FACTOR * first + GROWTH_SLACK_US:
        why.append(f"latency grew during the step (median {first} -> {last} us)")
    p99 = entry["p99_us"]
    if p99 is None or p99 > HELD_P99_US:
        why.append(f"p99 {p99} us > {HELD_P99_US:.0f} us")
    if entry["errors"] > MAX_ERROR_FRACTION * max(1, entry["requests"]):
        why.append(f"{entry['errors']} refused requests > {MAX_ERROR_FRACTION:.0%}")
    return not why, why


def held_rule_text() -> str:
    return (f"held = every counted request answered, achieved rate >= {HELD_ACHIEVED:.0%} of "
            f"the target, median latency of the last third of the step <= {GROWTH_FACTOR:g} x "
            f"the first third's + {GROWTH_SLACK_US / 1000:g} ms, corrected order->ack p99 <= "
            f"{HELD_P99_US / 1000:g} ms, <= {MAX_ERROR_FRACTION:.0%} refused")


def sustained(entries: list[dict[str, Any]]) -> float:
    """The highest rate among held steps (0 when none held)."""
    return max((e["rate"] for e in entries if e.get("held")), default=0)


def at_rate(entries: list[dict[str, Any]], rate: float, key: str) -> Any:
    """``key`` of the step at ``rate`` (None when there is no such step or key)."""
    return next((e.get(key) for e in entries if e["rate"] == rate), None)


def next_rate(tried: list[dict[str, Any]], rates: tuple[int, ...], refine_left: int,
              all_rates: bool) -> int | None:  # fmt: skip
    """The next target rate: the next step up while all held, then bisection; None = done."""
    done = {e["rate"] for e in tried}
    failed = [e["rate"] for e in tried if not e.get("held")]
    if all_rates or not failed:
        rest = [r for r in rates if r not in done]
        return rest[0] if rest else None
    if refine_left <= 0:
        return None
    lo = max((e["rate"] for e in tried if e.get("held")), default=0)
    hi = min(r for r in failed if r > lo) if any(r > lo for r in failed) else None
    if hi is None:
        return None
    mid = _round_rate((lo + hi) / 2)
    if mid in done or mid <= lo or mid >= hi:
        return None
    return mid


def _round_rate(r: float) -> int:
    """Two significant digits, so refined rates read well (15000, 12000, 7500...)."""
    if r < 100:
        return max(1, round(r))
    digits = len(str(int(r))) - 2
    return int(round(r / 10**digits) * 10**digits)


def target_check(entries: list[dict[str, Any]], sustained_rate: float, mode: str,
                 cpu_us_per_order: float | None) -> list[dict[str, Any]]:  # fmt: skip
    """Each of the issue's targets (``TARGETS``): what was measured and whether it was met
    (``met`` None when this run has no figure for it, e.g. a rate that was not stepped)."""
    sustained_key = ("sustained_orders_per_s_processes" if mode == "processes"
                     else "sustained_orders_per_s")  # fmt: skip
    checks: list[dict[str, Any]] = [{
        "what": "sustained_orders_per_s", "mode": mode, "at_least": TARGETS[sustained_key],
        "measured": sustained_rate, "met": sustained_rate >= TARGETS[sustained_key],
    }]  # fmt: skip
    by_rate = {e["rate"]: e for e in entries}
    for target in TARGETS["ack_at_rate"]:
        step = by_rate.get(target["rate"])
        for key in ("p50_us", "p99_us"):
            if key not in target:
                continue
            value = None if step is None else step.get(key)
            checks.append({"what": f"ack {key} at {target['rate']}/s", "at_most": target[key],
                           "measured": value,
                           "met": None if value is None else value <= target[key]})  # fmt: skip
    limit = TARGETS["server_cpu_us_per_order"]
    cpu = cpu_us_per_order
    checks.append({"what": "server_cpu_us_per_order at the sustained rate", "at_most": limit,
                   "measured": cpu, "met": None if cpu is None else cpu <= limit})  # fmt: skip
    return checks


def floor_keys(floor_entries: list[dict[str, Any]] | None,
               sustained_rate: float) -> dict[str, Any]:  # fmt: skip
    """The floor's top-level keys, from the echo's steps (None: the floor was not run).

    ``floor_echo_per_s`` is the highest rate the echo held (the same rule as the
    exchange); ``floor_rtt_p50_us`` the echo's order -> ack p50 at its lowest stepped
    rate (``floor_rtt_rate``), the same measure as the exchange's ``p50_us``;
    ``sustained_to_floor_ratio`` the exchange's sustained rate over the echo's.
    """
    if not floor_entries:
        return {"floor_rtt_p50_us": None, "floor_rtt_rate": None, "floor_echo_per_s": None,
                "sustained_to_floor_ratio": None}  # fmt: skip
    echo = sustained(floor_entries)
    low = min(floor_entries, key=lambda e: e["rate"])
    return {
        "floor_rtt_p50_us": low.get("p50_us"),
        "floor_rtt_rate": low["rate"],
        "floor_echo_per_s": echo,
        "sustained_to_floor_ratio": round(sustained_rate / echo, 3) if echo else None,
    }

