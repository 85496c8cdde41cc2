"""Circuit-breaker timelines driven by a synthetic clock (integer nanoseconds)."""

from __future__ import annotations

import random

import msgpack
import pytest

from clearing.breakers import (
    EMPTY_BAND,
    RULE_LIMIT_STATE,
    RULE_MARKET,
    RULE_VELOCITY,
    BandUpdated,
    BreakerConfig,
    BreakerRejected,
    BreakerResumed,
    BreakerTripped,
    CircuitBreakers,
)
from matching import Halt, OpenAuction, Reason, Resume, SetBand

S = 1_000_000_000
MS = 1_000_000


def make(**kw: object) -> CircuitBreakers:
    return CircuitBreakers({"X": BreakerConfig(**kw)})  # type: ignore[arg-type]


def band_outputs(ts: int, low: int, high: int, ref: int, sym: str = "X") -> list:
    return [SetBand(ts, sym, low, high), BandUpdated(ts, sym, low, high, ref)]


def kinds(outputs: list) -> list[str]:
    return [type(o).__name__ for o in outputs]


def halted_at_limit(b: CircuitBreakers) -> int:
    """Trade at 100_000 at t=0, bid sits at the band high from 10 s: halts at 25 s."""
    b.on_trade("X", 0, 100_000)
    assert b.on_top_of_book("X", 10 * S, 105_000, 106_000) == []
    out = b.on_tick(25 * S)
    assert kinds(out) == ["Halt", "BreakerTripped"]
    return 25 * S


# ---------------------------------------------------------------- dynamic band -------
def test_first_trade_sets_band_around_it() -> None:
    b = make()
    assert b.band("X") is None and b.reference("X") is None
    assert b.on_trade("X", 0, 100_000) == band_outputs(0, 95_000, 105_000, 100_000)
    assert b.band("X") == (95_000, 105_000)


def test_band_follows_the_five_minute_mean() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    # mean 101_000, +-5 %
    assert b.on_trade("X", 60 * S, 102_000) == band_outputs(60 * S, 95_950, 106_050, 101_000)
    # mean 102_000
    assert b.on_trade("X", 120 * S, 104_000) == band_outputs(120 * S, 96_900, 107_100, 102_000)
    # at 300 s the window is (0, 300]: the first trade has just left it -> mean 103_000
    assert b.on_trade("X", 300 * S, 103_000) == band_outputs(300 * S, 97_850, 108_150, 103_000)
    # at 301 s: trades 102_000, 104_000, 103_000, 104_000 -> mean 103_250
    out = b.on_trade("X", 301 * S, 104_000)
    assert out == band_outputs(301 * S, 98_088, 108_412, 103_250)


def test_band_is_sent_only_when_it_changes() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    assert b.on_trade("X", S, 100_000) == []
    # the mean moves to 100_000.33 -> rounds to the same reference: nothing new
    assert b.on_trade("X", 2 * S, 100_001) == []
    # mean of 100_000, 100_000, 100_001, 100_019 = 100_005 -> band moves
    out = b.on_trade("X", 3 * S, 100_019)
    assert out == band_outputs(3 * S, 95_005, 105_005, 100_005)


def test_no_trade_keeps_the_reference() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    assert b.on_tick(3_600 * S) == []
    assert b.reference("X") == 100_000 and b.band("X") == (95_000, 105_000)
    # the next trade alone makes the reference (the old one left the window)
    assert b.on_trade("X", 3_601 * S, 90_000) == band_outputs(3_601 * S, 85_500, 94_500, 90_000)


def test_reference_rounds_half_up_to_tick_and_band_rounds_inwards() -> None:
    b = make(tick_size=5)
    b.on_trade("X", 0, 1_000)
    # mean 1002.5 = 200.5 ticks -> 201 ticks = 1005; band 954.75 .. 1055.25 -> 955 .. 1055
    assert b.on_trade("X", S, 1_005) == band_outputs(S, 955, 1_055, 1_005)
    # mean 1001.67 -> 200.33 ticks -> 1000; band 950 .. 1050 exactly
    assert b.on_trade("X", 2 * S, 1_000) == band_outputs(2 * S, 950, 1_050, 1_000)
    narrow = make(tick_size=5, tiers=[(None, 33_333)])
    # 1000 * (1 -+ 0.033333) = 966.667 .. 1033.333 -> 970 .. 1030 (inside the exact band)
    assert narrow.on_trade("X", 0, 1_000) == band_outputs(0, 970, 1_030, 1_000)


