"""The mark implied-volatility surface: one smile per expiry, fed by an oracle.

Parametrisation (per underlying and expiry; every parameter an integer in ppm, so the
surface is exact state that a snapshot carries)::

    k = ln(K / F)                                   log-moneyness on the forward
    sigma(k) = clamp(atm + skew·k + curvature·k², floor, cap)

``atm`` is the at-the-money vol (600,000 = 60 %), ``skew`` the slope per unit of
log-moneyness (negative: puts richer), ``curvature`` the smile's convexity. ``floor``
and ``cap`` are config (``iv_floor_ppm``, ``iv_cap_ppm``); the clamp keeps a bad feed
from pricing options at a vol risk management has not accepted.

Stale feed (``iv_stale_ns``): an expiry whose smile was last updated more than
``iv_stale_ns`` ago is *stale*. Its options keep being marked with the last smile (the
forward still moves them with every index update), ``is_stale`` says so, and the engine
refuses orders that would open or increase risk in that expiry until a fresh smile
arrives (reducing orders, liquidation and expiry carry on). An expiry that never had a
smile is marked at ``iv_default_ppm`` (flat) and counts as stale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clearing.intmath import PPM


@dataclass(frozen=True, slots=True)
class Smile:
    """One expiry's smile parameters (ppm) and when they were last fed (ns)."""

    atm_ppm: int
    skew_ppm: int = 0
    curvature_ppm: int = 0
    ts: int = 0

    def export(self) -> list[int]:
        return [self.atm_ppm, self.skew_ppm, self.curvature_ppm, self.ts]


@dataclass(frozen=True, slots=True)
class SurfaceParams:
    """Config: the clamp, the flat default and the staleness horizon."""

    floor_ppm: int = 100_000
    cap_ppm: int = 3_000_000
    default_ppm: int = 600_000
    stale_ns: int = 300_000_000_000

    def __post_init__(self) -> None:
        if not 0 < self.floor_ppm <= self.default_ppm <= self.cap_ppm:
            raise ValueError("need 0 < iv_floor_ppm <= iv_default_ppm <= iv_cap_ppm")
        if self.stale_ns <= 0:
            raise ValueError("iv_stale_ns must be positive")


class IVSurface:
    """Smiles by expiry for one underlying."""

    __slots__ = ("params", "smiles")

    def __init__(self, params: SurfaceParams) -> None:
        self.params = params
        self.smiles: dict[int, Smile] = {}

    def update(self, expiry_ts: int, smile: Smile) -> None:
        self.smiles[expiry_ts] = smile

    def is_stale(self, expiry_ts: int, now_ts: int) -> bool:
        s = self.smiles.get(expiry_ts)
        return s is None or now_ts - s.ts > self.params.stale_ns

    def vols(self, expiry_ts: np.ndarray, strike: np.ndarray, forward: np.ndarray) -> np.ndarray:
        """Mark IV (a fraction, 0.6 = 60 %) for each series, clamped to [floor, cap]."""
        p = self.params
        atm = np.full(len(expiry_ts), p.default_ppm / PPM)
        skew = np.zeros(len(expiry_ts))
        curv = np.zeros(len(expiry_ts))
        for e, s in self.smiles.items():
            rows = expiry_ts == e
            atm[rows] = s.atm_ppm / PPM
            skew[rows] = s.skew_ppm / PPM
            curv[rows] = s.curvature_ppm / PPM
        k = np.log(np.asarray(strike, dtype=np.float64) / np.asarray(forward, dtype=np.float64))
        vol = atm + skew * k + curv * k * k
        return np.clip(vol, p.floor_ppm / PPM, p.cap_ppm / PPM)

    def export(self) -> dict[int, list[int]]:
        return {e: self.smiles[e].export() for e in sorted(self.smiles)}

    def restore(self, d: dict) -> None:
        self.smiles = {int(e): Smile(*v) for e, v in d.items()}
