"""The exchange TOML: the embedded default, the documented example, and clear refusals."""

from __future__ import annotations

import tomllib
from argparse import Namespace
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from clearing.config import ConfigError
from clearing.engine import ClearingEngine
from gateway.exchange_config import (
    ExchangeConfig,
    IndexFeed,
    IVFeed,
    Limits,
    default_config,
    default_toml,
    load_exchange_config,
    parse_exchange_config,
    prepare_keys,
    quarterly_expiries,
    record_config,
    state_dir_config,
)
from gateway.journal.replay import config_for
from gateway.keys import load_account_keys
from gateway.roles.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "exchange.toml"
DOC = ROOT / "docs" / "serve.md"


def test_default_lists_the_demo_instruments_and_funded_accounts() -> None:
    cfg = default_config()
    assert [s for s in cfg.symbols if s.endswith("-PERP")] == ["AMZN-PERP", "BTC-PERP",
                                                               "ETH-PERP"]  # fmt: skip
    amzn = cfg.clearing.instruments["AMZN-PERP"]
    assert (amzn.price_decimals, amzn.tick_size, amzn.lot_size) == (4, 100, 1)
    assert amzn.multiplier == 100  # 1 share; prices in 1e-4 USD, money in 1e-6 USD
    assert [a.id for a in cfg.clearing.accounts] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [a.margin_mode for a in cfg.clearing.accounts][6:] == ["portfolio", "portfolio"]
    assert cfg.endpoints.order_entry == "tcp://127.0.0.1:5555"
    assert cfg.endpoints.market_data.endswith(":5556")
    assert cfg.endpoints.snapshots.endswith(":5557")
    assert cfg.index_feed.enabled and set(cfg.clearing.indices) == {"BTC", "ETH"}
    eng = ClearingEngine(cfg.clearing)
    assert all(inst.mark for inst in eng.instruments.values())


def test_default_lists_a_btc_option_chain_with_its_iv_feed() -> None:
    cfg = default_config(date(2027, 1, 4))  # pinned: the chain rolls with the date
    options = [s for s in cfg.symbols if s.count("-") == 3]
    assert len(options) == 2 * 9 * 2
    assert "BTC-26MAR27-60000-C" in options and "BTC-25JUN27-40000-P" in options
    chain = cfg.clearing.options["BTC"]
    assert len(chain.expiries) == 2 and len(chain.strikes) == 9
    assert chain.strikes == tuple(range(400_000, 800_001, 50_000))  # around the 60,000 index
    assert cfg.iv_feed.enabled and cfg.iv_feed.interval_ms == 1_000
    spec = cfg.clearing.instruments["BTC-26MAR27-60000-C"]
    assert spec.kind == "option" and spec.option.ccxt_symbol == "BTC/USD:USD-270326-60000-C"
    from gateway.serve import _instruments  # the banner of crossbook serve

    assert _instruments(cfg) == ("AMZN-PERP BTC-PERP ETH-PERP; options BTC: 2 expiries x 9 "
                                 "strikes x call/put (36 series, e.g. BTC-26MAR27-60000-C)")


