"""The simulated IV feed: seeded, mean-reverting, bounded, only live expiries, and it
starts from the smiles the engine already holds (after a restart)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from clearing.commands import IVUpdate
from clearing.engine import ClearingEngine
from gateway.exchange_config import IVFeed, default_config
from gateway.roles.iv_feed import RandomWalkIV, make_iv_feed

E1, E2 = 1_806_048_000_000_000_000, 1_813_910_400_000_000_000
NOW = 1_796_000_000_000_000_000


def test_same_seed_same_path_and_every_live_expiry_each_step() -> None:
    a = RandomWalkIV({"BTC": (E1, E2)}, {}, IVFeed())
    b = RandomWalkIV({"BTC": (E1, E2)}, {}, IVFeed())
    pa = [a.step(NOW + i) for i in range(50)]
    assert pa == [b.step(NOW + i) for i in range(50)]
    first = pa[0]
    assert [(u.underlying, u.expiry_ts) for u in first] == [("BTC", E1), ("BTC", E2)]
    assert all(type(u) is IVUpdate and u.skew_ppm == -100_000 and u.curvature_ppm == 200_000
               for u in first)  # fmt: skip
    other = RandomWalkIV({"BTC": (E1, E2)}, {}, replace(IVFeed(), seed=1))
    assert [other.step(NOW + i) for i in range(50)] != pa


def test_the_walk_reverts_to_its_mean_and_stays_in_bounds() -> None:
    cfg = replace(IVFeed(), step_ppm=50_000, floor_ppm=300_000, cap_ppm=900_000)
    w = RandomWalkIV({"BTC": (E1,)}, {("BTC", E1): 2_000_000}, cfg)
    path = [w.step(NOW + i)[0].atm_ppm for i in range(2_000)]
    assert min(path) >= 300_000 and max(path) <= 900_000
    assert path[0] == 900_000 or path[0] < 2_000_000  # clamped into the band at once
    assert abs(sum(path[500:]) / len(path[500:]) - 600_000) < 30_000


def test_expired_expiries_are_skipped() -> None:
    w = RandomWalkIV({"BTC": (E1, E2)}, {}, IVFeed())
    assert [u.expiry_ts for u in w.step(E1)] == [E2]
    assert w.step(E2 + 1) == []


def test_made_from_the_engine_starting_at_its_smiles() -> None:
    cfg = default_config(date(2026, 12, 19))  # the chain pinned to 26MAR27, 25JUN27
    assert cfg.clearing.options["BTC"].expiries == (E1, E2)
    eng = ClearingEngine(cfg.clearing)
    eng.apply(IVUpdate(NOW, "BTC", E2, 777_000, 0, 0))
    feed = make_iv_feed(eng, replace(cfg.iv_feed, step_ppm=0))
    assert feed is not None
    ups = {u.expiry_ts: u.atm_ppm for u in feed.step(NOW + 1)}
    assert ups[E1] == 600_000  # never fed: the configured mean
    assert 600_000 < ups[E2] < 777_000  # fed: starts there and reverts
    assert make_iv_feed(eng, replace(cfg.iv_feed, enabled=False)) is None
    no_chain = replace(cfg.clearing, options={}, instruments={
        s: i for s, i in cfg.clearing.instruments.items() if i.kind != "option"})
    assert make_iv_feed(ClearingEngine(no_chain), cfg.iv_feed) is None