def test_band_never_goes_below_one_tick() -> None:
    b = make(tick_size=5, tiers=[(None, 999_999)])
    assert b.on_trade("X", 0, 10) == band_outputs(0, 5, 15, 10)


def test_band_tiers_by_reference() -> None:
    tiers = [(1_000, 200_000), (10_000, 100_000), (None, 50_000)]
    b = CircuitBreakers({s: BreakerConfig(tiers=tiers) for s in ("A", "B", "C")})
    # at the tier boundary the wider tier applies
    assert b.on_trade("A", 0, 1_000) == band_outputs(0, 800, 1_200, 1_000, "A")
    # 1001 * (1 -+ 10 %) = 900.9 .. 1101.1 -> 901 .. 1101
    assert b.on_trade("B", 0, 1_001) == band_outputs(0, 901, 1_101, 1_001, "B")
    assert b.on_trade("C", 0, 20_000) == band_outputs(0, 19_000, 21_000, 20_000, "C")
    # the tier follows the reference as it moves: mean 10_001 -> 5 %
    b.on_trade("B", S, 19_001)
    assert b.band("B") == (9_501, 10_501)


# ---------------------------------------------------------------- limit state --------
def test_limit_state_for_15_seconds_halts() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    assert b.on_top_of_book("X", 10 * S, 105_000, 106_000) == []
    assert b.on_tick(25 * S - 1) == []
    assert not b.is_halted("X")
    out = b.on_tick(25 * S)
    assert out == [
        Halt(25 * S, "X", RULE_LIMIT_STATE),
        BreakerTripped(
            25 * S,
            "X",
            RULE_LIMIT_STATE,
            {
                "reference": 100_000,
                "band_low": 95_000,
                "band_high": 105_000,
                "side": "upper",
                "limit_since": 10 * S,
                "duration_ns": 15 * S,
                "limit_state_ns": 15 * S,
                "best_bid": 105_000,
                "pause_ns": 300 * S,
                "call_at": 295 * S,
                "resume_at": 325 * S,
            },
        ),
    ]
    assert b.is_halted("X") and b.phase("X") == "halted"
    assert b.on_tick(26 * S) == []


def test_lower_edge_limit_state_halts() -> None:
    b = make(limit_state_ns=5 * S)
    b.on_trade("X", 0, 100_000)
    b.on_top_of_book("X", S, None, 95_000)
    out = b.on_tick(6 * S)
    assert kinds(out) == ["Halt", "BreakerTripped"]
    assert out[1].figures["side"] == "lower" and out[1].figures["best_ask"] == 95_000


def test_a_shorter_touch_does_not_halt_and_a_new_touch_restarts_the_count() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    b.on_top_of_book("X", 10 * S, 105_000, None)
    assert b.on_top_of_book("X", 24 * S, 104_999, None) == []  # left the edge after 14 s
    assert b.on_tick(100 * S) == []
    b.on_top_of_book("X", 100 * S, 105_000, None)
    # other updates that stay at the edge do not restart it
    b.on_top_of_book("X", 105 * S, 105_000, 105_001)
    assert b.on_tick(114 * S) == []
    out = b.on_tick(115 * S)
    assert kinds(out) == ["Halt", "BreakerTripped"]
    assert out[1].figures["limit_since"] == 100 * S


def test_switching_edge_restarts_the_count() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    b.on_top_of_book("X", 0, 105_000, None)
    b.on_top_of_book("X", 10 * S, None, 95_000)
    assert b.on_tick(20 * S) == []
    assert kinds(b.on_tick(25 * S)) == ["Halt", "BreakerTripped"]


