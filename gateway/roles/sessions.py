"""Gateway sessions and per-account bookkeeping: pure state, the time is passed in.

- ``Session``: one bot connection (one ROUTER routing id), its account (from CURVE), the
  logon parameters, liveness (last inbound time), its own outbound ``seq`` counter and its
  private-update channels. A connection exists from its first frame; it is *logged on* after
  ``logon``. A logged-on session silent for 3 heartbeat intervals has expired; one that
  never logs on is forgotten after ``PRELOGON_TIMEOUT_S`` of silence.
- ``AccountState``: what the gateway keeps per account across its sessions: the
  ``cancel_all_after`` deadline and the union of channels wanted. Client order ids
  (idempotency) and open-order limits are the core's (``clearing.core``): journaled, they
  survive a restart of any role.
- ``SessionTable``: sessions by routing id, by id and by account.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

PRELOGON_TIMEOUT_S = 30.0
LIVENESS_INTERVALS = 3


class Session:
    __slots__ = (
        "account", "channels", "client", "cod", "conn", "heartbeat_ms", "last_seen",
        "logged_on", "rid", "seq", "sid",
    )  # fmt: skip

    def __init__(self, sid: int, rid: bytes, account: int, now: float) -> None:
        self.sid = sid
        self.rid = rid
        self.account = account
        self.logged_on = False
        self.heartbeat_ms = 5000
        self.cod = False
        self.client = ""
        self.last_seen = now
        self.seq = 0
        self.channels: set[str] = set()
        self.conn: tuple[int, int] = (-1, 0)
        """The connection (descriptor, generation) it is bound to (``peer_watch``)."""

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def expired(self, now: float) -> bool:
        if self.logged_on:
            return now - self.last_seen > LIVENESS_INTERVALS * self.heartbeat_ms / 1000.0
        return now - self.last_seen > PRELOGON_TIMEOUT_S

    def __repr__(self) -> str:
        return f"Session({self.sid}, account={self.account}, logged_on={self.logged_on})"


class AccountState:
    __slots__ = ("cancel_after_s", "channels", "deadline")

    def __init__(self) -> None:
        self.deadline: float | None = None  # monotonic time the dead man's switch fires
        self.cancel_after_s = 0
        self.channels: frozenset[str] = frozenset()


class SessionTable:
    def __init__(self) -> None:
        self.by_rid: dict[bytes, Session] = {}
        self.by_sid: dict[int, Session] = {}
        self.by_account: dict[int, list[Session]] = {}
        self.accounts: dict[int, AccountState] = {}
        self._next_sid = 1

    def __len__(self) -> int:
        return len(self.by_rid)

    def get(self, rid: bytes) -> Session | None:
        return self.by_rid.get(rid)

    def open(self, rid: bytes, account: int, now: float) -> Session:
        """The session of a connection seen for the first time."""
        sess = Session(self._next_sid, rid, account, now)
        self._next_sid += 1
        self.by_rid[rid] = sess
        self.by_sid[sess.sid] = sess
        self.by_account.setdefault(account, []).append(sess)
        return sess

    def account(self, account: int) -> AccountState:
        st = self.accounts.get(account)
        if st is None:
            st = self.accounts[account] = AccountState()
        return st

    def close(self, sess: Session) -> None:
        self.by_rid.pop(sess.rid, None)
        self.by_sid.pop(sess.sid, None)
        peers = self.by_account.get(sess.account)
        if peers is not None:
            if sess in peers:
                peers.remove(sess)
            if not peers:
                del self.by_account[sess.account]

    def of_account(self, account: int) -> list[Session]:
        return self.by_account.get(account, [])

    def expired(self, now: float) -> list[Session]:
        return [s for s in self.by_rid.values() if s.expired(now)]

    def channels_of(self, account: int) -> frozenset[str]:
        """The union of the channels the account's logged-on sessions asked for."""
        out: set[str] = set()
        for s in self.of_account(account):
            if s.logged_on:
                out |= s.channels
        return frozenset(out)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self.by_rid.values()))

    def due_deadlines(self, now: float) -> Iterable[int]:
        """Accounts whose dead man's switch has fired (the switch is disarmed)."""
        due = [a for a, st in self.accounts.items()
               if st.deadline is not None and now >= st.deadline]  # fmt: skip
        for a in due:
            self.accounts[a].deadline = None
            self.accounts[a].cancel_after_s = 0
        return due
