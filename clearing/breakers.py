"""Circuit-breaker policy: clearing decides bands and halts, the matcher enforces them.

The clearing engine calls one ``CircuitBreakers`` object (interface in
docs/circuit-breakers.md) with what it learns from the matcher's event stream (trade
prices, its shadow book's best bid and ask) and with the passing of time; the object
answers with *outputs*: matcher commands (``SetBand``, ``Halt``, ``OpenAuction``,
``Resume``), which the shell forwards to the matcher, and breaker events (``BandUpdated``,
``BreakerTripped``, ``BreakerResumed``, ``BreakerRejected``).

Rules of this module:

1. Pure and deterministic: no clock, no I/O, no randomness. Time arrives as ``ts``
   (integer nanoseconds) and never runs backwards: a ``ts`` earlier than the latest one
   seen is taken as that latest time. Every call first fires the timers that are due at
   its ``ts`` (limit state, reopening call, pause end), then applies its own input.
2. Bad input never raises: an unknown symbol or a wrongly typed value returns one
   ``BreakerRejected`` (reason UNKNOWN_CLEARING_INSTRUMENT or INVALID_BREAKER_INPUT) and
   changes nothing. ``static_band`` answers the empty band ``(1, 0)`` (every price refused)
   for an unknown symbol or a bad mark; ``is_halted`` answers the market-wide flag for an
   unknown symbol. A repeated ``market_halt`` or a ``market_resume`` with no market halt
   is a no-op returning ``[]``.
3. Static band: ``mark · (1 ± static_band_ppm)``, low rounded up and high down to the tick.
4. Dynamic band (LULD): the reference is the mean of the trade prices of the last
   ``luld_window_ns`` (recomputed on each trade, rounded to the nearest tick, halves up;
   it stays put while no trade arrives), the band is ``reference · (1 ± tier ppm)``
   rounded inwards; ``SetBand`` + ``BandUpdated`` go out only when the band changes
   (and again, unconditionally, when an instrument reopens).
5. Limit state: best bid >= band high or best ask <= band low, while trading. Held
   continuously for ``limit_state_ns`` it halts the instrument for ``pause_ns``; any
   update that leaves the edge (or switches edge) restarts the count.
6. Velocity: a trade more than ``velocity_ppm`` away from any trade of the last
   ``velocity_window_ns`` halts at once for ``pause_ns``. The window restarts at every
   halt. Only trades printed while trading count.
7. Reopening: at ``pause_end - call_period_ns`` an ``OpenAuction``; at ``pause_end`` a
   ``Resume(reference_price=reference)``, a ``BreakerResumed`` and the band re-sent.
   ``is_halted`` is True from the halt until that ``Resume`` (call included).
8. Market-wide halt: every trading instrument gets ``Halt``, every instrument a
   ``BreakerTripped(market_wide)`` (one already paused stays as the matcher has it:
   halted, or in its call); no timer runs until ``market_resume``, which puts every
   instrument through the call: each reopens ``call_period_ns`` later, or at the end of
   its own pause if that is later.
9. ``export_state()`` is plain ints, strs, lists and dicts; ``from_state`` rebuilds an
   object whose outputs are identical from then on.
"""

from __future__ import annotations

from collections.abc import Mapping

from clearing.breaker_config import PPM, BreakerConfig, band_around
from clearing.breaker_events import (
    RULE_LIMIT_STATE,
    RULE_MARKET,
    RULE_VELOCITY,
    BandUpdated,
    BreakerRejected,
    BreakerResumed,
    BreakerTripped,
    Figures,
)
from clearing.breaker_windows import ExtremaWindow, MeanWindow
from matching.commands import Halt, OpenAuction, Resume, SetBand
from matching.instrument import MAX_PRICE
from matching.reasons import Reason