def test_limit_state_found_late_halts_before_the_update_is_applied() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    b.on_top_of_book("X", 10 * S, 105_000, None)
    # no tick in between: the update at 40 s finds 30 s of limit state first
    out = b.on_top_of_book("X", 40 * S, 100_000, None)
    assert kinds(out) == ["Halt", "BreakerTripped"]
    assert out[0].ts == 40 * S and out[1].figures["duration_ns"] == 30 * S


def test_band_move_clears_the_limit_state() -> None:
    b = make(velocity_ppm=0)
    b.on_trade("X", 0, 100_000)
    b.on_top_of_book("X", S, 105_000, None)
    # a trade at the edge lifts the reference to 102_500 and the band high to 107_625
    assert b.on_trade("X", 2 * S, 105_000) == band_outputs(2 * S, 97_375, 107_625, 102_500)
    assert b.on_tick(60 * S) == []
    assert not b.is_halted("X")


def test_no_limit_state_without_a_band() -> None:
    b = make()
    b.on_top_of_book("X", 0, 1, 2)
    assert b.on_tick(100 * S) == []


# ---------------------------------------------------------------- pause and reopen ---
def test_pause_then_call_auction_then_resume_with_the_reference() -> None:
    b = make()
    h = halted_at_limit(b)
    assert b.on_tick(h + 270 * S - 1) == []
    assert b.on_tick(h + 270 * S) == [OpenAuction(h + 270 * S, "X")]
    assert b.is_halted("X") and b.phase("X") == "call"
    # a crossed book during the call is no limit state
    assert b.on_top_of_book("X", h + 280 * S, 105_000, 99_000) == []
    assert b.on_tick(h + 300 * S - 1) == []
    end = h + 300 * S
    assert b.on_tick(end) == [
        Resume(end, "X", 100_000),
        BreakerResumed(
            end,
            "X",
            RULE_LIMIT_STATE,
            {
                "reference": 100_000,
                "band_low": 95_000,
                "band_high": 105_000,
                "halted_at": h,
                "halted_ns": 300 * S,
                "call_ns": 30 * S,
            },
        ),
        *band_outputs(end, 95_000, 105_000, 100_000),
    ]
    assert not b.is_halted("X") and b.phase("X") == "trading"


def test_a_late_tick_opens_the_call_and_resumes_at_once() -> None:
    b = make()
    h = halted_at_limit(b)
    out = b.on_tick(h + 1_000 * S)
    assert kinds(out) == ["OpenAuction", "Resume", "BreakerResumed", "SetBand", "BandUpdated"]


def test_zero_call_period_resumes_at_pause_end() -> None:
    b = make(call_period_ns=0)
    h = halted_at_limit(b)
    assert b.on_tick(h + 300 * S - 1) == []
    assert kinds(b.on_tick(h + 300 * S)) == [
        "OpenAuction",
        "Resume",
        "BreakerResumed",
        "SetBand",
        "BandUpdated",
    ]


def test_reopening_trades_set_the_new_reference() -> None:
    b = make()
    h = halted_at_limit(b)
    b.on_tick(h + 300 * S)
    # the uncross printed at 104_000: the old trade left the window, the band follows
    out = b.on_trade("X", h + 300 * S, 104_000)
    assert out == band_outputs(h + 300 * S, 98_800, 109_200, 104_000)


def test_trades_in_flight_during_a_halt_move_the_reference_but_not_velocity() -> None:
    b = make()
    h = halted_at_limit(b)
    # a fill sequenced before the halt reaches clearing after it
    out = b.on_trade("X", h + S, 110_000)
    assert out == band_outputs(h + S, 99_750, 110_250, 105_000)
    assert b.is_halted("X")
    assert b.export_state()["symbols"]["X"]["velocity"] == {"lows": [], "highs": []}


def test_the_book_still_at_the_edge_after_reopening_counts_anew() -> None:
    b = make()
    h = halted_at_limit(b)  # best bid 105_000 is still the last top of book known
    end = h + 300 * S
    b.on_tick(end)
    assert b.on_tick(end + 15 * S - 1) == []
    out = b.on_tick(end + 15 * S)
    assert kinds(out) == ["Halt", "BreakerTripped"]
    assert out[1].figures["limit_since"] == end


