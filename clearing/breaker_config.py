"""Circuit-breaker parameters per instrument, and the integer band arithmetic they drive.

Rules of this module:

1. ``BreakerConfig`` is a frozen dataclass validated on construction: a bad value raises
   ``ValueError`` naming the field (configuration is checked once, at start-up; runtime
   inputs are the business of ``clearing.breakers`` and never raise).
2. Percentages are integers in parts per million, durations integers in nanoseconds,
   prices integers in price units (the instrument's, so ``tick_size`` must equal the
   matcher instrument's tick).
3. Band edges always land on the tick and always inside the exact band: the low edge is
   rounded up, the high edge down (a narrower band refuses more, never less). A band never
   goes below one tick, because the matcher only accepts positive prices.

Defaults come from shared ``risk.md`` (§0, §4): a ±5 % order band around the mark
(Binance USDⓈ-M ``PERCENT_PRICE``), a LULD Tier-1 ±5 % dynamic band around the 5-minute
mean trade price, a 15 s limit state and a 5-minute pause, reopened by a call auction
(here the last 30 s of the pause), and a velocity rule at CME's dynamic-circuit-breaker
3.5 %, looked back over 60 s instead of 60 min so it catches sudden moves while LULD
handles drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

PPM = 1_000_000
"""One whole, in parts per million."""

SECOND_NS = 1_000_000_000

Tier = tuple[int | None, int]
"""``(max_reference_price or None, band_ppm)``: the band width for references up to that price."""


def _is_int(value: object) -> bool:
    return type(value) is int


def ceil_to_tick(num: int, den: int, tick: int) -> int:
    """The smallest multiple of ``tick`` that is >= ``num / den`` (``den`` > 0)."""
    return -((-num) // (den * tick)) * tick


def floor_to_tick(num: int, den: int, tick: int) -> int:
    """The largest multiple of ``tick`` that is <= ``num / den`` (``den`` > 0)."""
    return (num // (den * tick)) * tick


def band_around(center: int, band_ppm: int, tick: int) -> tuple[int, int]:
    """``(low, high)`` = ``center · (1 ∓ band_ppm / 1e6)``, low rounded up, high down to the tick.

    The low edge is at least one tick. If ``center`` lies on the tick the band contains it;
    otherwise a very narrow band may come out empty (low > high), which refuses every price.
    """
    low = ceil_to_tick(center * (PPM - band_ppm), PPM, tick)
    high = floor_to_tick(center * (PPM + band_ppm), PPM, tick)
    return max(low, tick), high


def mean_to_tick(total: int, count: int, tick: int) -> int:
    """``total / count`` to the nearest multiple of ``tick`` (halves up), at least one tick."""
    return max(tick, ((2 * total + count * tick) // (2 * count * tick)) * tick)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Circuit-breaker parameters of one instrument (see docs/circuit-breakers.md)."""

    static_band_ppm: int = 50_000
    """Order band around the mark: orders priced beyond mark · (1 ± this) are refused."""
    luld_window_ns: int = 300 * SECOND_NS
    """Look-back of the dynamic-band reference (mean trade price)."""
    tiers: tuple[Tier, ...] = ((None, 50_000),)
    """Dynamic band width by reference price, first matching tier wins; the last is open-ended."""
    limit_state_ns: int = 15 * SECOND_NS
    """How long the book may sit at a band edge before the instrument halts."""
    pause_ns: int = 300 * SECOND_NS
    """Length of a breaker halt, reopening call included."""
    call_period_ns: int = 30 * SECOND_NS
    """The last part of the pause, during which the reopening call auction is open."""
    velocity_ppm: int = 35_000
    """A trade more than this far from any trade in the velocity window halts at once (0: off)."""
    velocity_window_ns: int = 60 * SECOND_NS
    """Look-back of the velocity rule."""
    tick_size: int = 1
    """The instrument's tick, in price units: band edges and references land on it."""

    def __post_init__(self) -> None:
        tiers = self.tiers
        if isinstance(tiers, list | tuple):
            tiers = tuple(tuple(t) if isinstance(t, list) else t for t in tiers)
            object.__setattr__(self, "tiers", tiers)
        problem = self.check()
        if problem:
            raise ValueError(f"bad breaker config: {problem}")

    def check(self) -> str | None:
        """Describe what is wrong with this configuration, or return None."""
        for f in fields(self):
            if f.name != "tiers" and not _is_int(getattr(self, f.name)):
                return f"{f.name} must be an integer"
        if not 0 < self.static_band_ppm < PPM:
            return "static_band_ppm must be in 1..999999"
        for name in ("luld_window_ns", "limit_state_ns", "pause_ns", "tick_size"):
            if getattr(self, name) <= 0:
                return f"{name} must be positive"
        if not 0 <= self.call_period_ns <= self.pause_ns:
            return "call_period_ns must be in 0..pause_ns"
        if not 0 <= self.velocity_ppm < PPM:
            return "velocity_ppm must be in 0..999999 (0 turns the rule off)"
        if self.velocity_window_ns <= 0:
            return "velocity_window_ns must be positive"
        return _check_tiers(self.tiers)

    def band_ppm(self, reference: int) -> int:
        """The dynamic band width (ppm) for a reference price: the first tier that covers it."""
        for max_ref, ppm in self.tiers:
            if max_ref is None or reference <= max_ref:
                return ppm
        raise AssertionError("the last tier is open-ended")  # guaranteed by check()

    def dynamic_band(self, reference: int) -> tuple[int, int]:
        """The LULD band around ``reference`` (which is on the tick), rounded inwards."""
        return band_around(reference, self.band_ppm(reference), self.tick_size)

    # -- TOML-style dictionaries ---------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> BreakerConfig:
        """Build from a TOML-style table; missing keys take the defaults.

        Keys are the field names. ``tiers`` is a list of tables
        ``{max_reference_price = INT, band_ppm = INT}`` (the last one without
        ``max_reference_price``: open-ended), or of pairs ``[max_or_None, band_ppm]``.
        Unknown keys and wrong types raise ``ValueError``.
        """
        if not isinstance(data, Mapping):
            raise ValueError("breaker config must be a table")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, object] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown breaker config key {key!r}")
            if key == "tiers":
                kwargs[key] = _tiers_from(value)
            elif not _is_int(value):
                raise ValueError(f"breaker config key {key!r} must be an integer")
            else:
                kwargs[key] = value
        return cls(**kwargs)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """The TOML-style table ``from_dict`` reads back to an equal config."""
        out: dict[str, object] = {}
        for f in fields(self):
            if f.name == "tiers":
                out["tiers"] = [
                    {"band_ppm": ppm} if m is None else {"max_reference_price": m, "band_ppm": ppm}
                    for m, ppm in self.tiers
                ]
            else:
                out[f.name] = getattr(self, f.name)
        return out