__all__ = [
    "CALL",
    "EMPTY_BAND",
    "HALTED",
    "RULE_LIMIT_STATE",
    "RULE_MARKET",
    "RULE_VELOCITY",
    "TRADING",
    "BandUpdated",
    "BreakerConfig",
    "BreakerRejected",
    "BreakerResumed",
    "BreakerTripped",
    "CircuitBreakers",
]

TRADING = "trading"
HALTED = "halted"
CALL = "call"
_PHASES = frozenset((TRADING, HALTED, CALL))
_UPPER = "upper"
_LOWER = "lower"
EMPTY_BAND = (1, 0)
"""What ``static_band`` answers when it cannot compute a band: no price is inside."""
STATE_VERSION = 1


def _ts_ok(ts: object) -> bool:
    return type(ts) is int and ts >= 0


def _price_ok(price: object) -> bool:
    return type(price) is int and 0 < price <= MAX_PRICE


class _Symbol:
    """Breaker state of one instrument."""

    __slots__ = (
        "band",
        "band_cache",
        "best_ask",
        "best_bid",
        "call_at",
        "config",
        "halted_at",
        "limit_side",
        "limit_since",
        "pause_end",
        "phase",
        "reference",
        "rule",
        "static_cache",
        "symbol",
        "trades",
        "velocity",
    )

    def __init__(self, symbol: str, config: BreakerConfig) -> None:
        self.symbol = symbol
        self.config = config
        self.phase = TRADING
        self.rule = ""  # the rule of the current halt
        self.halted_at = 0
        self.pause_end: int | None = None  # None while halted: only market_resume ends it
        self.call_at = 0
        self.trades = MeanWindow()
        self.velocity = ExtremaWindow()
        self.reference: int | None = None
        self.band: tuple[int, int] | None = None  # the band last sent to the matcher
        self.best_bid: int | None = None
        self.best_ask: int | None = None
        self.limit_side = ""  # "", "upper" (bid at band high) or "lower" (ask at band low)
        self.limit_since = 0
        # derived, not state: the last (mark, static band) and (reference, dynamic band)
        self.static_cache: tuple[int, tuple[int, int]] = (0, EMPTY_BAND)
        self.band_cache: tuple[int, tuple[int, int]] = (0, EMPTY_BAND)

    def figures(self) -> Figures:
        """Reference and band, where known: the figures every event carries."""
        out: Figures = {}
        if self.reference is not None:
            out["reference"] = self.reference
        if self.band is not None:
            out["band_low"], out["band_high"] = self.band
        return out


