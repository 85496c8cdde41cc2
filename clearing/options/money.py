"""From float kernel figures to integer money, rounding against the account.

The pricing and scenario kernels work in float64 price units per unit of underlying.
Everything that touches an account is converted **per lot** (``x m``, the instrument
multiplier) to integer settlement minor units, in the direction that hurts the account:

- the value of a long lot rounds down, the liability of a short lot rounds up
  (``lot_values`` returns both: ``floor(x·m)`` and ``ceil(x·m)``);
- a requirement rounds up (``ceil_lots``);
- a scenario value change rounds down for lots held long and up for lots held short,
  so a scenario loss is always rounded up (``lot_values`` again: the pair (lo, hi)).

A position of ``q`` lots is then worth ``q·lo`` (q > 0) or ``q·hi`` (q < 0): exact
integers from there on, so cached sums and full recomputes agree to the unit.
"""

from __future__ import annotations

import numpy as np


def lot_values(x: np.ndarray, mult: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """``(floor(x·m), ceil(x·m))`` as int64 arrays."""
    v = np.asarray(x, dtype=np.float64) * mult
    return np.floor(v).astype(np.int64), np.ceil(v).astype(np.int64)


def ceil_lots(x: np.ndarray, mult: np.ndarray | int) -> np.ndarray:
    """``ceil(x·m)`` as int64 (a per-lot requirement)."""
    return np.ceil(np.asarray(x, dtype=np.float64) * mult).astype(np.int64)


def position_value(size: int, lo: int, hi: int) -> int:
    """A position's value at the mark: longs at the lower, shorts at the higher lot value."""
    return size * (lo if size > 0 else hi)
