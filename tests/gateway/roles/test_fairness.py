"""Fair admission (``gateway.roles.fairness``): frames paid before decoding, cheap rejects
then drops past the bucket, a sender that keeps going is cut, queries cost their rows and
are capped in flight, a read turn ends when one account is a share ahead of an active one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.roles.fairness import (
    ALLOW,
    CUT,
    DROP,
    MAX_QUERIES_IN_FLIGHT,
    READ_BATCH,
    RECENT_S,
    REFUSED_COST,
    REJECT,
    REJECTS_PER_WINDOW,
    SHARE,
    Fairness,
)


def test_past_the_bucket_rejects_then_drops_then_cuts() -> None:
    f = Fairness(rate=10, burst=5, cut_after=100)
    assert [f.admit(1, 0.0) for _ in range(5)] == [ALLOW] * 5
    verdicts = [f.admit(1, 0.0) for _ in range(101)]
    assert verdicts[:REJECTS_PER_WINDOW] == [REJECT] * REJECTS_PER_WINDOW
    assert set(verdicts[REJECTS_PER_WINDOW:100]) == {DROP}
    assert verdicts[100] == CUT
    assert f.admit(1, 0.2) == DROP  # cut: dropped until the bucket is full again
    assert f.admit(2, 0.0) == ALLOW  # another account is not touched
    assert f.admit(1, 0.0 + 5 / 10 + 0.01) == ALLOW


def test_queries_cost_their_rows_and_are_capped_in_flight() -> None:
    f = Fairness(rate=100, burst=1000)
    assert all(f.query_start(1, 0.0) for _ in range(MAX_QUERIES_IN_FLIGHT))
    assert not f.query_start(1, 0.0)
    f.query_done(1, 400, 0.0, last=False)
    assert not f.query_start(1, 0.0)  # a page is not the end of the answer
    f.query_done(1, 900, 0.0, last=True)
    assert f.query_start(1, 0.0)
    assert f.admit(1, 0.0) == REJECT  # 1300 rows took the bucket below zero
    assert f.retry_after_ms(1, 0.0) > 3000
    f.queries_lost()
    assert f.query_start(1, 0.0)


def test_a_turn_ends_when_one_account_is_a_share_ahead_of_an_active_one() -> None:
    f = Fairness(rate=1e6, burst=1e6)
    f.begin_turn(0.0)
    assert f.share == READ_BATCH  # alone: whole turns
    for _ in range(READ_BATCH - 1):
        f.admit(1, 0.0)
    assert not f.turn_full
    f.admit(2, 0.0)  # another account is heard from
    f.begin_turn(0.01)
    assert f.share == SHARE
    for _ in range(SHARE - 1):  # account 2 is active but has sent nothing this turn
        f.admit(1, 0.01)
    assert not f.turn_full
    f.admit(1, 0.01)
    assert f.turn_full
    f.begin_turn(0.02)  # both still heard from lately
    assert f.share == SHARE and not f.turn_full
    for _ in range(SHARE):
        f.admit(1, 0.02)
    f.begin_turn(0.02 + 2 * RECENT_S)  # account 2 went quiet: account 1 is alone again
    assert f.share == READ_BATCH


def test_accounts_that_keep_pace_share_whole_turns() -> None:
    """A maker and a taker both sending: ZeroMQ reads their connections in turn, so
    neither gets ahead and the batch grows with the load; once one runs dry, the other
    has ``SHARE`` frames more and the turn ends."""
    f = Fairness(rate=1e6, burst=1e6)
    f.admit(1, 0.0)
    f.admit(2, 0.0)
    f.begin_turn(0.0)
    for _ in range(100):
        f.admit(1, 0.0)
        f.admit(2, 0.0)
        assert not f.turn_full
    for _ in range(SHARE - 1):
        f.admit(1, 0.0)
    assert not f.turn_full
    f.admit(1, 0.0)
    assert f.turn_full


def test_an_active_account_left_out_of_the_turn_keeps_it_short() -> None:
    """Two busy accounts keeping pace do not shut out a third that was heard from lately:
    it counts 0 until it is read, so the busy ones end the turn at ``SHARE``."""
    f = Fairness(rate=1e6, burst=1e6)
    for account in (1, 2, 3):
        f.admit(account, 0.0)
    f.begin_turn(0.0)
    for _ in range(SHARE - 1):
        f.admit(1, 0.0)
        f.admit(2, 0.0)
    assert not f.turn_full
    f.admit(1, 0.0)
    assert f.turn_full


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3),
       st.lists(st.integers(1, 5), max_size=200))  # fmt: skip
def test_turn_full_matches_a_reference(heard: list[int], reads: list[int]) -> None:
    """The turn is full exactly from the first frame that puts some account ``share``
    frames ahead of the least served account among the active and the read ones."""
    f = Fairness(rate=1e6, burst=1e6)
    for account in heard:
        f.admit(account, 0.0)
    f.begin_turn(0.0)
    share = f.share
    active = set(heard)
    counts: dict[int, int] = {}
    full = False
    for account in reads:
        f.admit(account, 0.0)
        counts[account] = counts.get(account, 0) + 1
        least = min(counts.get(a, 0) for a in active | set(counts))
        full = full or max(counts.values()) >= share + least
        assert f.turn_full == full


def test_every_frame_read_counts_towards_the_share() -> None:
    """Dropped frames too: a flooder past its bucket is left in ZeroMQ (and TCP pushes
    back on it) instead of being read, decrypted and dropped at full speed."""
    f = Fairness(rate=1, burst=1, cut_after=10_000)
    f.admit(1, 0.0)  # its one token
    f.admit(2, 0.0)
    f.begin_turn(0.0)
    assert f.share == SHARE
    verdicts = [f.admit(1, 0.0) for _ in range(SHARE - 1)]
    assert ALLOW not in verdicts and not f.turn_full  # past its bucket
    f.admit(1, 0.0)
    assert f.turn_full


def test_a_refused_frame_costs_more_when_the_bucket_holds_it() -> None:
    f = Fairness(rate=1, burst=100)
    for _ in range(10):
        assert f.admit(1, 0.0) == ALLOW
        f.charge(1, REFUSED_COST - 1, 0.0)  # the gateway refused it
    assert f.admit(1, 0.0) == REJECT  # ten refused frames spent the bucket
    small = Fairness(rate=1, burst=5)
    assert small.admit(1, 0.0) == ALLOW
    small.charge(1, REFUSED_COST - 1, 0.0)  # more than it holds: not taken
    assert [small.admit(1, 0.0) for _ in range(4)] == [ALLOW] * 4
