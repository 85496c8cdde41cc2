"""The exchange configuration: clearing's TOML sections plus ``[exchange]`` and account keys.

One TOML file configures every role (docs/serve.md; a complete example is
docs/examples/exchange.toml):

- ``[clearing]``, ``[assets.*]``, ``[indices]``, ``[instruments.*]``, ``[[accounts]]``: the
  clearing configuration (``clearing.config``, docs/examples/clearing.toml), unchanged,
  except that an ``[[accounts]]`` entry may also carry ``public_key`` (the account's CURVE
  public key, 40 Z85 characters). An account without one gets a key pair generated under
  ``STATE_DIR/keys`` on first start.
- ``[exchange]``: endpoints, the state directory, timers, and the sub-tables
  ``[exchange.limits]`` (rate limit, open orders, client-order-id memory),
  ``[exchange.index_feed]`` (the simulated index: a seeded random walk) and
  ``[exchange.iv_feed]`` (the simulated implied-volatility oracle of the option chains:
  a seeded mean-reverting walk of each expiry's ATM vol, ``gateway.roles.iv_feed``).

``default_toml(today)`` is the embedded default configuration ``crossbook serve`` runs
without ``--config``: BTC-PERP and ETH-PERP on simulated indices, AMZN-PERP with a one-cent
tick that fits the LOBSTER sample (prices are dollars x 10000), a BTC option chain (2
expiries x 9 strikes x call/put, docs/options.md) with its IV feed, eight funded demo
accounts (7 and 8 in portfolio margin mode).

The chain rolls: its expiries are the next two quarterly expiries (``quarterly_expiries``:
the last Friday of March, June, September and December, 08:00 UTC, like Deribit) at least
``MIN_DAYS_TO_EXPIRY`` days after ``today``, written into the text as plain numbers. The
first start of a state directory records that text (``record_config``), and
``state_dir_config`` runs a state directory on what it recorded from then on, so restarts
and ``crossbook journal replay`` see the same series. ``today`` comes from the caller (the
CLI reads the clock; ``utc_date``); this module reads no clock of its own unless a caller
leaves ``today`` out.
Unknown keys are refused, naming the key (``ConfigError``), as in ``clearing.config``.
"""

from __future__ import annotations

import calendar
import contextlib
import fcntl
import os
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from clearing.config import ClearingConfig, ConfigError, parse_config
from clearing.options.series import MONTHS, expiry_ts_of
from gateway import keys as keyfiles

DEFAULT_STATE_DIR = "./crossbook-state"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where each socket binds (the binding role) and connects (its peers)."""

    order_entry: str = "tcp://127.0.0.1:5555"
    """gateway ROUTER, CURVE: bots connect here"""
    market_data: str = "tcp://127.0.0.1:5556"
    """matching role's market-data PUB, CURVE"""
    snapshots: str = "tcp://127.0.0.1:5557"
    """matching role's market-data snapshot ROUTER, CURVE"""
    clearing: str = "tcp://127.0.0.1:5560"
    """clearing ROUTER: the gateway <-> clearing link"""
    commands: str = "tcp://127.0.0.1:5561"
    """clearing's sequenced command stream to the matcher (clearing binds)"""
    events: str = "tcp://127.0.0.1:5562"
    """matching's sequenced event stream to clearing (matching binds)"""

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Limits:
    rate_per_s: int = 20_000
    """token-bucket refill per account: requests per second (heartbeats are free)"""
    burst: int = 40_000
    """token-bucket size per account"""
    max_open_orders: int = 5_000
    """open orders per account (working plus forwarded but not yet acknowledged)"""
    client_order_ids: int = 200_000
    """client order ids remembered per account for idempotency (oldest forgotten first)"""


@dataclass(frozen=True, slots=True)
class IndexFeed:
    enabled: bool = True
    seed: int = 20260101
    interval_ms: int = 1_000
    step_ppm: int = 500
    """standard deviation of one step of the random walk, ppm of the price"""


