"""One e2e step's measurements turned into its ``rates[]`` entry and histograms (pure).

Rules (docs/benchmarks.md, "e2e"):

- Counted requests are those planned at or after the warm-up, actually sent, and not
  heartbeat fillers. A "request" is an order-entry message (new orders and cancels); the
  rate counts all of them, as exchange-core counts every command.
- Every counted request is timed from its *planned* send time to its first reply (order
  -> ack) and, for a taker order, to its first fill (order -> fill): a stall anywhere, the
  generator included, is charged to every request it delayed (coordinated omission
  corrected). The same replies timed from the *actual* send give the uncorrected
  histograms, kept for comparison. ``p50_us``..``max_us`` of a step are order -> ack of
  new orders; cancels and fills have their own summaries.
- Refusals are rejects, rejected orders and cancel rejects other than "the order is gone"
  (a cancel that meets an order already filled is the flow's own race, counted apart).
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

from bench.latency import Recorder, summary

TIMELINE_BIN_MS = 100
HOP_SEGMENTS = (
    ("client_to_gw_in", None, "ts_gw_in"),
    ("gw_in_to_clr_in", "ts_gw_in", "ts_clr_in"),
    ("clr_in_to_clr_out", "ts_clr_in", "ts_clr_out"),
    ("clr_out_to_me_in", "ts_clr_out", "ts_me_in"),
    ("me_in_to_me_out", "ts_me_in", "ts_me_out"),
    ("me_out_to_gw_out", "ts_me_out", "ts_gw_out"),
    ("gw_out_to_client", "ts_gw_out", None),
)
ERROR_REPLIES = ("8", "reject", "cancel_reject")
CANCEL_TOO_LATE = ("cancel_reject:UNKNOWN_ORDER",)


def window_start(plan: array, warmup_ns: int) -> int:
    """Index of the first request planned at or after ``plan[0] + warmup_ns``."""
    if not plan:
        return 0
    limit = plan[0] + warmup_ns
    lo, hi = 0, len(plan)
    while lo < hi:
        mid = (lo + hi) // 2
        if plan[mid] < limit:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _median_p99(values: list[int]) -> tuple[float, float]:
    values.sort()
    n = len(values)
    return (round(values[n // 2] / 1000.0, 1),
            round(values[min(n - 1, (99 * n) // 100)] / 1000.0, 1))  # fmt: skip


def analyse_step(data: Any, warmup_ns: int) -> tuple[dict[str, Any], dict[str, Recorder]]:
    """One step's entry for ``rates`` and its histograms, from a ``loadgen.StepData``.

    Counted requests: planned at or after the warm-up, actually sent, not fillers.
    """
    from bench.loadgen import CANCEL, FILLER, KIND_NAMES, MAKER, TAKER

    plan, sent, ack, fill = data.plan, data.sent, data.ack, data.fill
    kind = data.frames.kind
    n_sent = data.sent_count
    w0 = window_start(plan, warmup_ns)
    names = ("ack", "ack_uncorrected", "fill", "fill_uncorrected", "cancel", "send_lag")
    recs = {name: Recorder() for name in names}
    counted = Counter()
    unanswered = 0
    filled = 0
    first_plan = plan[w0] if w0 < n_sent else 0
    last_answer = 0
    for i in range(w0, n_sent):
        k = kind[i]
        if k == FILLER:
            continue
        counted[KIND_NAMES[k]] += 1
        recs["send_lag"].record(sent[i] - plan[i])
        a = ack[i]
        if not a:
            unanswered += 1
            continue
        last_answer = max(last_answer, a)
        if k == CANCEL:
            recs["cancel"].record(a - plan[i])
        else:
            recs["ack"].record(a - plan[i])
            recs["ack_uncorrected"].record(a - sent[i])
        if k == TAKER and fill[i]:
            filled += 1
            recs["fill"].record(fill[i] - plan[i])
            recs["fill_uncorrected"].record(fill[i] - sent[i])
            last_answer = max(last_answer, fill[i])
    thirds, timeline = _trend_and_timeline(plan, ack, kind, w0, n_sent)
    total = sum(counted.values())
    answered = total - unanswered
    span_s = (last_answer - first_plan) / 1e9 if last_answer > first_plan else 0.0
    achieved = answered / span_s if span_s > 0 else 0.0
    last_sent = max((sent[i] for i in range(w0, n_sent)), default=0)
    sent_span = (last_sent - first_plan) / 1e9 if last_sent > first_plan else 0.0
    # refusals: rejects, rejected orders, and cancel rejects other than "the order is gone"
    # (a cancel that meets an order already filled is the flow's race, counted apart)
    too_late = sum(v for k, v in data.replies.items() if k in CANCEL_TOO_LATE)
    errors = sum(v for k, v in data.replies.items() if k in ERROR_REPLIES) - too_late
    ack_sum = summary(recs["ack"])
    entry: dict[str, Any] = {"rate": data.rate}
    for key in ("p50_us", "p90_us", "p99_us", "p999_us", "p9999_us", "max_us", "mean_us"):
        entry[key] = ack_sum[key]
    entry.update({
        "achieved_orders_per_s": round(achieved, 1),
        "sent_per_s": round(total / sent_span, 1) if sent_span > 0 else 0.0,
        "requests": total,
        "requests_by_kind": {KIND_NAMES[k]: counted[KIND_NAMES[k]] for k in (MAKER, TAKER, CANCEL)},
        "answered": answered,
        "unanswered": unanswered,
        "taker_orders": counted[KIND_NAMES[TAKER]],
        "taker_fills": filled,
        "errors": errors,
        "cancels_too_late": too_late,
        "aborted": bool(data.aborted),
        "ack": ack_sum,
        "ack_uncorrected": summary(recs["ack_uncorrected"]),
        "fill": summary(recs["fill"]),
        "fill_uncorrected": summary(recs["fill_uncorrected"]),
        "cancel": summary(recs["cancel"]),
        "send_lag": summary(recs["send_lag"]),
        "replies": dict(sorted(data.replies.items())),
        "unmatched_replies": data.unmatched,
        "median_by_third_us": thirds,
        "timeline": timeline,
    })  # fmt: skip
    entry["hop_medians_us"], entry["hop_p99_us"], entry["hop_samples"] = hop_stats(data, w0)
    return entry, recs


def _trend_and_timeline(
    plan: array, ack: array, kind: bytearray, w0: int, n_sent: int
) -> tuple[list[float | None], dict[str, Any]]:
    """Median order -> ack latency (µs) of each third of the window, by planned time; and
    the max / median per ``TIMELINE_BIN_MS`` bin (the "hiccup" series)."""
    from bench.loadgen import CANCEL, FILLER

    if w0 >= n_sent:
        return [None, None, None], {"bin_ms": TIMELINE_BIN_MS, "max_us": [], "p50_us": []}
    t0 = plan[w0]
    span = max(1, plan[n_sent - 1] - t0 + 1)
    bin_ns = TIMELINE_BIN_MS * 1_000_000
    thirds: list[list[int]] = [[], [], []]
    bins: list[list[int]] = [[] for _ in range((span + bin_ns - 1) // bin_ns)]
    for i in range(w0, n_sent):
        if kind[i] in (FILLER, CANCEL) or not ack[i]:
            continue
        lat = ack[i] - plan[i]
        off = plan[i] - t0
        thirds[min(2, 3 * off // span)].append(lat)
        bins[off // bin_ns].append(lat)

    def med(v: list[int]) -> float | None:
        return round(sorted(v)[len(v) // 2] / 1000.0, 1) if v else None

    timeline = {"bin_ms": TIMELINE_BIN_MS,
                "max_us": [round(max(b) / 1000.0, 1) if b else None for b in bins],
                "p50_us": [med(b) for b in bins]}  # fmt: skip
    return [med(t) for t in thirds], timeline


def hop_stats(data: Any, w0: int) -> tuple[dict[str, float], dict[str, float], int]:
    """Median and p99 (µs) of each hop segment over the sampled acknowledgements."""
    from gateway.protocol import HOP_FIELDS

    where = {name: i for i, name in enumerate(HOP_FIELDS)}
    segs: dict[str, list[int]] = {name: [] for name, _, _ in HOP_SEGMENTS}
    off = data.wall_offset_ns
    used = 0
    for idx, received, stamps in data.hops:
        if idx < w0 or not all(stamps):
            continue
        used += 1
        for name, a, b in HOP_SEGMENTS:
            start = data.sent[idx] + off if a is None else stamps[where[a]]
            end = received + off if b is None else stamps[where[b]]
            segs[name].append(end - start)
    med: dict[str, float] = {}
    p99: dict[str, float] = {}
    for name, values in segs.items():
        if values:
            med[name], p99[name] = _median_p99(values)
    return med, p99, used