class CircuitBreakers:
    """Circuit-breaker policy for a set of instruments (``configs`` keyed by symbol)."""

    def __init__(self, configs: Mapping[str, BreakerConfig]) -> None:
        self._symbols: dict[str, _Symbol] = {}
        for symbol in sorted(configs):
            config = configs[symbol]
            if type(symbol) is not str or not symbol:
                raise ValueError(f"breaker symbol must be a non-empty string, not {symbol!r}")
            if not isinstance(config, BreakerConfig):
                raise ValueError(f"breaker config of {symbol!r} must be a BreakerConfig")
            self._symbols[symbol] = _Symbol(symbol, config)
        self.now = 0
        self.market_halted = False

    # ------------------------------------------------------------------ queries -------
    def static_band(self, symbol: str, mark: int) -> tuple[int, int]:
        """``(low, high)``: order prices the pre-trade check accepts around ``mark``."""
        st = self._symbols.get(symbol) if type(symbol) is str else None
        if st is None or type(mark) is not int or not 0 < mark <= MAX_PRICE:
            return EMPTY_BAND
        cached_mark, band = st.static_cache
        if mark != cached_mark:  # marks move far less often than orders arrive
            cfg = st.config
            band = band_around(mark, cfg.static_band_ppm, cfg.tick_size)
            st.static_cache = (mark, band)
        return band

    def is_halted(self, symbol: str) -> bool:
        """True while halted or in the reopening call (market-wide halt included)."""
        st = self._get(symbol)
        return self.market_halted or (st is not None and st.phase != TRADING)

    def phase(self, symbol: str) -> str:
        """``trading``, ``halted`` or ``call``: the matcher status the breakers asked for."""
        st = self._get(symbol)
        if st is None:
            return ""
        return st.phase

    def reference(self, symbol: str) -> int | None:
        """The current LULD reference price, None before the first trade."""
        st = self._get(symbol)
        return None if st is None else st.reference

    def band(self, symbol: str) -> tuple[int, int] | None:
        """The dynamic band last sent to the matcher, None before the first trade."""
        st = self._get(symbol)
        return None if st is None else st.band

    # ------------------------------------------------------------------ inputs --------
    def on_trade(self, symbol: str, ts: int, price: int) -> list:
        """A trade printed at ``price``: move the reference and band, check velocity."""
        st = self._symbols.get(symbol) if type(symbol) is str else None
        if st is None or type(ts) is not int or ts < 0:
            return self._check("on_trade", symbol, ts)[1]
        if type(price) is not int or not 0 < price <= MAX_PRICE:
            return self._reject(
                "on_trade",
                symbol,
                ts,
                Reason.INVALID_BREAKER_INPUT,
                "price must be a positive integer",
            )
        if ts > self.now:
            self.now = ts
        else:
            ts = self.now
        halted = self.market_halted
        # _advance: nothing can be due without a limit state or a pause running
        out = [] if halted or not (st.limit_side or st.pause_end is not None) else (
            self._advance(st, ts))
        cfg = st.config
        # the LULD reference: MeanWindow add + evict, then mean_to_tick
        trades = st.trades
        samples = trades.samples
        samples.append((ts, price))
        total = trades.total + price
        cutoff = ts - cfg.luld_window_ns
        while samples and samples[0][0] <= cutoff:
            total -= samples.popleft()[1]
        trades.total = total
        count = len(samples)
        tick = cfg.tick_size
        ref = ((2 * total + count * tick) // (2 * count * tick)) * tick
        st.reference = ref = ref if ref > tick else tick
        # _send_band(force=False)
        cached_ref, band = st.band_cache
        if ref != cached_ref:
            band = cfg.dynamic_band(ref)
            st.band_cache = (ref, band)
        if band != st.band:
            st.band = band
            low, high = band
            out.append(SetBand(ts, st.symbol, low, high))
            out.append(BandUpdated(ts, st.symbol, low, high, ref))
        if st.phase == TRADING and not halted:
            vp = cfg.velocity_ppm
            if vp:  # _velocity without a trip: evict, compare, remember
                window = st.velocity
                lows, highs = window.lows, window.highs
                cutoff = ts - cfg.velocity_window_ns
                while lows and lows[0][0] <= cutoff:
                    lows.popleft()
                while highs and highs[0][0] <= cutoff:
                    highs.popleft()
                if lows:
                    lo = lows[0][1]
                    hi = highs[0][1]
                    if (price - lo) * PPM > vp * lo or (hi - price) * PPM > vp * hi:
                        out.extend(self._velocity(st, ts, price))
                        return out
                while lows and lows[-1][1] >= price:
                    lows.pop()
                lows.append((ts, price))
                while highs and highs[-1][1] <= price:
                    highs.pop()
                highs.append((ts, price))
            self._evaluate_limit(st, ts)
        return out

    def on_top_of_book(
        self, symbol: str, ts: int, best_bid: int | None, best_ask: int | None
    ) -> list:
        """The book's best bid / ask changed (None: that side is empty)."""
        st, rejected = self._check("on_top_of_book", symbol, ts)
        if st is None:
            return rejected
        for value in (best_bid, best_ask):
            if value is not None and not _price_ok(value):
                return self._reject(
                    "on_top_of_book",
                    symbol,
                    ts,
                    Reason.INVALID_BREAKER_INPUT,
                    "best bid/ask must be None or a positive integer",
                )
        ts = self._clock(ts)
        out = self._advance(st, ts)
        st.best_bid, st.best_ask = best_bid, best_ask
        self._evaluate_limit(st, ts)
        return out

    def on_tick(self, ts: int) -> list:
        """Time passed: fire every due timer (limit state, call opening, pause end)."""
        if not _ts_ok(ts):
            return self._reject(
                "on_tick",
                "",
                ts,
                Reason.INVALID_BREAKER_INPUT,
                "ts must be a non-negative integer (ns)",
            )
        ts = self._clock(ts)
        out: list = []
        if self.market_halted:  # _advance fires nothing during a market-wide halt
            return out
        for st in self._symbols.values():
            if st.limit_side or st.pause_end is not None:  # else nothing can be due
                out.extend(self._advance(st, ts))
        return out

    def market_halt(self, ts: int, reason: str) -> list:
        """Halt every instrument until ``market_resume``."""
        if not _ts_ok(ts) or type(reason) is not str:
            return self._reject(
                "market_halt",
                "",
                ts,
                Reason.INVALID_BREAKER_INPUT,
                "ts must be a non-negative integer and reason a string",
            )
        if self.market_halted:
            return []
        ts = self._clock(ts)
        self.market_halted = True
        out: list = []
        for st in self._symbols.values():
            figures: Figures = {"reason": reason}
            if st.phase == TRADING:
                out.extend(self._halt(st, ts, RULE_MARKET, figures, timed=False))
                continue
            # already paused by its own rule: the matcher keeps it as it is (halted, or
            # collecting orders in its call, where nothing trades anyway); its own pause
            # carries on once the market resumes
            figures["paused_by"] = st.rule
            figures["phase"] = st.phase
            if st.pause_end is not None:
                figures["pause_end"] = st.pause_end
            out.append(BreakerTripped(ts, st.symbol, RULE_MARKET, {**st.figures(), **figures}))
        return out

    def market_resume(self, ts: int) -> list:
        """End the market-wide halt: every instrument reopens through the call auction."""
        if not _ts_ok(ts):
            return self._reject(
                "market_resume",
                "",
                ts,
                Reason.INVALID_BREAKER_INPUT,
                "ts must be a non-negative integer (ns)",
            )
        if not self.market_halted:
            return []
        ts = self._clock(ts)
        self.market_halted = False
        out: list = []
        for st in self._symbols.values():
            earliest = ts + st.config.call_period_ns
            st.pause_end = earliest if st.pause_end is None else max(st.pause_end, earliest)
            out.extend(self._advance(st, ts))
        return out

    # ------------------------------------------------------------------ internals -----
    def _get(self, symbol: object) -> _Symbol | None:
        return self._symbols.get(symbol) if type(symbol) is str else None

    def _clock(self, ts: int) -> int:
        if ts > self.now:
            self.now = ts
        return self.now

    def _reject(self, call: str, symbol: object, ts: object, reason: Reason, text: str) -> list:
        when = ts if _ts_ok(ts) else self.now
        name = symbol if type(symbol) is str else repr(symbol)
        return [BreakerRejected(when, name, call, int(reason), text)]  # type: ignore[arg-type]

    def _check(self, call: str, symbol: object, ts: object) -> tuple[_Symbol | None, list]:
        st = self._get(symbol)
        if st is None:
            return None, self._reject(
                call,
                symbol,
                ts,
                Reason.UNKNOWN_CLEARING_INSTRUMENT,
                "no circuit-breaker configuration for this symbol",
            )
        if not _ts_ok(ts):
            return None, self._reject(
                call,
                symbol,
                ts,
                Reason.INVALID_BREAKER_INPUT,
                "ts must be a non-negative integer (ns)",
            )
        return st, []

    def _advance(self, st: _Symbol, ts: int) -> list:
        """Fire this instrument's timers that are due at ``ts``."""
        if self.market_halted:
            return []
        out: list = []
        if st.phase == TRADING:
            out.extend(self._check_limit_timer(st, ts))
        pause_end = st.pause_end
        if pause_end is None:
            return out
        if st.phase == HALTED and ts >= pause_end - st.config.call_period_ns:
            out.append(OpenAuction(ts, st.symbol))
            st.phase = CALL
            st.call_at = ts
        if st.phase == CALL and ts >= pause_end:
            out.extend(self._resume(st, ts))
        return out

    def _send_band(self, st: _Symbol, ts: int, force: bool) -> list:
        ref = st.reference
        if ref is None:
            return []
        cached_ref, band = st.band_cache
        if ref != cached_ref:
            band = st.config.dynamic_band(ref)
            st.band_cache = (ref, band)
        if band == st.band and not force:
            return []
        st.band = band
        low, high = band
        return [SetBand(ts, st.symbol, low, high), BandUpdated(ts, st.symbol, low, high, ref)]

    def _evaluate_limit(self, st: _Symbol, ts: int) -> None:
        """Start, keep or clear the limit state from the last top of book and band."""
        band = st.band
        if st.phase != TRADING or self.market_halted or band is None:
            st.limit_side, st.limit_since = "", 0
            return
        low, high = band
        upper = st.best_bid is not None and st.best_bid >= high
        lower = st.best_ask is not None and st.best_ask <= low
        side = st.limit_side
        if (side == _UPPER and upper) or (side == _LOWER and lower):
            return
        if upper:
            st.limit_side, st.limit_since = _UPPER, ts
        elif lower:
            st.limit_side, st.limit_since = _LOWER, ts
        else:
            st.limit_side, st.limit_since = "", 0

    def _check_limit_timer(self, st: _Symbol, ts: int) -> list:
        cfg = st.config
        if not st.limit_side or ts - st.limit_since < cfg.limit_state_ns:
            return []
        figures: Figures = {
            "side": st.limit_side,
            "limit_since": st.limit_since,
            "duration_ns": ts - st.limit_since,
            "limit_state_ns": cfg.limit_state_ns,
        }
        if st.limit_side == _UPPER:
            figures["best_bid"] = st.best_bid  # type: ignore[assignment]
        else:
            figures["best_ask"] = st.best_ask  # type: ignore[assignment]
        return self._halt(st, ts, RULE_LIMIT_STATE, figures, timed=True)

    def _velocity(self, st: _Symbol, ts: int, price: int) -> list:
        """Halt if ``price`` moved beyond the velocity limit; otherwise remember it."""
        cfg = st.config
        if cfg.velocity_ppm == 0:
            return []
        window = st.velocity
        window.evict(ts - cfg.velocity_window_ns)
        if window:
            lo_ts, lo = window.low()
            hi_ts, hi = window.high()
            up = (price - lo) * PPM > cfg.velocity_ppm * lo
            down = (hi - price) * PPM > cfg.velocity_ppm * hi
            if up or down:
                # both at once: the larger relative move, (price-lo)/lo vs (hi-price)/hi
                if up and (not down or (price - lo) * hi >= (hi - price) * lo):
                    from_ts, from_price = lo_ts, lo
                else:
                    from_ts, from_price = hi_ts, hi
                figures: Figures = {
                    "from_price": from_price,
                    "from_ts": from_ts,
                    "to_price": price,
                    "move_ppm": abs(price - from_price) * PPM // from_price,
                    "velocity_ppm": cfg.velocity_ppm,
                    "window_ns": cfg.velocity_window_ns,
                }
                return self._halt(st, ts, RULE_VELOCITY, figures, timed=True)
        window.add(ts, price)
        return []

    def _halt(self, st: _Symbol, ts: int, rule: str, figures: Figures, timed: bool) -> list:
        cfg = st.config
        st.phase = HALTED
        st.rule = rule
        st.halted_at = ts
        st.pause_end = ts + cfg.pause_ns if timed else None
        st.limit_side, st.limit_since = "", 0
        st.velocity.clear()
        full = {**st.figures(), **figures}
        if st.pause_end is not None:
            full["pause_ns"] = cfg.pause_ns
            full["call_at"] = st.pause_end - cfg.call_period_ns
            full["resume_at"] = st.pause_end
        return [Halt(ts, st.symbol, rule), BreakerTripped(ts, st.symbol, rule, full)]

    def _resume(self, st: _Symbol, ts: int) -> list:
        rule = st.rule
        figures: Figures = {
            **st.figures(),
            "halted_at": st.halted_at,
            "halted_ns": ts - st.halted_at,
            "call_ns": ts - st.call_at,
        }
        st.phase = TRADING
        st.rule = ""
        st.pause_end = None
        out: list = [
            Resume(ts, st.symbol, st.reference),
            BreakerResumed(ts, st.symbol, rule, figures),
        ]
        out.extend(self._send_band(st, ts, force=True))
        self._evaluate_limit(st, ts)
        return out

    # ------------------------------------------------------------------ state ---------
    def export_state(self) -> dict:
        """The whole breaker state as plain ints, strs, lists and dicts."""
        symbols: dict[str, dict] = {}
        for sym, st in self._symbols.items():
            symbols[sym] = {
                "phase": st.phase,
                "rule": st.rule,
                "halted_at": st.halted_at,
                "pause_end": -1 if st.pause_end is None else st.pause_end,
                "call_at": st.call_at,
                "trades": st.trades.export(),
                "velocity": st.velocity.export(),
                "reference": 0 if st.reference is None else st.reference,
                "band": [] if st.band is None else list(st.band),
                "best_bid": 0 if st.best_bid is None else st.best_bid,
                "best_ask": 0 if st.best_ask is None else st.best_ask,
                "limit_side": st.limit_side,
                "limit_since": st.limit_since,
            }
        return {
            "version": STATE_VERSION,
            "now": self.now,
            "market_halted": int(self.market_halted),
            "symbols": symbols,
        }

    @classmethod
    def from_state(cls, configs: Mapping[str, BreakerConfig], state: Mapping) -> CircuitBreakers:
        """Rebuild from ``export_state()``; raise ValueError if it does not fit ``configs``.

        Symbols configured but absent from the state start fresh; a symbol in the state
        with no configuration is an error.
        """
        obj = cls(configs)
        try:
            if state["version"] != STATE_VERSION:
                raise ValueError(f"unsupported breaker state version {state['version']!r}")
            obj.now = _int(state["now"])
            obj.market_halted = bool(_int(state["market_halted"]))
            for sym, data in state["symbols"].items():
                st = obj._symbols.get(sym)
                if st is None:
                    raise ValueError(f"breaker state for unconfigured symbol {sym!r}")
                _restore(st, data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed breaker state: {exc!r}") from exc
        return obj


def _int(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _restore(st: _Symbol, data: Mapping) -> None:
    phase = data["phase"]
    if phase not in _PHASES:
        raise ValueError(f"unknown breaker phase {phase!r}")
    st.phase = phase
    st.rule = str(data["rule"])
    st.halted_at = _int(data["halted_at"])
    pause_end = _int(data["pause_end"])
    st.pause_end = None if pause_end < 0 else pause_end
    st.call_at = _int(data["call_at"])
    st.trades = MeanWindow.restore([[_int(t), _int(p)] for t, p in data["trades"]])
    velocity = data["velocity"]
    st.velocity = ExtremaWindow.restore(
        {k: [[_int(t), _int(p)] for t, p in velocity[k]] for k in ("lows", "highs")}
    )
    reference = _int(data["reference"])
    st.reference = reference or None
    band = data["band"]
    st.band = None if not band else (_int(band[0]), _int(band[1]))
    st.best_bid = _int(data["best_bid"]) or None
    st.best_ask = _int(data["best_ask"]) or None
    side = data["limit_side"]
    if side not in ("", _UPPER, _LOWER):
        raise ValueError(f"unknown limit-state side {side!r}")
    st.limit_side = side
    st.limit_since = _int(data["limit_since"])