# ---------------------------------------------------------------- velocity -----------
def test_velocity_move_beyond_the_limit_halts_at_once() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    b.on_trade("X", 10 * S, 103_500)  # exactly 3.5 %: not beyond
    assert not b.is_halted("X")
    out = b.on_trade("X", 20 * S, 103_501)
    assert kinds(out) == ["SetBand", "BandUpdated", "Halt", "BreakerTripped"]
    assert out[2] == Halt(20 * S, "X", RULE_VELOCITY)
    assert out[3].figures == {
        "reference": 102_334,
        "band_low": 97_218,
        "band_high": 107_450,
        "from_price": 100_000,
        "from_ts": 0,
        "to_price": 103_501,
        "move_ppm": 35_010,
        "velocity_ppm": 35_000,
        "window_ns": 60 * S,
        "pause_ns": 300 * S,
        "call_at": 290 * S,
        "resume_at": 320 * S,
    }
    assert b.is_halted("X")
    assert b.on_tick(290 * S) == [OpenAuction(290 * S, "X")]
    assert kinds(b.on_tick(320 * S))[:2] == ["Resume", "BreakerResumed"]


def test_velocity_looks_back_only_over_its_window() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    # 60 s later the first trade has left the window (0 <= 60 s - 60 s)
    b.on_trade("X", 60 * S, 96_000)
    assert not b.is_halted("X")
    out = b.on_trade("X", 61 * S, 92_600)  # 3.54 % below 96_000
    assert out[-1].rule == RULE_VELOCITY
    assert out[-1].figures["from_price"] == 96_000
    assert out[-1].figures["move_ppm"] == 35_416


def test_velocity_compares_against_the_extremes_of_the_window() -> None:
    b = make()
    for i, price in enumerate((100_000, 102_000, 101_000, 99_000)):
        b.on_trade("X", i * S, price)
    assert not b.is_halted("X")
    out = b.on_trade("X", 5 * S, 98_400)  # 3.53 % below the window high 102_000
    assert out[-1].figures["from_price"] == 102_000 and out[-1].figures["from_ts"] == S


def test_velocity_window_restarts_after_a_halt() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    b.on_trade("X", S, 104_000)
    assert b.is_halted("X")
    b.on_tick(301 * S)
    assert not b.is_halted("X")
    b.on_trade("X", 302 * S, 100_000)
    b.on_trade("X", 303 * S, 103_000)  # 3 % from the only trade since reopening
    assert not b.is_halted("X")


def test_velocity_off() -> None:
    b = make(velocity_ppm=0)
    b.on_trade("X", 0, 100_000)
    b.on_trade("X", S, 104_900)
    assert not b.is_halted("X")


# ---------------------------------------------------------------- market-wide ---------
def two() -> CircuitBreakers:
    return CircuitBreakers({"X": BreakerConfig(), "Y": BreakerConfig(call_period_ns=10 * S)})


def test_market_halt_and_resume_every_instrument() -> None:
    b = two()
    b.on_trade("X", 0, 100_000)
    out = b.market_halt(S, "operator")
    assert out == [
        Halt(S, "X", RULE_MARKET),
        BreakerTripped(
            S,
            "X",
            RULE_MARKET,
            {"reference": 100_000, "band_low": 95_000, "band_high": 105_000, "reason": "operator"},
        ),
        Halt(S, "Y", RULE_MARKET),
        BreakerTripped(S, "Y", RULE_MARKET, {"reason": "operator"}),
    ]
    assert b.is_halted("X") and b.is_halted("Y") and b.is_halted("nobody")
    assert b.market_halt(2 * S, "again") == []
    assert b.on_tick(10_000 * S) == []  # no timer ends a market-wide halt
    out = b.market_resume(10_000 * S)
    assert out == [OpenAuction(10_000 * S, "X"), OpenAuction(10_000 * S, "Y")]
    assert b.is_halted("X") and b.is_halted("Y") and not b.is_halted("nobody")
    out = b.on_tick(10_010 * S)
    assert kinds(out) == ["Resume", "BreakerResumed"]  # Y: no trade yet, so no band
    assert out[0] == Resume(10_010 * S, "Y", None)
    assert out[1].rule == RULE_MARKET and out[1].figures["halted_ns"] == 10_009 * S
    out = b.on_tick(10_030 * S)
    assert out[0] == Resume(10_030 * S, "X", 100_000)
    assert kinds(out) == ["Resume", "BreakerResumed", "SetBand", "BandUpdated"]
    assert not b.is_halted("X") and not b.is_halted("Y")
    assert b.market_resume(10_031 * S) == []