@dataclass(frozen=True, slots=True)
class IVFeed:
    """The simulated implied-volatility feed (``gateway.roles.iv_feed``): one smile per
    option underlying and expiry, its ATM vol a seeded mean-reverting walk."""

    enabled: bool = True
    seed: int = 20260102
    interval_ms: int = 1_000
    atm_ppm: int = 600_000
    """the walk's mean and starting ATM vol (600,000 = 60 %)"""
    skew_ppm: int = -100_000
    """smile slope per unit of log-moneyness ln(K/F) (negative: puts richer)"""
    curvature_ppm: int = 200_000
    """smile convexity: the coefficient of ln(K/F)^2"""
    step_ppm: int = 2_000
    """standard deviation of one step of the ATM vol, ppm of vol (2,000 = 0.2 vol points)"""
    reversion_ppm: int = 50_000
    """share of the distance to the mean closed at each step"""
    floor_ppm: int = 200_000
    """the walk stays within [floor, cap] (the chain's own clamp applies on top)"""
    cap_ppm: int = 2_000_000


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    clearing: ClearingConfig
    endpoints: Endpoints = Endpoints()
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    limits: Limits = Limits()
    index_feed: IndexFeed = IndexFeed()
    iv_feed: IVFeed = IVFeed()
    account_keys: Mapping[int, bytes] = field(default_factory=dict)
    tick_ms: int = 100
    """clearing's timer: Tick (funding, marks, breakers) and the matcher's AdvanceTime"""
    snapshot_every_s: int | None = 60
    snapshot_every_fills: int | None = 100_000
    stream_heartbeat_ms: int = 100
    """heartbeat of the internal links; gap detection and shutdown drain scale with it"""
    drain_timeout_ms: int = 3_000
    market_data_curve: bool = True
    check_outbound: bool = False
    """validate every message sent to a bot against the protocol tables (costs CPU; the
    tests run with it on, so the exchange's own messages are checked there)"""
    md_heartbeat_ms: int = 1_000
    durability: str = "write"
    """Journal: "write" (to the OS before any acknowledgement: survives a process crash)
    or "fsync" (fdatasync per batch first: survives power loss)."""
    journal_segment_bytes: int = 64 << 20
    journal_retention_snapshots: int = 0
    """Delete journal segments older than the N-th newest verified snapshot (0: keep all)."""
    source: str = ""
    """The TOML text this configuration was read from (recorded in the state directory so
    an offline journal replay runs on the same instruments and accounts)."""

    def with_overrides(self, **changes: Any) -> ExchangeConfig:
        return replace(self, **changes)

    @property
    def symbols(self) -> list[str]:
        return sorted(self.clearing.instruments)


_EXCHANGE_KEYS = {
    "state_dir", "tick_ms", "snapshot_every_s", "snapshot_every_fills", "stream_heartbeat_ms",
    "drain_timeout_ms", "market_data_curve", "check_outbound", "md_heartbeat_ms", "endpoints",
    "limits", "index_feed", "iv_feed", "durability", "journal_segment_bytes",
    "journal_retention_snapshots",
}  # fmt: skip
DURABILITY = ("write", "fsync")


def _int(t: Mapping[str, Any], key: str, where: str, default: Any, lo: int, hi: int) -> Any:
    if key not in t:
        return default
    v = t[key]
    if type(v) is not int or not lo <= v <= hi:
        raise ConfigError(f"{where}.{key}: must be an integer in {lo}..{hi}")
    return v