def _tiers_from(value: object) -> tuple[Tier, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError("tiers must be a list")
    tiers: list[Tier] = []
    for item in value:
        if isinstance(item, Mapping):
            extra = set(item) - {"max_reference_price", "band_ppm"}
            if extra:
                raise ValueError(f"unknown tier key(s) {sorted(extra)}")
            if "band_ppm" not in item:
                raise ValueError("every tier needs band_ppm")
            tiers.append((item.get("max_reference_price"), item["band_ppm"]))  # type: ignore[arg-type]
        elif isinstance(item, list | tuple) and len(item) == 2:
            tiers.append((item[0], item[1]))
        else:
            raise ValueError("a tier is a table {max_reference_price, band_ppm} or a pair")
    problem = _check_tiers(tuple(tiers))
    if problem:
        raise ValueError(problem)
    return tuple(tiers)


def _check_tiers(tiers: object) -> str | None:
    if not isinstance(tiers, tuple) or not tiers:
        return "tiers must be a non-empty sequence of (max_reference_price, band_ppm)"
    previous = 0
    for i, tier in enumerate(tiers):
        if not isinstance(tier, tuple) or len(tier) != 2:
            return f"tier {i} must be a (max_reference_price, band_ppm) pair"
        max_ref, ppm = tier
        if not _is_int(ppm) or not 0 < ppm < PPM:
            return f"tier {i}: band_ppm must be an integer in 1..999999"
        last = i == len(tiers) - 1
        if max_ref is None:
            if not last:
                return f"tier {i}: only the last tier may be open-ended"
            continue
        if last:
            return "the last tier must be open-ended (no max_reference_price)"
        if not _is_int(max_ref) or max_ref <= previous:
            return f"tier {i}: max_reference_price must be a positive increasing integer"
        previous = max_ref
    return None