def test_market_halt_over_an_instrument_pause_keeps_its_own_pause() -> None:
    b = two()
    h = halted_at_limit(b)  # X paused until h + 300 s
    out = b.market_halt(h + 100 * S, "news")
    assert kinds(out) == ["BreakerTripped", "Halt", "BreakerTripped"]
    assert out[0].figures["paused_by"] == RULE_LIMIT_STATE
    assert out[0].figures["phase"] == "halted"
    assert out[0].figures["pause_end"] == h + 300 * S
    assert b.market_resume(h + 120 * S) == [OpenAuction(h + 120 * S, "Y")]
    assert b.phase("X") == "halted"
    assert kinds(b.on_tick(h + 130 * S)) == ["Resume", "BreakerResumed"]  # Y
    assert b.on_tick(h + 270 * S) == [OpenAuction(h + 270 * S, "X")]
    out = b.on_tick(h + 300 * S)
    assert out[1].rule == RULE_LIMIT_STATE


def test_market_halt_during_a_call_keeps_the_call_until_the_market_resumes() -> None:
    b = two()
    h = halted_at_limit(b)
    b.on_tick(h + 280 * S)  # X in its call
    out = b.market_halt(h + 290 * S, "news")
    assert out[0] == BreakerTripped(
        h + 290 * S,
        "X",
        RULE_MARKET,
        {
            "reference": 100_000,
            "band_low": 95_000,
            "band_high": 105_000,
            "reason": "news",
            "paused_by": RULE_LIMIT_STATE,
            "phase": "call",
            "pause_end": h + 300 * S,
        },
    )
    assert kinds(out) == ["BreakerTripped", "Halt", "BreakerTripped"]  # only Y is halted
    assert b.phase("X") == "call" and b.is_halted("X")
    assert b.on_tick(h + 400 * S) == []
    # X's own pause is over: it resumes one full call period after the market does
    out = b.market_resume(h + 500 * S)
    assert out == [OpenAuction(h + 500 * S, "Y")]
    assert kinds(b.on_tick(h + 510 * S)) == ["Resume", "BreakerResumed"]  # Y
    assert b.on_tick(h + 530 * S - 1) == []
    assert kinds(b.on_tick(h + 530 * S))[:2] == ["Resume", "BreakerResumed"]  # X


def test_trades_during_a_market_halt_do_not_trip_velocity() -> None:
    b = two()
    b.on_trade("X", 0, 100_000)
    b.market_halt(S, "x")
    out = b.on_trade("X", 2 * S, 120_000)
    assert kinds(out) == ["SetBand", "BandUpdated"]


# ---------------------------------------------------------------- static band -------
def test_static_band_around_the_mark() -> None:
    assert make().static_band("X", 100_000) == (95_000, 105_000)
    # tick 5: 95_002.85 .. 105_003.15 -> 95_005 .. 105_000 (rounded inwards)
    assert make(tick_size=5).static_band("X", 100_003) == (95_005, 105_000)
    assert make(static_band_ppm=100_000).static_band("X", 100_000) == (90_000, 110_000)
    assert make().static_band("X", 1) == (1, 1)


def test_static_band_follows_each_new_mark() -> None:
    b = make()
    for mark, band in [(100_000, (95_000, 105_000)), (200_000, (190_000, 210_000))] * 2:
        assert b.static_band("X", mark) == band
        assert b.static_band("X", mark) == band


@pytest.mark.parametrize(
    ("symbol", "mark"),
    [("nope", 100_000), (None, 100_000), ("X", 0), ("X", -5), ("X", 1.5), ("X", True), ("X", None)],
)
def test_static_band_on_bad_input_is_empty(symbol: object, mark: object) -> None:
    low, high = make().static_band(symbol, mark)  # type: ignore[arg-type]
    assert (low, high) == EMPTY_BAND and low > high


