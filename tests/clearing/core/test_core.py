"""The exchange core with a matcher in-process: routing of answers, idempotency, limits,
sessions and cancel-on-disconnect, history, and determinism."""

from __future__ import annotations

import random

from clearing.core import reports as rp
from clearing.core.inputs import (
    AmendOrderRequest,
    CancelAll,
    CancelOrderRequest,
    GatewayLost,
    GatewaySync,
    GatewayUp,
    Logon,
    Logout,
    MassCancelOrders,
    PlaceOrder,
)
from clearing.pipeline import Pipeline
from matching.enums import EndReason, StpMode
from matching.reasons import Reason
from tests.clearing.conftest import make_config

GW_RUN = "gateway-run-1"


def _pipe(**core_options: object) -> tuple[Pipeline, int]:
    p = Pipeline.from_config(make_config(), **core_options)  # type: ignore[arg-type]
    p.run([GatewayUp(1, GW_RUN, p.core.sessions.next_gw)])
    gw = p.core.gateway_number(GW_RUN)
    assert gw is not None
    return p, gw


def _order(gw: int, sid: int, account: int, side: int, qty: int, price: int, clid: str,
           ts: int = 10, req_id: int | None = 7, stp: int = 0,
           tif: int = 1) -> PlaceOrder:  # fmt: skip
    return PlaceOrder(ts, gw, sid, req_id, account, "X", side, qty, price, 2, tif, clid, False,
                      False, stp, 0)  # fmt: skip


def _execs(result: object) -> list[tuple]:
    return [r for r in result.replies if r[5][0] == rp.EXEC]  # type: ignore[attr-defined]


def test_accept_and_fill_are_routed_to_the_requester_and_the_maker() -> None:
    p, gw = _pipe()
    p.run([Logon(2, gw, 1, 1, False), Logon(2, gw, 2, 2, False)])
    res = p.run([_order(gw, 1, 1, 1, 10, 100, "m1", req_id=5)])
    [(account, g, sid, req_id, gw_in, rep, direct, matched)] = res.replies
    assert (account, g, sid, req_id, gw_in, direct, matched) == (1, gw, 1, 5, 10, False, True)
    assert rep[3] == rp.X_NEW and rep[6] == "m1" and rep[12:15] == (10, 0, 10)
    res = p.run([_order(gw, 2, 2, -1, 4, 100, "t1", ts=11, req_id=6)])
    fills = [r for r in res.replies if r[5][3] == rp.X_TRADE]
    assert [(r[0], r[3], r[5][4]) for r in fills] == [(2, 6, rp.S_FILLED), (1, None, rp.S_PARTIAL)]
    assert fills[1][4] == 11  # the maker's report carries the time of the taker's request
    taker, maker = fills[0][5], fills[1][5]
    assert taker[17][3] == "taker" and maker[17][3] == "maker"
    assert maker[13:16] == (4, 6, 400)  # cum, leaves, cum_notional
    assert maker[2] == taker[2] + 1  # exec ids: 2*seq and 2*seq+1


def test_a_reused_client_order_id_is_refused_and_changes_nothing() -> None:
    p, gw = _pipe()
    p.run([_order(gw, 1, 1, 1, 10, 100, "dup")])
    before = p.clearing.state_hash()
    res = p.run([_order(gw, 1, 1, 1, 10, 100, "dup", ts=20, req_id=9)])
    [(account, _, sid, req_id, _, rep, direct, matched)] = res.replies
    assert rep[0] == rp.REJECT and rep[2] == Reason.DUPLICATE_REQUEST
    assert (account, sid, req_id, direct, matched) == (1, 1, 9, True, False)
    assert p.clearing.state_hash() == before
    assert len(p.clearing.orders) == 1


def test_open_order_limit_refuses_with_figures() -> None:
    p, gw = _pipe(max_open_orders=2)
    for i in range(2):
        p.run([_order(gw, 1, 1, 1, 1, 90 + i, f"o{i}")])
    res = p.run([_order(gw, 1, 1, 1, 1, 95, "o9")])
    [rep] = [r[5] for r in _execs(res)]
    assert rep[3] == rp.X_REJECTED
    assert rep[17] == (int(Reason.TOO_MANY_OPEN_ORDERS), "", {"open_orders": 2, "limit": 2})
    assert len(p.clearing.orders) == 2


def test_cancel_by_client_order_id_and_foreign_orders_look_unknown() -> None:
    p, gw = _pipe()
    p.run([_order(gw, 1, 1, 1, 10, 100, "mine")])
    oid = next(iter(p.clearing.orders))
    before = p.clearing.state_hash()
    for req in (CancelOrderRequest(20, gw, 2, 3, 2, None, oid, None),
                CancelOrderRequest(20, gw, 2, 3, 2, None, None, "mine"),
                AmendOrderRequest(20, gw, 2, 3, 2, None, oid, None, 99, None)):  # fmt: skip
        [(_, _, _, _, _, rep, direct, _)] = p.run([req]).replies
        assert rep[0] == rp.CANCEL_REJECT and rep[7] == Reason.UNKNOWN_ORDER and direct
        assert rep[3] == req.client_order_id  # only what the requester sent is echoed
    assert p.clearing.state_hash() == before
    res = p.run([CancelOrderRequest(21, gw, 1, 4, 1, None, None, "mine")])
    [rep] = [r[5] for r in _execs(res)]
    assert rep[3] == rp.X_CANCELED and rep[17] == (int(EndReason.USER_CANCEL),)
    assert not p.clearing.orders


