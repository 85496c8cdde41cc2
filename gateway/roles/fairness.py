"""Fair admission at the gateway: every frame is paid for by its sender before it is decoded.

One account must not be able to stall the others, whatever it sends. Rules:

1. Every frame from a bot (valid or not, heartbeats included) takes one token from its
   account's bucket (``rate_per_s``, ``burst``) *before* it is decoded: a malformed flood
   costs the flooder, not everyone.
2. Past the bucket: the first frames get a cheap ``RATE_LIMITED`` reject (at most
   ``REJECTS_PER_WINDOW`` per ``WINDOW_S``), the rest are dropped unread; a
   sender that goes on past ``cut_after`` frames beyond its empty bucket is cut: its
   session ends (cancel-on-disconnect applies) and its frames keep being dropped until its
   bucket has refilled. (A ZeroMQ ROUTER cannot close one peer's TCP connection; ending
   the session and dropping is what "disconnect" means here.)
3. Queries cost what they return: the rows of the answer are taken from the bucket when
   it arrives (the bucket may go below zero: the account then waits that much longer), and
   an account has at most ``MAX_QUERIES_IN_FLIGHT`` queries unanswered (``RATE_LIMITED``
   beyond), so a burst of queries never holds more than a few answers in memory. Clearing
   answers ``QUERY_ROWS_PER_TURN`` rows per turn, a page at a time round robin
   (``query_pages``), and runs the batches and the rest of the loop between.
4. The gateway reads at most a bounded batch of frames per loop turn and yields the loop
   between batches (``gateway_role``), so timers, market data and the link keep running.
5. A read turn ends early once one account is ``SHARE`` frames ahead of the least
   served account that is active (heard from in the last ``RECENT_S``; every frame read
   counts, dropped ones too; an active account not read yet this turn counts 0). A
   turn's frames are one batch for clearing and the matcher, and every request of the
   batch waits for the whole of it, so under a flood one account's frames would set
   everyone's latency: ended early, the turn leaves the flooder's next frames in ZeroMQ
   (nothing is dropped for it) and the loop runs the batch, then reads again: ZeroMQ
   takes the connections in turn, so the others' frames are read first. Accounts that
   keep pace with each other (ZeroMQ reads the connections in turn, so busy accounts
   stay within a frame or two of each other) share whole turns: a batch then grows with
   the load, which is what keeps the cost per request down (the cost of a batch is
   shared by its requests). An account alone has whole turns. A drop is cheap for the
   loop, not for the machine (the frame was decrypted on the way in): frames left unread
   past ``PEER_RCVHWM`` make TCP push back on the flooder instead.
6. What one connection can make the gateway hold is bounded both ways: ``PEER_RCVHWM``
   frames in, ``SESSION_SNDHWM`` messages out (a session that does not read is ended).
7. A frame the gateway itself refuses (malformed, not logged on, a type it does not
   serve) still gets its reject, and costs ``REFUSED_COST`` tokens in all while the
   bucket holds them (``charge``): a working bot sends none, so answering them is work
   done for nothing (a decode, a reject rendered, encrypted and sent), and a sender of
   junk reaches rule 2 ten times sooner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALLOW, REJECT, DROP, CUT = 0, 1, 2, 3
WINDOW_S = 0.1
REJECTS_PER_WINDOW = 20
"""Past the bucket: rejects a window, then silence (rule 2). At most 200 a second cost
the server next to nothing; a bot that sends a few requests back to back past its bucket
gets a reject for each (``test_rate_limit_open_order_cap_and_logon_first``)."""
REFUSED_COST = 10
"""Tokens a frame the gateway refuses costs in all (rule 7): a bot's occasional bad frame
costs nothing it would notice (the default bucket holds 40,000); a junk flood at the
default 20,000 frames/s gets 2,000 rejects a second once its burst is spent, not 20,000.
``crossbook bench flood`` (medians of 6 runs, docs/benchmarks.md, with rule 5's change):
the junk flood got 37,000 rejects instead of 140,000; the server's CPU time in that
phase 4.3 -> 3.2 s."""
MAX_QUERIES_IN_FLIGHT = 4
READ_BATCH = 256
"""Frames the gateway reads per loop turn before it yields."""
SHARE = 4
"""How many frames one account may read ahead of the least served active account in one
read turn (rule 5); the gateway reads in steps of at most this many while others are
active. Earlier runs of the flood scenario counted only frames let through: p99 4.5-15 ms
at 16, 15-28 ms at 64, 99 ms with whole turns (256). From 16 frames let through (read in
steps of 16) to 4 frames read: the victims' ack inside the server during the order flood,
p50 / p99 4.3 / 14.3 -> 1.1 / 7.4 ms, the server's CPU time in the phase 5.2 -> 4.1 s
(``crossbook bench flood``, medians of 6 runs, docs/benchmarks.md); the flooder still had
29,000-42,000 orders answered in its 4-9 s. As a flat cap per account (before the lead
rule) it also capped batches between accounts that keep pace with each other: with a
maker and a taker account ``crossbook bench e2e`` ran batches of 4-8 requests at any
load, at 122-152 us of server CPU per order; with whole turns, 48-68 us."""
RECENT_S = 0.1
"""An account heard from within this long counts as active when the turn share is set."""
PEER_RCVHWM = 2_000
"""Frames ZeroMQ queues per bot connection before it stops reading that connection (TCP
pushes back on the sender; nothing is lost). A flooder fills its queue whatever the size,
so the size is memory held for nothing: at 100,000 a flood of orders kept ~80 MB of
message buffers (``crossbook bench flood``), at 2,000 it is about half a megabyte."""


class _Account:
    __slots__ = ("cut_until", "in_flight", "over", "rejects", "stamp", "tokens", "window")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.stamp = now
        self.over = 0
        self.rejects = 0
        self.window = now
        self.in_flight = 0
        self.cut_until = 0.0


@dataclass
class FairStats:
    charged: int = 0
    rejected: int = 0
    dropped: int = 0
    cut: int = 0
    query_rows: int = 0


class Fairness:
    """Token buckets per account, charged per frame and per query row (pure: pass ``now``)."""

    def __init__(self, rate: float, burst: float, *, cut_after: int | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.cut_after = cut_after if cut_after is not None else max(1000, int(burst))
        self.accounts: dict[int, _Account] = {}
        self.stats = FairStats()
        self.share = READ_BATCH
        """Frames one account may read ahead of the least served active account in the
        current read turn (``begin_turn``): ``READ_BATCH`` when it is alone."""
        self.turn_full = False
        """Some account is a share ahead of the least served active one: end the turn."""
        self._turn: dict[int, int] = {}
        self._heard: dict[int, float] = {}
        self._floor = self._most = 0

    def begin_turn(self, now: float) -> None:
        """A read turn starts: each account's share of it (rule 5)."""
        heard = self._heard
        for account in self._turn:
            heard[account] = now
        if len(heard) > 1:
            for account, at in list(heard.items()):
                if now - at > RECENT_S:
                    del heard[account]
        self.share = READ_BATCH if len(heard) <= 1 else SHARE
        self._turn = {}
        self._floor = self._most = 0
        self.turn_full = False

    def _least(self) -> int:
        """Frames the least served account (active, or read this turn) has read this turn
        (0 for an active one not read yet), kept in ``_floor``. Between two computations
        ``_floor`` stays a lower bound (counts only grow; an account new to the turn lowers
        it to 1 in ``admit``), so this runs only once the most served account is ``share``
        frames past it."""
        turn = self._turn
        get = turn.get
        least = min(get(a, 0) for a in self._heard) if self._heard else 0
        if turn:
            least = min(least, min(turn.values()))
        self._floor = least
        return least

    def _acct(self, account: int, now: float) -> _Account:
        st = self.accounts.get(account)
        if st is None:
            st = self.accounts[account] = _Account(self.burst, now)
        elif now > st.stamp:
            st.tokens = min(self.burst, st.tokens + (now - st.stamp) * self.rate)
            st.stamp = now
        return st

    def admit(self, account: int, now: float) -> int:
        """Charge one frame; ``ALLOW``, ``REJECT`` (send the cheap reject), ``DROP`` or
        ``CUT`` (end the sender's session)."""
        st = self._acct(account, now)
        self.stats.charged += 1
        n = self._turn.get(account, 0) + 1  # every frame read counts (rule 5)
        self._turn[account] = n
        if n > self._most:
            self._most = n
        if n == 1 and self._floor > 1 and account not in self._heard:
            self._floor = 1  # an account new to the turn may be the least served now
        most = self._most
        if (not self.turn_full and most >= self.share + self._floor
                and most >= self.share + self._least()):  # fmt: skip
            self.turn_full = True  # stays so until the next turn: no more to work out
        if st.tokens >= 1.0 and now >= st.cut_until:
            st.tokens -= 1.0
            if st.tokens >= self.burst / 2:  # it paused: a trickle of refills does not
                st.over = 0
            return ALLOW
        st.over += 1
        if now < st.cut_until:
            self.stats.dropped += 1
            return DROP
        if st.over > self.cut_after:
            st.over = 0
            # dropped until the bucket is full again
            st.cut_until = now + (self.burst - min(st.tokens, 0.0)) / self.rate
            self.stats.cut += 1
            return CUT
        if now - st.window >= WINDOW_S:
            st.window, st.rejects = now, 0
        if st.rejects < REJECTS_PER_WINDOW:
            st.rejects += 1
            self.stats.rejected += 1
            return REJECT
        self.stats.dropped += 1
        return DROP

    def charge(self, account: int, tokens: float, now: float) -> None:
        """Take ``tokens`` more from ``account``'s bucket if it holds them (rule 7: a
        bucket far smaller than a flood is never emptied by one bad frame)."""
        st = self._acct(account, now)
        if st.tokens >= tokens:
            st.tokens -= tokens

    def retry_after_ms(self, account: int, now: float) -> int:
        st = self._acct(account, now)
        wait = max(st.cut_until - now, (1.0 - st.tokens) / self.rate, 0.001)
        return max(1, math.ceil(wait * 1000))

    def query_start(self, account: int, now: float) -> bool:
        """May ``account`` send one more query now (fewer than the cap unanswered)?"""
        st = self._acct(account, now)
        if st.in_flight >= MAX_QUERIES_IN_FLIGHT:
            return False
        st.in_flight += 1
        return True

    def query_done(self, account: int, rows: int, now: float, last: bool) -> None:
        """An answer page arrived with ``rows`` rows: charge them; ``last`` ends the query."""
        st = self._acct(account, now)
        st.tokens -= rows
        self.stats.query_rows += rows
        if last and st.in_flight > 0:
            st.in_flight -= 1

    def queries_lost(self) -> None:
        """The link to clearing was renumbered: unanswered queries will not be answered."""
        for st in self.accounts.values():
            st.in_flight = 0
