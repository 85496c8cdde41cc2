"""Events the circuit-breaker policy emits (beside the matcher commands it sends).

Rules: frozen, slotted records whose fields are plain ints and strs (``figures`` is a flat
dict of str -> int | str), so they encode to msgpack/JSON as they are. ``ts`` is integer
nanoseconds, prices are integer price units, percentages ppm. Re-exported by
``clearing.breakers``, where the clearing engine imports them from.

Rule names (``rule``) are the constants below; ``figures`` say why the rule fired, e.g.
``reference``, ``band_low``/``band_high``, ``move_ppm``, ``duration_ns`` (see
docs/circuit-breakers.md for every key).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RULE_LIMIT_STATE = "luld_limit_state"
"""The book sat at a dynamic-band edge for the limit-state period."""
RULE_VELOCITY = "velocity"
"""A trade moved beyond the velocity percentage within the velocity window."""
RULE_MARKET = "market_wide"
"""An operator's market-wide halt (every instrument)."""

Figures = dict[str, int | str]


@dataclass(frozen=True, slots=True)
class BandUpdated:
    """The dynamic band sent to the matcher changed (a ``SetBand`` goes out with it)."""

    ts: int
    symbol: str
    low: int
    high: int
    reference: int


@dataclass(frozen=True, slots=True)
class BreakerTripped:
    """An instrument halted (a ``Halt`` goes out with it); ``rule`` and ``figures`` say why."""

    ts: int
    symbol: str
    rule: str
    figures: Figures = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BreakerResumed:
    """An instrument reopened (a ``Resume`` goes out with it) after a halt under ``rule``."""

    ts: int
    symbol: str
    rule: str
    figures: Figures = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BreakerRejected:
    """A call into the breakers was refused and changed nothing.

    ``call`` names the method (``on_trade``, ``on_top_of_book``, ``on_tick``,
    ``market_halt``, ``market_resume``); ``reason`` is a ``matching.reasons.Reason`` code
    (UNKNOWN_CLEARING_INSTRUMENT or INVALID_BREAKER_INPUT); ``symbol`` is the symbol as
    given, rendered with ``repr`` when it was not a string.
    """

    ts: int
    symbol: str
    call: str
    reason: int
    text: str
