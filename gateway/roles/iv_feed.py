"""A simulated implied-volatility feed: the demo's vol oracle, beside the index feed.

One smile per option underlying and listed expiry (``clearing.options.surface``:
``sigma(k) = atm + skew·k + curvature·k²``). Each ``step(ts)`` moves every live
expiry's at-the-money vol by a mean-reverting random walk,

    atm' = atm + reversion · (mean - atm) + N(0, step)

rounded to whole ppm and kept within [``floor_ppm``, ``cap_ppm``] of the walk
(``IVFeed`` config, ``[exchange.iv_feed]``); skew and curvature are the configured
constants. An expiry at or before ``ts`` is skipped (it settles; it needs no smile).
The same seed and starting smiles give the same path. The clearing shell turns each
step into journaled ``IVUpdate`` inputs, so replay reproduces them; the engines never
see randomness.

The walk starts from the smile the engine already holds (after a restart) or else at
the configured mean.
"""

from __future__ import annotations

import random
from typing import Any

from clearing.commands import IVUpdate

PPM = 1_000_000


class RandomWalkIV:
    """Mean-reverting ATM vols per ``(underlying, expiry)``; see the module docstring."""

    def __init__(self, expiries: dict[str, tuple[int, ...]], start: dict[tuple[str, int], int],
                 cfg: Any) -> None:  # fmt: skip
        self.cfg = cfg
        self.atm: dict[tuple[str, int], int] = {}
        for u in sorted(expiries):
            for e in sorted(expiries[u]):
                self.atm[(u, e)] = start.get((u, e), cfg.atm_ppm)
        self._rng = random.Random(cfg.seed)

    def step(self, ts: int) -> list[IVUpdate]:
        """Move every live expiry once; return the ``IVUpdate`` inputs, in a fixed order."""
        c = self.cfg
        out = []
        for (u, e), atm in self.atm.items():
            if e <= ts:
                continue
            move = c.reversion_ppm / PPM * (c.atm_ppm - atm) + self._rng.gauss(0.0, c.step_ppm)
            new = min(max(round(atm + move), c.floor_ppm), c.cap_ppm)
            self.atm[(u, e)] = new
            out.append(IVUpdate(ts, u, e, new, c.skew_ppm, c.curvature_ppm))
        return out


def make_iv_feed(engine: Any, cfg: Any) -> RandomWalkIV | None:
    """The feed for an engine's option chains (None: disabled, or no chains listed)."""
    opts = engine.options
    if not cfg.enabled or opts is None or not opts.books:
        return None
    expiries = {name: tuple(book.chain.expiries) for name, book in opts.books.items()}
    start = {(name, e): smile.atm_ppm for name, book in opts.books.items()
             for e, smile in book.surface.smiles.items()}  # fmt: skip
    return RandomWalkIV(expiries, start, cfg)
