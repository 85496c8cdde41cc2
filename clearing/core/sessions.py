"""Sessions and client order ids as the core keeps them: what must survive any restart.

The gateway owns connections (sockets, liveness, rate limits); the core keeps what decides
state, so that it is journaled and comes back after a crash of any role:

1. Gateways: each run of a gateway that connects is numbered (``GatewayUp``, numbered
   by the clearing shell from ``next_gw``); a number is never reused. A session is
   ``(gw, sid)`` with its account and whether it asked for cancel-on-disconnect. When a
   session with the flag ends, or its gateway is lost, its account's working orders are
   cancelled (``Core`` does the cancel).
2. Client order ids: per account, the newest ``capacity`` ids ever used, each with the
   order id it got (0 when the request was refused before admission). A reused id is a
   duplicate request and never executes twice; the same table finds an account's working
   order by its client order id.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class Sessions:
    __slots__ = ("by_account", "capacity", "clids", "gateways", "next_gw", "sessions")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.gateways: dict[str, int] = {}
        """gateway run id -> its number."""
        self.next_gw = 1
        self.sessions: dict[tuple[int, int], tuple[int, bool]] = {}
        """(gw, sid) -> (account, cancel_on_disconnect)."""
        self.by_account: dict[int, set[tuple[int, int]]] = {}
        self.clids: dict[int, OrderedDict[str, int]] = {}

    # -- gateways and sessions --------------------------------------------------------
    def gateway_up(self, run_id: str, gw: int) -> None:
        """Gateway run ``run_id`` is number ``gw``; numbers only grow (``next_gw``)."""
        self.gateways[run_id] = gw
        self.next_gw = max(self.next_gw, gw + 1)

    def open(self, gw: int, sid: int, account: int, cod: bool) -> tuple[int, bool] | None:
        """Register a session; return the one it replaces (same ``(gw, sid)``), if any."""
        old = self.close(gw, sid)
        self.sessions[(gw, sid)] = (account, cod)
        self.by_account.setdefault(account, set()).add((gw, sid))
        return old

    def close(self, gw: int, sid: int) -> tuple[int, bool] | None:
        """Forget a session; return ``(account, cod)`` if it was known."""
        found = self.sessions.pop((gw, sid), None)
        if found is not None:
            keys = self.by_account.get(found[0])
            if keys is not None:
                keys.discard((gw, sid))
                if not keys:
                    del self.by_account[found[0]]
        return found

    def of_gateway(self, gw: int) -> list[tuple[int, int]]:
        return sorted(k for k in self.sessions if k[0] == gw)

    def gateways_of(self, account: int) -> set[int]:
        """The gateways holding a session of ``account``."""
        return {gw for gw, _ in self.by_account.get(account, ())}

    def lose_gateway(self, gw: int) -> list[tuple[int, bool]]:
        """Every session of a lost gateway ends: their ``(account, cod)``, in sid order."""
        ended = [self.close(*k) for k in self.of_gateway(gw)]
        for run, n in list(self.gateways.items()):
            if n == gw:
                del self.gateways[run]
        return [e for e in ended if e is not None]

    # -- client order ids -------------------------------------------------------------
    def used(self, account: int, clid: str) -> bool:
        ids = self.clids.get(account)
        return ids is not None and clid in ids

    def remember(self, account: int, clid: str, order_id: int) -> None:
        ids = self.clids.get(account)
        if ids is None:
            ids = self.clids[account] = OrderedDict()
        ids[clid] = order_id
        if len(ids) > self.capacity:
            ids.popitem(last=False)

    def order_id_of(self, account: int, clid: str) -> int:
        """The order id a client order id got (0: unknown, forgotten or refused)."""
        ids = self.clids.get(account)
        return ids.get(clid, 0) if ids is not None else 0

    # -- state ------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        return {
            "gateways": dict(sorted(self.gateways.items())),
            "next_gw": self.next_gw,
            "sessions": [[gw, sid, a, cod]
                         for (gw, sid), (a, cod) in sorted(self.sessions.items())],
            "clids": [[a, [[c, o] for c, o in ids.items()]]
                      for a, ids in sorted(self.clids.items())],
        }  # fmt: skip

    @classmethod
    def restore(cls, d: dict[str, Any], capacity: int) -> Sessions:
        s = cls(capacity)
        s.gateways = dict(d["gateways"])
        s.next_gw = d["next_gw"]
        for gw, sid, a, cod in d["sessions"]:
            s.open(gw, sid, a, cod)
        for a, pairs in d["clids"]:
            s.clids[a] = OrderedDict((c, o) for c, o in pairs)
        return s