def _bool(t: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    if key not in t:
        return default
    if type(t[key]) is not bool:
        raise ConfigError(f"{where}.{key}: must be true or false")
    return t[key]


def _table(t: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    v = t.get(key, {})
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}.{key}: must be a table")
    return v


def _known(t: Mapping[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    for key in t:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key")


def _endpoint(v: object, where: str) -> str:
    from gateway.config_checks import endpoint_problem

    problem = endpoint_problem(v)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    assert isinstance(v, str)
    return v


def parse_exchange_text(text: str, where: str = "configuration") -> ExchangeConfig:
    """Parse TOML text into an ``ExchangeConfig`` that remembers its ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    return replace(parse_exchange_config(data), source=text)


def parse_exchange_config(data: Mapping[str, Any]) -> ExchangeConfig:
    """Validate a TOML-shaped mapping into an ``ExchangeConfig``."""
    if not isinstance(data, Mapping):
        raise ConfigError("configuration must be a table")
    rest = {k: v for k, v in data.items() if k != "exchange"}
    ex = data.get("exchange", {})
    if not isinstance(ex, Mapping):
        raise ConfigError("exchange: must be a table")
    _known(ex, _EXCHANGE_KEYS, "exchange")
    account_keys: dict[int, bytes] = {}
    raw_accounts = rest.get("accounts", [])
    if isinstance(raw_accounts, list):
        stripped = []
        for i, entry in enumerate(raw_accounts):
            if isinstance(entry, Mapping) and "public_key" in entry:
                key = entry["public_key"]
                problem = keyfiles.check_z85_key(key.encode("ascii", "replace")
                                                 if isinstance(key, str) else key)  # fmt: skip
                if problem:
                    raise ConfigError(f"accounts[{i}].public_key: {problem}")
                aid = entry.get("id")
                if type(aid) is int:
                    account_keys[aid] = key.encode("ascii")
                entry = {k: v for k, v in entry.items() if k != "public_key"}
            stripped.append(entry)
        rest["accounts"] = stripped
    clearing = parse_config(rest)

    eps = _table(ex, "endpoints", "exchange")
    _known(eps, set(Endpoints.__dataclass_fields__), "exchange.endpoints")
    endpoints = Endpoints(**{k: _endpoint(v, f"exchange.endpoints.{k}") for k, v in eps.items()})
    lim = _table(ex, "limits", "exchange")
    _known(lim, set(Limits.__dataclass_fields__), "exchange.limits")
    d = Limits()
    limits = Limits(
        rate_per_s=_int(lim, "rate_per_s", "exchange.limits", d.rate_per_s, 1, 10**9),
        burst=_int(lim, "burst", "exchange.limits", d.burst, 1, 10**9),
        max_open_orders=_int(lim, "max_open_orders", "exchange.limits", d.max_open_orders, 1,
                             10**9),
        client_order_ids=_int(lim, "client_order_ids", "exchange.limits", d.client_order_ids,
                              1, 10**9),
    )  # fmt: skip
    feed_t = _table(ex, "index_feed", "exchange")
    _known(feed_t, set(IndexFeed.__dataclass_fields__), "exchange.index_feed")
    f = IndexFeed()
    feed = IndexFeed(
        enabled=_bool(feed_t, "enabled", "exchange.index_feed", f.enabled),
        seed=_int(feed_t, "seed", "exchange.index_feed", f.seed, 0, 2**63 - 1),
        interval_ms=_int(feed_t, "interval_ms", "exchange.index_feed", f.interval_ms, 1,
                         86_400_000),
        step_ppm=_int(feed_t, "step_ppm", "exchange.index_feed", f.step_ppm, 0, 100_000),
    )  # fmt: skip
    iv_feed = _iv_feed(_table(ex, "iv_feed", "exchange"))
    state_dir = ex.get("state_dir", DEFAULT_STATE_DIR)
    if not isinstance(state_dir, str) or not state_dir:
        raise ConfigError("exchange.state_dir: must be a non-empty string")
    for aid in account_keys:
        if not any(a.id == aid for a in clearing.accounts):
            raise ConfigError(f"accounts: public_key given for unknown account {aid}")
    dflt = ExchangeConfig(clearing)
    durability = ex.get("durability", dflt.durability)
    if durability not in DURABILITY:
        raise ConfigError(f"exchange.durability: must be one of {', '.join(DURABILITY)}")
    every_s = _int(ex, "snapshot_every_s", "exchange", dflt.snapshot_every_s, 0, 10**7)
    every_fills = _int(ex, "snapshot_every_fills", "exchange", dflt.snapshot_every_fills, 0,
                       10**12)  # fmt: skip
    return ExchangeConfig(
        clearing=clearing,
        endpoints=endpoints,
        state_dir=Path(state_dir),
        limits=limits,
        index_feed=feed,
        iv_feed=iv_feed,
        account_keys=account_keys,
        tick_ms=_int(ex, "tick_ms", "exchange", dflt.tick_ms, 1, 60_000),
        snapshot_every_s=every_s or None,
        snapshot_every_fills=every_fills or None,
        stream_heartbeat_ms=_int(ex, "stream_heartbeat_ms", "exchange",
                                 dflt.stream_heartbeat_ms, 10, 60_000),
        drain_timeout_ms=_int(ex, "drain_timeout_ms", "exchange", dflt.drain_timeout_ms, 0,
                              600_000),
        market_data_curve=_bool(ex, "market_data_curve", "exchange", dflt.market_data_curve),
        check_outbound=_bool(ex, "check_outbound", "exchange", dflt.check_outbound),
        md_heartbeat_ms=_int(ex, "md_heartbeat_ms", "exchange", dflt.md_heartbeat_ms, 10,
                             60_000),
        durability=durability,
        journal_segment_bytes=_int(ex, "journal_segment_bytes", "exchange",
                                   dflt.journal_segment_bytes, 4096, 1 << 40),
        journal_retention_snapshots=_int(ex, "journal_retention_snapshots", "exchange",
                                         dflt.journal_retention_snapshots, 0, 10**6),
    )  # fmt: skip


def _iv_feed(t: Mapping[str, Any]) -> IVFeed:
    where = "exchange.iv_feed"
    _known(t, set(IVFeed.__dataclass_fields__), where)
    d = IVFeed()
    vol = 100 * 1_000_000

    def num(key: str, lo: int, hi: int) -> int:
        return _int(t, key, where, getattr(d, key), lo, hi)

    feed = IVFeed(
        enabled=_bool(t, "enabled", where, d.enabled), seed=num("seed", 0, 2**63 - 1),
        interval_ms=num("interval_ms", 1, 86_400_000), atm_ppm=num("atm_ppm", 1, vol),
        skew_ppm=num("skew_ppm", -vol, vol), curvature_ppm=num("curvature_ppm", -vol, vol),
        step_ppm=num("step_ppm", 0, vol), reversion_ppm=num("reversion_ppm", 0, 1_000_000),
        floor_ppm=num("floor_ppm", 1, vol), cap_ppm=num("cap_ppm", 1, vol),
    )  # fmt: skip
    if not feed.floor_ppm <= feed.atm_ppm <= feed.cap_ppm:
        raise ConfigError(f"{where}: need floor_ppm <= atm_ppm <= cap_ppm")
    return feed


def load_exchange_config(path: str | os.PathLike[str]) -> ExchangeConfig:
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None
    return parse_exchange_text(text, str(path))


# -- the rolling default chain ---------------------------------------------------------
QUARTERLY_MONTHS = (3, 6, 9, 12)
MIN_DAYS_TO_EXPIRY = 7
"""A default expiry is listed only if at least this many days remain at the first start."""
DEFAULT_EXPIRIES = 2


def utc_date(ts_ns: int) -> date:
    """The UTC calendar date of a wall-clock reading (ns since the epoch)."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).date()


def last_friday(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - calendar.FRIDAY) % 7)


def quarterly_expiries(today: date, count: int = DEFAULT_EXPIRIES,
                       min_days: int = MIN_DAYS_TO_EXPIRY) -> list[int]:  # fmt: skip
    """The next ``count`` quarterly expiries (last Friday of Mar/Jun/Sep/Dec, 08:00 UTC) whose
    date is at least ``min_days`` after ``today``, in ns since the epoch, ascending."""
    out: list[int] = []
    year, month = today.year, today.month
    while len(out) < count:
        if month in QUARTERLY_MONTHS:
            d = last_friday(year, month)
            if (d - today).days >= min_days:
                out.append(expiry_ts_of(d.year, d.month, d.day))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _expiry_code(ts_ns: int) -> str:
    d = utc_date(ts_ns)
    return f"{d.day}{MONTHS[d.month - 1]}{d:%y}"


def default_toml(today: date | None = None) -> str:
    """The embedded default configuration as of ``today`` (UTC; default: the wall clock's
    date): the BTC chain lists ``quarterly_expiries(today)``. The same date gives the same
    text, byte for byte."""
    if today is None:
        today = utc_date(time.time_ns())
    expiries = quarterly_expiries(today)
    line = (f"expiries = [{', '.join(str(e) for e in expiries)}]   # "
            f"{', '.join(_expiry_code(e) for e in expiries)} 08:00 UTC: the next "
            f"{len(expiries)} quarterly expiries >= {MIN_DAYS_TO_EXPIRY} days after {today}")
    return _DEFAULT_TEMPLATE.replace(_EXPIRIES_LINE, line)


def default_config(today: date | None = None) -> ExchangeConfig:
    """The embedded default configuration as of ``today`` (``default_toml``)."""
    return parse_exchange_text(default_toml(today), "the embedded configuration")


def state_dir_config(state_dir: str | os.PathLike[str], today: date | None = None,
                     *, fresh: bool = False) -> ExchangeConfig:  # fmt: skip
    """The configuration a state directory runs on without ``--config``: what its first
    start recorded (``recorded_config``), else (a fresh directory, or ``fresh``: starting
    over) the embedded default as of ``today``. Its ``state_dir`` is ``state_dir``."""
    cfg = None if fresh else recorded_config(state_dir)
    if cfg is None:
        cfg = default_config(today)
    return replace(cfg, state_dir=Path(state_dir))


RECORDED_CONFIG = "config.toml"
"""The configuration text of the latest run, kept in the state directory."""


def record_config(config: ExchangeConfig) -> None:
    """Write the configuration's text to ``STATE_DIR/config.toml`` (when it has one)."""
    if not config.source:
        return
    path = Path(config.state_dir) / RECORDED_CONFIG
    try:
        if path.read_text(encoding="utf-8") == config.source:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(config.source, encoding="utf-8")
    os.replace(tmp, path)


def recorded_config(state_dir: str | os.PathLike[str]) -> ExchangeConfig | None:
    """The configuration a server last ran ``state_dir`` with, if it recorded one."""
    path = Path(state_dir) / RECORDED_CONFIG
    if not path.is_file():
        return None
    return replace(load_exchange_config(path), state_dir=Path(state_dir))


# -- keys ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeySet:
    server: keyfiles.KeyPair
    accounts: dict[int, bytes]
    """account id -> public key (Z85) for the authenticator"""
    files: dict[int, Path]
    """account id -> secret key file, for accounts whose pair lives in the state dir"""
    server_public_file: Path


@contextlib.contextmanager
def _keys_lock(state_dir: Path):
    d = keyfiles.ensure_keys_dir(state_dir)
    with open(d / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_keys(config: ExchangeConfig, state_dir: Path | None = None) -> KeySet:
    """The server key pair and every account's public key; missing pairs are generated.

    The server pair and the pair of every configured account without a ``public_key`` live
    under ``STATE_DIR/keys`` (created on first use, kept afterwards). A file lock makes
    concurrent role processes agree on one set of keys.
    """
    sd = Path(state_dir if state_dir is not None else config.state_dir)
    with _keys_lock(sd):
        server = keyfiles.create_keypair(sd, keyfiles.SERVER_NAME)
        accounts: dict[int, bytes] = {}
        files: dict[int, Path] = {}
        for spec in config.clearing.accounts:
            if spec.id in config.account_keys:
                accounts[spec.id] = config.account_keys[spec.id]
                continue
            name = keyfiles.account_name(spec.id)
            pair = keyfiles.create_keypair(sd, name)
            accounts[spec.id] = pair.public
            files[spec.id] = keyfiles.secret_path(sd, name)
    return KeySet(server, accounts, files, keyfiles.public_path(sd, keyfiles.SERVER_NAME))


# -- the embedded default ------------------------------------------------------------------
_EXPIRIES_LINE = "expiries = @QUARTERLY@"
_DEFAULT_TEMPLATE = """\
# crossbook's embedded default configuration (crossbook serve without --config).

[exchange]
state_dir = "./crossbook-state"
tick_ms = 100
snapshot_every_s = 60
snapshot_every_fills = 100000

[exchange.endpoints]
order_entry = "tcp://127.0.0.1:5555"
market_data = "tcp://127.0.0.1:5556"
snapshots = "tcp://127.0.0.1:5557"
clearing = "tcp://127.0.0.1:5560"
commands = "tcp://127.0.0.1:5561"
events = "tcp://127.0.0.1:5562"

[exchange.limits]
rate_per_s = 20000
burst = 40000
max_open_orders = 5000

[exchange.index_feed]
enabled = true
seed = 20260101
interval_ms = 1000
step_ppm = 500

[exchange.iv_feed]                        # the option chains' vol oracle (docs/options.md)
enabled = true
seed = 20260102
interval_ms = 1000                        # also at start: options trade from the first second
atm_ppm = 600_000                         # ATM vol: starts at and reverts to 60 %
skew_ppm = -100_000                       # sigma(k) = atm + skew k + curvature k^2, k = ln(K/F)
curvature_ppm = 200_000
step_ppm = 2_000                          # 0.2 vol points per step
reversion_ppm = 50_000                    # 5 % of the way back to the mean per step

[clearing]
settlement_asset = "USD"
insurance_fund = 1_000_000_000_000        # 1,000,000 USD

[assets.USD]
decimals = 6

[indices]
BTC = 600_000                             # 60,000.0 USD (BTC-PERP price units: 0.1 USD)
ETH = 300_000                             # 3,000.00 USD (ETH-PERP price units: 0.01 USD)

[instruments.BTC-PERP]
kind = "perpetual"
index = "BTC"
price_decimals = 1
tick_size = 5                             # 0.5 USD
qty_decimals = 3
contract_size = "0.001"                   # 1 lot = 0.001 BTC
lot_size = 1
min_qty = 1
max_qty = 1_000_000
maker_fee_ppm = -100
taker_fee_ppm = 500
[[instruments.BTC-PERP.margin_tiers]]
up_to = 1_000_000_000_000
imf_ppm = 100_000
mmf_ppm = 50_000
[[instruments.BTC-PERP.margin_tiers]]
imf_ppm = 200_000
mmf_ppm = 100_000
[instruments.BTC-PERP.breakers]
static_band_ppm = 50_000

[instruments.ETH-PERP]
kind = "perpetual"
index = "ETH"
price_decimals = 2
tick_size = 1
qty_decimals = 2
contract_size = "0.01"
maker_fee_ppm = 0
taker_fee_ppm = 500
imf_ppm = 50_000
mmf_ppm = 30_000

[instruments.AMZN-PERP]                   # fits the LOBSTER sample: $ x 10000, 1-cent tick
kind = "perpetual"
price_decimals = 4
tick_size = 100
qty_decimals = 0
contract_size = "1"                       # 1 lot = 1 share
lot_size = 1
min_qty = 1
max_qty = 1_000_000
reference_price = 2_238_000               # 223.80 USD until the book and trades set the mark
maker_fee_ppm = 0
taker_fee_ppm = 0
imf_ppm = 100_000
mmf_ppm = 50_000

[options.BTC]                             # European, cash-settled on the BTC index TWAP
index = "BTC"
expiries = @QUARTERLY@
strikes = [400_000, 450_000, 500_000, 550_000, 600_000, 650_000, 700_000, 750_000, 800_000]
price_decimals = 1                        # premium and strike in 0.1 USD, like the index
tick_size = 5                             # 0.5 USD
qty_decimals = 2
contract_size = "0.01"                    # 1 lot = 0.01 BTC
lot_size = 1
min_qty = 1
max_qty = 100_000
maker_fee_ppm = 0
taker_fee_ppm = 300
iv_floor_ppm = 200_000                    # mark IV clamped to [20 %, 200 %]
iv_cap_ppm = 2_000_000
iv_default_ppm = 600_000
iv_stale_ns = 300_000_000_000             # 5 minutes without a smile: stale

[portfolio]                               # the scan of docs/options.md, defaults
default_mode = "standard"

[[accounts]]
id = 1
deposits = { USD = 1_000_000_000_000 }    # 1,000,000 USD each
[[accounts]]
id = 2
deposits = { USD = 1_000_000_000_000 }
[[accounts]]
id = 3
deposits = { USD = 1_000_000_000_000 }
[[accounts]]
id = 4
deposits = { USD = 1_000_000_000_000 }
[[accounts]]
id = 5
deposits = { USD = 1_000_000_000_000 }
[[accounts]]
id = 6
deposits = { USD = 1_000_000_000_000 }
[[accounts]]
id = 7
deposits = { USD = 1_000_000_000_000 }
margin_mode = "portfolio"                 # options netted against BTC-PERP (docs/options.md)
[[accounts]]
id = 8
deposits = { USD = 1_000_000_000_000 }
margin_mode = "portfolio"
"""
