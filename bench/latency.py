"""Latency recording for the benchmarks: HdrHistograms in nanoseconds, summaries in µs.

Rules:

- Values are recorded in integer nanoseconds into an ``hdrh`` histogram covering 0 to
  ``HIGHEST_NS`` with 3 significant digits; a value outside the range (negative, or
  beyond it) is clamped into it and counted in ``clamped``, never silently dropped.
- ``summary`` gives the percentiles every report uses (p50, p90, p99, p99.9, p99.99, max,
  mean, count) in µs rounded to 0.1 µs; an empty histogram gives ``None`` for each.
- ``corrected_and_uncorrected`` is the coordinated-omission rule in one place: latency from
  the planned send time (corrected) and from the actual send time (uncorrected).
- ``percentile_curve`` walks a histogram the way HdrHistogram's plotters do: points
  (percentile, value) with the percentile also given as "number of nines"
  ``-log10(1 - p/100)`` for a log x axis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_NS = 1
HIGHEST_NS = 120 * 1_000_000_000
SIGNIFICANT_DIGITS = 3

PERCENTILES: dict[str, float] = {
    "p50_us": 50.0,
    "p90_us": 90.0,
    "p99_us": 99.0,
    "p999_us": 99.9,
    "p9999_us": 99.99,
}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)


class Recorder:
    """An HdrHistogram plus the count of values clamped into its range."""

    __slots__ = ("clamped", "hist")

    def __init__(self) -> None:
        self.hist = new_histogram()
        self.clamped = 0

    def record(self, value_ns: int) -> None:
        if value_ns < 0:
            value_ns = 0
            self.clamped += 1
        elif value_ns > HIGHEST_NS:
            value_ns = HIGHEST_NS
            self.clamped += 1
        self.hist.record_value(value_ns)

    def record_all(self, values_ns: Iterable[int]) -> None:
        for v in values_ns:
            self.record(int(v))

    @property
    def count(self) -> int:
        return int(self.hist.get_total_count())


def _us(ns: float) -> float:
    return round(ns / 1000.0, 1)


def summary(rec: Recorder) -> dict[str, float | int | None]:
    """``{p50_us, p90_us, p99_us, p999_us, p9999_us, max_us, mean_us, count}``."""
    h = rec.hist
    n = int(h.get_total_count())
    out: dict[str, float | int | None] = {}
    for key, pct in PERCENTILES.items():
        out[key] = _us(h.get_value_at_percentile(pct)) if n else None
    out["max_us"] = _us(h.get_max_value()) if n else None
    out["mean_us"] = _us(h.get_mean_value()) if n else None
    out["count"] = n
    if rec.clamped:
        out["clamped"] = rec.clamped
    return out


def corrected_and_uncorrected(
    planned_ns: int, sent_ns: int, received_ns: int
) -> tuple[int, int]:
    """(latency from the planned time, latency from the actual send), both in ns.

    The first charges the sender's own lateness (a stall, a queue) to the request; the
    second is what a generator measuring only from its send would report.
    """
    return received_ns - planned_ns, received_ns - sent_ns


def nines(percentile: float) -> float:
    """The "number of nines" of a percentile: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    if percentile >= 100.0:
        return math.inf
    return -math.log10(1.0 - percentile / 100.0)


def percentile_curve(rec: Recorder, ticks_per_half_distance: int = 5) -> list[tuple[float, int]]:
    """(percentile, value_ns) points from 0 up to the last recorded value (max included)."""
    h = rec.hist
    if h.get_total_count() == 0:
        return []
    points: list[tuple[float, int]] = []
    for item in h.get_percentile_iterator(ticks_per_half_distance):
        pct = float(item.percentile_level_iterated_to)
        value = int(h.get_highest_equivalent_value(item.value_iterated_to))
        if pct >= 100.0:
            break
        points.append((pct, value))
    points.append((100.0, int(h.get_max_value())))
    return points


def hgrm_text(rec: Recorder, unit_scaling: float = 1000.0) -> str:
    """HdrHistogram's ``.hgrm`` percentile table (values divided by ``unit_scaling``: µs)."""
    import io

    buf = io.BytesIO()
    rec.hist.output_percentile_distribution(buf, unit_scaling)
    return buf.getvalue().decode("ascii", "replace")