def _codes(today: date) -> list[str]:
    out = []
    for ts in quarterly_expiries(today):
        d = datetime.fromtimestamp(ts // 10**9, tz=UTC)
        assert (d.weekday(), d.hour, d.minute, ts % 10**9) == (4, 8, 0, 0)  # Friday 08:00
        out.append(f"{d:%d%b%y}".upper().lstrip("0"))
    return out


@pytest.mark.parametrize(
    ("today", "expiries"),
    [
        (date(2026, 12, 6), ["25DEC26", "26MAR27"]),
        (date(2026, 12, 18), ["25DEC26", "26MAR27"]),  # exactly 7 days before: still listed
        (date(2026, 12, 19), ["26MAR27", "25JUN27"]),  # 6 days before: the next two
        (date(2026, 12, 25), ["26MAR27", "25JUN27"]),  # the expiry day itself
        (date(2027, 1, 4), ["26MAR27", "25JUN27"]),
        (date(2027, 3, 20), ["25JUN27", "24SEP27"]),
        (date(2027, 9, 24), ["31DEC27", "31MAR28"]),  # Friday 31 Dec, over the year boundary
        (date(2027, 12, 25), ["31MAR28", "30JUN28"]),
        (date(2028, 2, 29), ["31MAR28", "30JUN28"]),
    ],
)
def test_the_default_chain_rolls_to_the_next_quarterly_expiries(
    today: date, expiries: list[str]
) -> None:
    assert _codes(today) == expiries
    cfg = default_config(today)
    chain = cfg.clearing.options["BTC"]
    assert list(chain.expiries) == quarterly_expiries(today)
    assert f"BTC-{expiries[0]}-60000-C" in cfg.symbols
    assert f"BTC-{expiries[1]}-40000-P" in cfg.symbols
    assert default_toml(today) == default_toml(today)  # one date, one text
    assert expiries[0] in default_toml(today)  # the recorded file says which it picked


def test_a_state_dir_keeps_the_series_its_first_start_picked(tmp_path: Path) -> None:
    from gateway.serve import _load

    state = tmp_path / "state"
    state.mkdir()
    args = Namespace(config=None, state_dir=state, fresh=False)
    day = ManualClock(int(datetime(2026, 12, 6, 23, tzinfo=UTC).timestamp()) * 10**9)
    first = _load(args, day)
    assert first.state_dir == state
    assert first.clearing.options["BTC"].expiries == tuple(quarterly_expiries(date(2026, 12, 6)))
    record_config(first)  # what clearing does at start

    later = ManualClock(int(datetime(2027, 7, 1, tzinfo=UTC).timestamp()) * 10**9)
    again = _load(args, later)  # a restart months later: the same series
    assert again.clearing == first.clearing and again.source == first.source
    assert config_for(state).clearing == first.clearing  # crossbook journal replay
    assert state_dir_config(state, date(2030, 1, 1)).clearing == first.clearing

    fresh = _load(Namespace(config=None, state_dir=state, fresh=True), later)
    assert fresh.clearing.options["BTC"].expiries == tuple(quarterly_expiries(date(2027, 7, 1)))
    other = _load(Namespace(config=None, state_dir=tmp_path / "other", fresh=False), later)
    assert other.clearing == fresh.clearing  # a fresh state dir picks as of its own start
    cfg = replace(load_exchange_config(EXAMPLE), state_dir=state)
    assert _load(Namespace(config=EXAMPLE, state_dir=state, fresh=False)).clearing == cfg.clearing


def test_the_documented_example_parses_and_every_exchange_key_is_documented() -> None:
    cfg = load_exchange_config(EXAMPLE)
    assert cfg.account_keys == {2: b"kg?W{ceW>/MrV>v7gG6BqH<sNFE4s1Nk9jaNQhW("}
    assert cfg.limits.client_order_ids == 200_000
    ex = tomllib.loads(EXAMPLE.read_text())["exchange"]
    doc = DOC.read_text()
    top = set(ExchangeConfig.__dataclass_fields__) - {"clearing", "account_keys", "endpoints",
                                                      "limits", "index_feed", "iv_feed",
                                                      "source"}  # fmt: skip
    assert top <= set(ex), "the example must show every [exchange] key"
    assert set(ex["iv_feed"]) == set(IVFeed.__dataclass_fields__)
    for key in (*top, *Limits.__dataclass_fields__, *IndexFeed.__dataclass_fields__,
                *IVFeed.__dataclass_fields__):
        assert f"`{key}`" in doc, f"docs/serve.md does not document {key}"
    assert "public_key" in doc


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"exchange": {"tick_mss": 5}}, "exchange.tick_mss: unknown key"),
        ({"exchange": {"tick_ms": 0}}, "exchange.tick_ms"),
        ({"exchange": {"endpoints": {"order_entry": "5555"}}}, "exchange.endpoints.order_entry"),
        ({"exchange": {"limits": {"burst": "many"}}}, "exchange.limits.burst"),
        ({"exchange": {"index_feed": {"enabled": 1}}}, "exchange.index_feed.enabled"),
        ({"exchange": {"state_dir": ""}}, "exchange.state_dir"),
        ({"exchange": {"iv_feed": {"atm_ppm": 0}}}, "exchange.iv_feed.atm_ppm"),
        ({"exchange": {"iv_feed": {"skew": 1}}}, "exchange.iv_feed.skew: unknown key"),
        ({"exchange": {"iv_feed": {"floor_ppm": 700_000}}}, "exchange.iv_feed: need floor"),
        ({"exchange": []}, "exchange: must be a table"),
    ],
)
def test_bad_exchange_sections_name_the_key(edit: dict, message: str) -> None:
    data = tomllib.loads(default_toml())
    for section, body in edit.items():
        if isinstance(body, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **body}
        else:
            data[section] = body
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_exchange_config(data)


def test_bad_public_keys_are_refused() -> None:
    data = tomllib.loads(default_toml())
    data["accounts"][0]["public_key"] = "too-short"
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.public_key"):
        parse_exchange_config(data)
    data = tomllib.loads(default_toml())
    data["accounts"][0]["typo"] = 1
    with pytest.raises(ConfigError, match="typo"):
        parse_exchange_config(data)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_exchange_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[exchange\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_exchange_config(bad)


def test_prepare_keys_generates_once_and_honours_configured_keys(tmp_path: Path) -> None:
    cfg = load_exchange_config(EXAMPLE)
    first = prepare_keys(cfg, tmp_path)
    again = prepare_keys(cfg, tmp_path)
    assert first.server == again.server and first.accounts == again.accounts
    assert set(first.files) == {1}  # account 2 brought its own key
    assert first.accounts[2] == cfg.account_keys[2]
    assert load_account_keys(tmp_path, 1).public == first.accounts[1]
    assert (tmp_path / "keys" / "server.key").stat().st_mode & 0o077 == 0
