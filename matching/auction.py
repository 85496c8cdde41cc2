"""Call-auction price determination (the uncross), as a pure function of aggregate levels.

Rules, in order (Xetra / Nasdaq cross, see shared risk.md §4.5):

1. maximum executable volume ``min(demand(p), supply(p))`` where demand(p) is the buy
   quantity limited at or above p and supply(p) the sell quantity limited at or below p;
2. among ties, minimum surplus ``|demand(p) - supply(p)|``;
3. if every tied price has surplus on the buy side, the highest; if every one has it on
   the sell side, the lowest;
4. otherwise the price nearest the reference price (the reference itself where it ties);
   with no reference, the lowest tied price.

Candidates are the limit prices on either side, the reference and the band edges, kept
to the band: no auction trade prints outside the band in force.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import accumulate


def uncross_price(
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    reference: int | None = None,
    low: int | None = None,
    high: int | None = None,
) -> tuple[int, int] | None:
    """Return ``(price, volume)`` of the uncross, or None when nothing can trade.

    ``bids`` and ``asks`` are (price, aggregate qty) pairs in any order.
    """
    if not bids or not asks:
        return None
    bid_prices = sorted(p for p, _ in bids)
    bid_qty = dict.fromkeys(bid_prices, 0)
    for p, q in bids:
        bid_qty[p] += q
    bid_prices = sorted(bid_qty)
    ask_qty: dict[int, int] = {}
    for p, q in asks:
        ask_qty[p] = ask_qty.get(p, 0) + q
    ask_prices = sorted(ask_qty)
    # demand(p): sum of bids with price >= p (suffix sums); supply(p): asks with price <= p
    bid_suffix = list(accumulate(bid_qty[p] for p in reversed(bid_prices)))[::-1]
    ask_prefix = list(accumulate(ask_qty[p] for p in ask_prices))

    def demand(p: int) -> int:
        i = bisect_left(bid_prices, p)
        return bid_suffix[i] if i < len(bid_prices) else 0

    def supply(p: int) -> int:
        i = bisect_right(ask_prices, p)
        return ask_prefix[i - 1] if i else 0

    lo = low if low is not None else -(1 << 62)
    hi = high if high is not None else 1 << 62
    candidates = set(bid_prices) | set(ask_prices)
    for extra in (reference, low, high):
        if extra is not None:
            candidates.add(extra)
    scored = []
    for p in candidates:
        if p < lo or p > hi:
            continue
        d, s = demand(p), supply(p)
        vol = min(d, s)
        if vol > 0:
            scored.append((p, vol, d - s))
    if not scored:
        return None
    best_vol = max(v for _, v, _ in scored)
    tied = [(p, sur) for p, v, sur in scored if v == best_vol]
    min_abs = min(abs(sur) for _, sur in tied)
    tied = sorted((p, sur) for p, sur in tied if abs(sur) == min_abs)
    if len(tied) == 1:
        return tied[0][0], best_vol
    if all(sur > 0 for _, sur in tied):
        return tied[-1][0], best_vol
    if all(sur < 0 for _, sur in tied):
        return tied[0][0], best_vol
    if reference is None:
        return tied[0][0], best_vol
    nearest = min(tied, key=lambda t: (abs(t[0] - reference), t[0]))
    return nearest[0], best_vol
