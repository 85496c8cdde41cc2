"""Coordinated-omission correction: latency from the planned send time (bench/e2e_analysis.py).

A simulated open-loop run (bench.pacing.drive with a fake clock and a fake server that
answers 20 µs after each send) checks what the corrected and uncorrected histograms show
when the *sender* stalls and when the *server* stalls.
"""

from __future__ import annotations

from array import array
from collections import Counter

from bench.e2e_analysis import analyse_step
from bench.e2e_rules import held
from bench.latency import corrected_and_uncorrected
from bench.loadgen import CANCEL, MAKER, TAKER, StepData, StepFrames
from bench.pacing import drive, plan_times

RATE = 1_000
N = 2_000
SERVICE_NS = 20_000
STALL_NS = 100_000_000


def _simulate(sender_stall: bool, server_stall: bool) -> StepData:
    plan = plan_times(RATE, N, start_ns=1_000_000_000)
    sent = array("q", bytes(8 * N))
    ack = array("q", bytes(8 * N))
    fill = array("q", bytes(8 * N))
    t = [0]
    stall_from = plan[1000]
    stall_to = stall_from + STALL_NS

    def send(i: int) -> None:
        now = t[0]
        if server_stall and stall_from <= now < stall_to:
            ack[i] = stall_to + SERVICE_NS  # held in the server until the stall ends
        else:
            ack[i] = now + SERVICE_NS
        if i % 3 == 1:
            fill[i] = ack[i] + 5_000
        if sender_stall and i == 1000:
            t[0] += STALL_NS

    def wait(ns: int) -> None:
        t[0] += ns

    drive(plan, lambda: t[0], send, lambda: None, wait, sent)
    kind = bytearray((MAKER, TAKER, CANCEL)[i % 3] for i in range(N))
    frames = StepFrames(base=1, frames=[b""] * N, sock=array("H", [0] * N), kind=kind)
    return StepData(RATE, frames, plan, sent, ack, fill, replies=Counter(), sent_count=N)


def test_the_correction_rule() -> None:
    assert corrected_and_uncorrected(planned_ns=100, sent_ns=150, received_ns=400) == (300, 250)


def test_a_sender_stall_is_charged_to_every_delayed_request() -> None:
    entry, recs = analyse_step(_simulate(sender_stall=True, server_stall=False), warmup_ns=0)
    # ~100 of 2,000 requests were planned inside the 100 ms stall: 5 %, waiting 100..0 ms
    assert recs["send_lag"].count == N
    unc = entry["ack_uncorrected"]
    assert unc["max_us"] == 20.0  # the naive view: nothing happened
    assert entry["p50_us"] == 20.0
    assert entry["p99_us"] > 75_000  # corrected: the stall shows in the tail
    assert 97_000 < entry["max_us"] < 100_100  # request 1002 waited 98 ms
    assert entry["fill"]["p99_us"] > 75_000
    assert entry["fill_uncorrected"]["max_us"] == 25.0
    assert entry["send_lag"]["max_us"] > 99_000


def test_a_server_stall_shows_in_both_views_because_sending_goes_on() -> None:
    entry, _ = analyse_step(_simulate(sender_stall=False, server_stall=True), warmup_ns=0)
    assert entry["send_lag"]["max_us"] == 0.0
    assert entry["p99_us"] > 75_000
    assert entry["ack_uncorrected"]["p99_us"] == entry["p99_us"]


def test_without_stalls_both_views_agree_and_the_rate_is_achieved() -> None:
    entry, _ = analyse_step(_simulate(sender_stall=False, server_stall=False), warmup_ns=0)
    assert entry["p50_us"] == entry["max_us"] == 20.0
    assert entry["ack_uncorrected"] == entry["ack"]
    assert entry["requests"] == N and entry["unanswered"] == 0
    assert entry["taker_orders"] == entry["taker_fills"] == 667
    assert entry["requests_by_kind"] == {"maker": 667, "taker": 667, "cancel": 666}
    assert abs(entry["achieved_orders_per_s"] - RATE) < 5


def test_a_growing_queue_is_seen_in_the_thirds_and_the_timeline() -> None:
    data = _simulate(sender_stall=False, server_stall=False)
    for i in range(N):  # a server that serves 10 % slower than requests arrive
        data.ack[i] = data.plan[0] + int((i + 1) * 1.1 * 1_000_000)
    entry, _ = analyse_step(data, warmup_ns=0)
    first, middle, last = entry["median_by_third_us"]
    assert first < middle < last and last > 2 * first + 1000
    assert not held(entry)[0]
    tl = entry["timeline"]
    assert tl["bin_ms"] == 100 and len(tl["max_us"]) == 20  # 2 s in 100 ms bins
    assert tl["max_us"][-1] > tl["max_us"][0]


def test_refusals_count_rejects_but_not_cancels_that_came_too_late() -> None:
    data = _simulate(sender_stall=False, server_stall=False)
    data.replies.update({"0": 1300, "8": 2, "reject": 3, "reject:RATE_LIMITED": 3,
                         "cancel_reject": 7, "cancel_reject:UNKNOWN_ORDER": 6,
                         "cancel_reject:INVALID_FIELD": 1})  # fmt: skip
    entry, _ = analyse_step(data, warmup_ns=0)
    assert entry["errors"] == 2 + 3 + 1
    assert entry["cancels_too_late"] == 6


def test_the_warm_up_is_not_counted() -> None:
    entry, _ = analyse_step(_simulate(sender_stall=True, server_stall=False),
                            warmup_ns=1_500_000_000)  # fmt: skip
    assert entry["requests"] == 500  # planned in the last 0.5 s
    assert entry["max_us"] == 20.0  # the stall at 1.0 s was in the warm-up