def test_cancel_on_disconnect_on_logout_and_on_gateway_loss() -> None:
    p, gw = _pipe()
    p.run([Logon(2, gw, 1, 1, True), Logon(2, gw, 2, 2, False), Logon(2, gw, 3, 3, True)])
    p.run([_order(gw, 1, 1, 1, 1, 90, "a"), _order(gw, 2, 2, 1, 1, 91, "b"),
           _order(gw, 3, 3, 1, 1, 92, "c")])  # fmt: skip
    res = p.run([Logout(30, gw, 1, "logout")])
    ended = [r[5] for r in _execs(res)]
    assert [(r[1], r[17]) for r in ended] == [(1, (int(EndReason.CANCEL_ON_DISCONNECT),))]
    assert any(r[5][0] == rp.MASS_CANCEL for r in res.replies)
    res = p.run([GatewayLost(40, gw)])
    assert [r[5][1] for r in _execs(res)] == [3]  # account 2 had no cancel-on-disconnect
    assert sorted(o.account for o in p.clearing.orders.values()) == [2]
    assert p.core.sessions.sessions == {}


def test_gateway_sync_ends_the_sessions_the_gateway_no_longer_has() -> None:
    p, gw = _pipe()
    p.run([Logon(2, gw, 1, 1, True), Logon(2, gw, 2, 2, True)])
    p.run([_order(gw, 1, 1, 1, 1, 90, "a"), _order(gw, 2, 2, 1, 1, 91, "b")])
    res = p.run([GatewaySync(50, gw, [[2, 2, True], [5, 3, False]])])
    assert [r[5][1] for r in _execs(res)] == [1]
    assert sorted(p.core.sessions.sessions) == [(gw, 2), (gw, 5)]


def test_dead_mans_switch_cancels_with_its_reason() -> None:
    p, gw = _pipe()
    p.run([_order(gw, 1, 1, 1, 1, 90, "a")])
    res = p.run([CancelAll(60, gw, 0, 1, int(EndReason.MASS_CANCEL))])
    [rep] = [r[5] for r in _execs(res)]
    assert rep[17] == (int(EndReason.MASS_CANCEL),)


def test_trade_history_carries_the_settled_fee() -> None:
    p = Pipeline.from_config(make_config(X={"taker_fee_ppm": 500, "maker_fee_ppm": -100}))
    p.run([_order(0, 0, 3, 1, 100, 100, "m"), _order(0, 0, 1, -1, 100, 100, "t", ts=11)])
    [taker] = p.core.history.trades_of(1)
    [maker] = p.core.history.trades_of(3)
    assert taker[7] == "taker" and taker[8] == 5  # 100 * 100 * 500 ppm
    assert maker[7] == "maker" and maker[8] == -1
    [done] = p.core.history.finished_of(1)
    assert done[4] == rp.S_FILLED


def test_self_trade_decrement_after_a_partial_fill_reports_current_figures() -> None:
    """Within one command the order's figures move before clearing settles them: a
    decrement after a fill must restate from the post-fill figures."""
    p, gw = _pipe()
    p.run([_order(gw, 3, 3, -1, 5, 100, "own"), _order(gw, 2, 2, -1, 5, 99, "other", ts=11)])
    res = p.run([_order(gw, 3, 3, 1, 8, 100, "taker", ts=12, stp=int(StpMode.DECREMENT))])
    restated = [r[5] for r in res.replies if r[5][3] == rp.X_RESTATED]
    taker = next(r for r in restated if r[6] == "taker")
    # 5 filled against account 2, then 3 decremented: nothing left
    assert taker[12:15] == (5, 5, 0)


def _random_flow(seed: int, gw: int, n: int) -> list[list]:
    rng = random.Random(seed)
    batches = []
    ts = 100
    for _ in range(n):
        batch = []
        for _ in range(rng.randint(1, 6)):
            ts += 1
            acct = rng.randint(1, 3)
            r = rng.random()
            if r < 0.7:
                batch.append(_order(gw, acct, acct, rng.choice((1, -1)), rng.randint(1, 50),
                                    rng.randint(95, 105), f"c{ts}", ts=ts,
                                    tif=rng.choice((1, 1, 3))))  # fmt: skip
            elif r < 0.85:
                batch.append(CancelOrderRequest(ts, gw, acct, ts, acct, None,
                                                rng.randint(1, 80), None))  # fmt: skip
            elif r < 0.95:
                batch.append(AmendOrderRequest(ts, gw, acct, ts, acct, None, rng.randint(1, 80),
                                               None, rng.randint(95, 105), None))  # fmt: skip
            else:
                batch.append(MassCancelOrders(ts, gw, acct, ts, acct, None))
        batches.append(batch)
    return batches


def test_the_same_batches_give_the_same_replies_and_state() -> None:
    runs = []
    for _ in range(2):
        p, gw = _pipe()
        replies = []
        for batch in _random_flow(7, gw, 80):
            replies.extend(p.run(batch).replies)
        runs.append((replies, p.clearing.state_hash(), p.matcher.state_hash(),
                     p.core.history.export()))  # fmt: skip
        p.clearing.validate()
    assert runs[0] == runs[1]
    assert any(r[5][3] == rp.X_TRADE for r in runs[0][0] if r[5][0] == rp.EXEC)
