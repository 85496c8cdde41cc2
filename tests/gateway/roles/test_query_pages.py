"""``query_pages``: pages of at most ``QUERY_CHUNK`` rows, ``last`` on the final one (an
empty answer is one empty page), round robin across answers within a row budget."""

from __future__ import annotations

from gateway.roles.query_pages import Pager, QueryPages
from gateway.roles.views import QUERY_CHUNK


def _pager(name: str, n: int) -> Pager:
    return Pager(None, 1, 1, name, "query_orders", "orders", ({"i": i} for i in range(n)))


def test_pages_are_chunks_and_the_last_says_so() -> None:
    p = _pager("a", 2 * QUERY_CHUNK + 1)
    pages = []
    while not p.done:
        pages.append(p.page(7))
    assert [len(x["items"]) for x in pages] == [QUERY_CHUNK, QUERY_CHUNK, 1]
    assert [x["last"] for x in pages] == [False, False, True]
    assert [r["i"] for x in pages for r in x["items"]] == list(range(2 * QUERY_CHUNK + 1))
    exact = _pager("b", QUERY_CHUNK)
    assert exact.page(7)["last"] and exact.done  # no empty page after a full last one


def test_an_empty_answer_is_one_empty_last_page() -> None:
    p = _pager("a", 0)
    assert p.page(1) == {"v": 1, "type": "query_reply", "req_id": "a", "query": "orders",
                         "items": [], "last": True, "ts": 1}  # fmt: skip


def test_take_is_round_robin_within_the_budget() -> None:
    q = QueryPages()
    q.append((None, ("big", 5 * QUERY_CHUNK)))
    q.append((None, ("small", 1)))
    q.append((None, ("bad", -1)))
    out = q.take(2 * QUERY_CHUNK, 1, lambda _, spec: None if spec[1] < 0 else _pager(*spec))
    assert [(p.req_id, r["last"]) for p, r in out] == [
        ("big", False), ("small", True), ("big", False)]  # a page over the budget at most
    assert len(q) == 1  # the big one goes on at the next turn
    rows = 0
    while q:
        rows += sum(len(r["items"]) for _, r in q.take(2 * QUERY_CHUNK, 2, lambda *a: None))
    assert rows == 3 * QUERY_CHUNK
    q.append((None, ("late", 3)))
    waiting, active = q.cancel()
    assert waiting == [(None, ("late", 3))] and active == [] and len(q) == 0


def test_an_answer_whose_asker_is_gone_is_dropped_unbuilt() -> None:
    q = QueryPages()
    q.append((None, ("kept", 1)))
    q.append((None, ("gone", 3 * QUERY_CHUNK)))
    out = q.take(10 * QUERY_CHUNK, 1, lambda _, spec: _pager(*spec),
                 lambda p: p.req_id != "gone")  # fmt: skip
    assert [p.req_id for p, _ in out] == ["kept"] and len(q) == 0
