"""A first end-to-end path through the engine: rest, cross, cancel."""

from matching import BUY, SELL, CancelOrder, Fill, MatchingEngine, NewOrder, OrderCanceled


def test_cross_fills_at_maker_price_and_cancel_removes(engine: MatchingEngine) -> None:
    engine.apply(NewOrder(1, "X", 1, 10, SELL, 5, 101))
    engine.apply(NewOrder(2, "X", 2, 10, SELL, 5, 102))
    events = engine.apply(NewOrder(3, "X", 3, 11, BUY, 7, 102))
    fills = [e for e in events if isinstance(e, Fill)]
    assert [(f.price, f.qty, f.maker_order_id) for f in fills] == [(101, 5, 1), (102, 2, 2)]
    events = engine.apply(CancelOrder(4, "X", 2, 10))
    assert isinstance(events[0], OrderCanceled) and events[0].canceled_qty == 3
    assert engine.books["X"].depth() == ([], [])
    engine.validate()
