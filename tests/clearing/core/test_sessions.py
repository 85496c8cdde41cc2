"""The core's sessions and client order ids: capacity, gateway loss, export and restore."""

from __future__ import annotations

from clearing.core.sessions import Sessions


def test_client_order_ids_forget_the_oldest_beyond_capacity() -> None:
    s = Sessions(capacity=2)
    for clid, oid in (("a", 1), ("b", 2), ("c", 0)):
        s.remember(7, clid, oid)
    assert not s.used(7, "a") and s.used(7, "b") and s.used(7, "c")
    assert s.order_id_of(7, "b") == 2 and s.order_id_of(7, "c") == 0
    assert not s.used(8, "b")  # per account


def test_losing_a_gateway_ends_only_its_sessions_and_never_reuses_its_number() -> None:
    s = Sessions(capacity=10)
    s.gateway_up("run-a", 1)
    s.gateway_up("run-b", 2)
    s.open(1, 1, 10, True)
    s.open(1, 2, 11, False)
    s.open(2, 1, 10, False)
    assert s.gateways_of(10) == {1, 2}
    assert s.lose_gateway(1) == [(10, True), (11, False)]
    assert s.gateways_of(10) == {2} and s.gateways_of(11) == set()
    assert "run-a" not in s.gateways and s.next_gw == 3


def test_export_and_restore_keep_everything() -> None:
    s = Sessions(capacity=3)
    s.gateway_up("run", 4)
    s.open(4, 9, 1, True)
    for i in range(5):
        s.remember(1, f"c{i}", i)
    r = Sessions.restore(s.export(), 3)
    assert r.export() == s.export()
    assert r.gateways_of(1) == {4} and r.next_gw == 5
    r.remember(1, "new", 9)
    assert not r.used(1, "c2")  # the oldest goes first, as before the restore