# ---------------------------------------------------------------- bad inputs ---------
UNKNOWN = int(Reason.UNKNOWN_CLEARING_INSTRUMENT)
INVALID = int(Reason.INVALID_BREAKER_INPUT)


@pytest.mark.parametrize(
    ("call", "args", "reason"),
    [
        ("on_trade", ("nope", S, 100_000), UNKNOWN),
        ("on_trade", (["X"], S, 100_000), UNKNOWN),
        ("on_trade", (None, S, 100_000), UNKNOWN),
        ("on_trade", ("X", -1, 100_000), INVALID),
        ("on_trade", ("X", 1.0, 100_000), INVALID),
        ("on_trade", ("X", True, 100_000), INVALID),
        ("on_trade", ("X", S, 0), INVALID),
        ("on_trade", ("X", S, "100000"), INVALID),
        ("on_trade", ("X", S, 100_000.0), INVALID),
        ("on_trade", ("X", S, 1 << 60), INVALID),
        ("on_top_of_book", ("nope", S, 1, 2), UNKNOWN),
        ("on_top_of_book", ("X", "1", 1, 2), INVALID),
        ("on_top_of_book", ("X", S, -1, 2), INVALID),
        ("on_top_of_book", ("X", S, 1, 2.5), INVALID),
        ("on_top_of_book", ("X", S, False, None), INVALID),
        ("on_tick", (None,), INVALID),
        ("on_tick", (-S,), INVALID),
        ("market_halt", (S, 7), INVALID),
        ("market_halt", ("now", "x"), INVALID),
        ("market_resume", (1.5,), INVALID),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(call: str, args: tuple, reason: int) -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    b.on_top_of_book("X", 0, 99_000, 101_000)
    before = b.export_state()
    out = getattr(b, call)(*args)
    assert len(out) == 1 and isinstance(out[0], BreakerRejected)
    assert out[0].reason == reason and out[0].call == call and out[0].text
    assert isinstance(out[0].symbol, str) and isinstance(out[0].ts, int)
    assert b.export_state() == before


def test_rejection_carries_the_given_time_when_it_is_valid() -> None:
    b = make()
    assert b.on_trade("nope", 7 * S, 1) == [
        BreakerRejected(
            7 * S, "nope", "on_trade", UNKNOWN, "no circuit-breaker configuration for this symbol"
        )
    ]


def test_queries_on_unknown_symbols() -> None:
    b = make()
    assert not b.is_halted("nope") and not b.is_halted(3)  # type: ignore[arg-type]
    assert b.phase("nope") == "" and b.reference("nope") is None and b.band([]) is None  # type: ignore[arg-type]


def test_time_never_runs_backwards() -> None:
    b = make()
    b.on_trade("X", 100 * S, 100_000)
    b.on_trade("X", 50 * S, 100_000)  # late: counted at 100 s
    assert b.export_state()["symbols"]["X"]["trades"] == [[100 * S, 100_000]] * 2
    assert b.now == 100 * S


def test_constructor_refuses_bad_configs() -> None:
    with pytest.raises(ValueError):
        CircuitBreakers({"X": {"static_band_ppm": 1}})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        CircuitBreakers({"": BreakerConfig()})


# ---------------------------------------------------------------- export / restore ---
FAST = BreakerConfig(
    tick_size=5,
    tiers=((90_000, 80_000), (None, 50_000)),
    limit_state_ns=5 * S,
    pause_ns=40 * S,
    call_period_ns=10 * S,
    velocity_window_ns=10 * S,
    luld_window_ns=30 * S,
)
"""Short periods so that a random timeline of a few hundred calls visits every rule."""


def random_timeline(seed: int, steps: int) -> list[tuple[str, tuple]]:
    """A call script with bands moving, limit states, velocity halts and market halts.

    The script is generated against a live breaker (so the book visits the band edges)
    and is fixed afterwards: replaying it gives the same outputs.
    """
    rng = random.Random(seed)
    live = CircuitBreakers({"X": FAST, "Y": FAST})
    script: list[tuple[str, tuple]] = []
    ts = 0
    price = {"X": 100_000, "Y": 80_000}
    for _ in range(steps):
        ts += rng.randrange(1, 3 * S)
        sym = rng.choice("XY")
        r = rng.random()
        if r < 0.45:
            jump = rng.random() < 0.08
            step = rng.randrange(-6_000, 6_001) if jump else rng.randrange(-300, 301)
            price[sym] = max(5_000, price[sym] + step) // 5 * 5
            call = ("on_trade", (sym, ts, price[sym]))
        elif r < 0.8:
            band = live.band(sym)
            if band and rng.random() < 0.5:
                call = ("on_top_of_book", (sym, ts, band[1], None))
            else:
                p = price[sym]
                call = ("on_top_of_book", (sym, ts, p - 5, p + 5))
        elif r < 0.97:
            call = ("on_tick", (ts,))
        elif r < 0.985:
            call = ("market_halt", (ts, "drill"))
        else:
            call = ("market_resume", (ts,))
        getattr(live, call[0])(*call[1])
        script.append(call)
    return script


def run(b: CircuitBreakers, script: list[tuple[str, tuple]]) -> list[list]:
    return [getattr(b, name)(*args) for name, args in script]


def plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return type(value) in (int, str)


def test_random_timeline_visits_every_rule() -> None:
    script = random_timeline(3, 1_500)
    outputs = [o for out in run(CircuitBreakers({"X": FAST, "Y": FAST}), script) for o in out]
    rules = {o.rule for o in outputs if isinstance(o, BreakerTripped)}
    assert rules == {RULE_LIMIT_STATE, RULE_VELOCITY, RULE_MARKET}
    assert sum(isinstance(o, Resume) for o in outputs) >= 10


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_export_and_restore_mid_timeline_gives_identical_outputs(seed: int) -> None:
    configs = {"X": FAST, "Y": FAST}
    script = random_timeline(seed, 600)
    whole = CircuitBreakers(configs)
    expected = run(whole, script)
    seen: set[str] = set()
    for cut in range(0, len(script) + 1, 11):
        first = CircuitBreakers(configs)
        assert run(first, script[:cut]) == expected[:cut]
        state = first.export_state()
        assert plain(state)
        for sym in state["symbols"].values():
            seen.add(sym["phase"] + ("+market" if state["market_halted"] else ""))
            seen.add("limit_state" if sym["limit_side"] else "no_limit_state")
        # through the snapshot encoding and back
        state = msgpack.unpackb(msgpack.packb(state), strict_map_key=True)
        second = CircuitBreakers.from_state(configs, state)
        assert second.export_state() == first.export_state()
        assert run(second, script[cut:]) == expected[cut:]
        assert second.export_state() == whole.export_state()
    # the cuts fell in every phase: trading (in and out of limit state), halted, call
    assert {"trading", "halted", "call", "limit_state", "no_limit_state"} <= seen


def test_from_state_refuses_what_does_not_fit() -> None:
    b = make()
    b.on_trade("X", 0, 100_000)
    state = b.export_state()
    configs = {"X": BreakerConfig()}
    with pytest.raises(ValueError, match="unconfigured"):
        CircuitBreakers.from_state({"Y": BreakerConfig()}, state)
    for bad in (
        {**state, "version": 99},
        {**state, "now": "0"},
        {k: v for k, v in state.items() if k != "symbols"},
        {**state, "symbols": {"X": {**state["symbols"]["X"], "phase": "dancing"}}},
        {**state, "symbols": {"X": {**state["symbols"]["X"], "trades": [[0]]}}},
        {**state, "symbols": {"X": {**state["symbols"]["X"], "limit_side": "left"}}},
    ):
        with pytest.raises(ValueError):
            CircuitBreakers.from_state(configs, bad)
    # a newly configured symbol starts fresh
    both = CircuitBreakers.from_state({"X": BreakerConfig(), "Z": BreakerConfig()}, state)
    assert both.band("X") == (95_000, 105_000) and both.band("Z") is None
