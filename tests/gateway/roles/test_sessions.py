"""Gateway session bookkeeping: liveness, seq, channels, open orders, client order ids."""

from __future__ import annotations

from gateway.roles.sessions import SessionTable


def test_liveness_is_three_heartbeat_intervals_after_logon() -> None:
    t = SessionTable()
    s = t.open(b"r1", 7, now=0.0)
    assert not s.expired(29.0) and s.expired(31.0)  # never logged on: 30 s
    s.logged_on, s.heartbeat_ms = True, 100
    s.last_seen = 1.0
    assert not s.expired(1.29) and s.expired(1.31)
    assert t.expired(1.31) == [s]


def test_seq_counts_per_session_and_sessions_index_by_account() -> None:
    t = SessionTable()
    a, b = t.open(b"r1", 7, 0.0), t.open(b"r2", 7, 0.0)
    assert [a.next_seq(), a.next_seq(), b.next_seq()] == [1, 2, 1]
    assert t.of_account(7) == [a, b] and t.by_sid[b.sid] is b
    t.close(a)
    assert t.of_account(7) == [b] and t.get(b"r1") is None
    t.close(b)
    assert t.of_account(7) == [] and len(t) == 0


def test_channel_union_counts_logged_on_sessions_only() -> None:
    t = SessionTable()
    a, b = t.open(b"r1", 7, 0.0), t.open(b"r2", 7, 0.0)
    a.channels, b.channels = {"positions"}, {"margin"}
    a.logged_on = True
    assert t.channels_of(7) == frozenset({"positions"})
    b.logged_on = True
    assert t.channels_of(7) == frozenset({"positions", "margin"})


def test_dead_mans_switch_fires_once() -> None:
    t = SessionTable()
    st = t.account(7)
    st.deadline = 5.0
    assert list(t.due_deadlines(4.9)) == []
    assert list(t.due_deadlines(5.0)) == [7]
    assert list(t.due_deadlines(9.0)) == [] and st.deadline is None
