"""``crossbook serve``: run the exchange, all three roles in one process or one role.

- ``crossbook serve [--config FILE] [--state-dir DIR]``: gateway, clearing and matching in
  one process and one asyncio loop (uvloop when installed), joined by ZeroMQ ``inproc://``
  links (the same role code as the multi-process layout, which uses tcp). Without
  ``--config`` it runs what the state directory recorded at its first start, else (a
  fresh directory, or ``--fresh``) the embedded default configuration as of today's UTC
  date, its option chain rolled to the next quarterly expiries
  (``gateway.exchange_config.default_toml``). It prints its endpoints and the key files a
  bot needs.
- ``crossbook serve --role gateway|clearing|matching --config FILE``: one role per
  process; the roles find each other through the endpoints in the file.

On start, clearing recovers the state from the newest verified snapshot and the journal
after it (``gateway.recovery``); ``--fresh`` moves both aside and starts from the
configuration. Ctrl-C or SIGTERM stops cleanly within ``drain_timeout_ms`` of the signal,
however loaded: reading stops at once, the batch in flight finishes, clearing writes a
final snapshot, the exit code is 0 (``gateway.stopping`` says what is cut, and in which
order, when the deadline comes). ``Exchange`` is the embedded exchange as an async context
manager, for tests and tools (docs/serve.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import secrets
import sys
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from gateway.exchange_config import (
    DEFAULT_STATE_DIR,
    Endpoints,
    ExchangeConfig,
    KeySet,
    load_exchange_config,
    prepare_keys,
    state_dir_config,
    utc_date,
)
from gateway.roles.clock import WALL_CLOCK, Clock
from gateway.stopping import StopDeadline, Watchdog, install_signals

ROLES = ("gateway", "clearing", "matching")
READY_TIMEOUT_S = 120.0
GC_GEN0_THRESHOLD = 20_000
"""How long start-up (recovery, loading the matcher) may take before ``Exchange`` gives up."""
log = logging.getLogger("crossbook.serve")



HELP = "run the exchange (all roles, or one with --role)"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", type=Path,
                        help="exchange TOML (docs/serve.md); default: the one the state dir "
                             "recorded, else the embedded demo config")
    parser.add_argument("--state-dir", metavar="DIR", type=Path, default=None,
                        help=f"keys and snapshots (default: the config's, {DEFAULT_STATE_DIR})")
    parser.add_argument("--role", choices=ROLES,
                        help="run one role only (default: all three in one process)")
    parser.add_argument("--fresh", action="store_true",
                        help="move existing snapshots and journal aside and start from the "
                             "configured accounts")
    parser.add_argument("--log-level", default="warning",
                        choices=("debug", "info", "warning", "error"))  # fmt: skip


def random_ports(config: ExchangeConfig, host: str = "127.0.0.1") -> ExchangeConfig:
    """The same configuration with every endpoint on ``host`` and a port the OS picks."""
    eps = Endpoints(**{k: f"tcp://{host}:*" for k in Endpoints.__dataclass_fields__})
    return replace(config, endpoints=eps)


def _loop_runner() -> Callable[[Coroutine[Any, Any, int]], int]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        return asyncio.run
    return uvloop.run


def inproc_links(config: ExchangeConfig) -> ExchangeConfig:
    """The same configuration with the internal links on ``inproc://`` (one process)."""
    tag = secrets.token_hex(6)
    eps = replace(config.endpoints, clearing=f"inproc://crossbook-clearing-{tag}",
                  commands=f"inproc://crossbook-matcher-{tag}")  # fmt: skip
    return replace(config, endpoints=eps)


class Exchange:
    """The three roles in one process and one loop, joined by inproc links.

    ``async with Exchange(config) as ex:`` starts it (``ex.endpoints`` are the bound
    addresses, ``ex.keys`` the key set); leaving the block stops it as SIGTERM would.
    """

    def __init__(
        self,
        config: ExchangeConfig,
        *,
        clock: Clock = WALL_CLOCK,
        restore: bool = True,
        ctx: zmq.asyncio.Context | None = None,
    ) -> None:
        self.config = inproc_links(config)
        self.clock = clock
        self.restore = restore
        self.ctx = ctx or zmq.asyncio.Context()
        self._own_ctx = ctx is None
        self.keys: KeySet | None = None
        self.endpoints: dict[str, str] = {}
        self.tasks: list[asyncio.Task] = []
        self._stops: dict[str, asyncio.Event] = {}
        self.authenticator: Any = None
        self.gateway: Any = None
        self.clearing: Any = None
        self.matching: Any = None
        self.final_snapshot: str | None = None
        self.deadline = StopDeadline(config.drain_timeout_ms / 1000.0, clock.monotonic)
        """Started by the signal (``begin_stop``) or by ``stop``; every role stops by it."""
        self.phase = "serving"

    def begin_stop(self) -> None:
        """The signal arrived: start the deadline and stop reading bot frames. Only sets
        flags (it may run between two bytecodes of any role's code)."""
        self.deadline.start()
        if self.gateway is not None:
            self.gateway.reading = False

    async def start(self) -> None:
        from gateway.auth import AccountDirectory, CurveAuthenticator
        from gateway.roles.clearing_role import ClearingRole
        from gateway.roles.gateway_role import GatewayRole
        from gateway.roles.matching_role import MatchingRole

        cfg = self.config
        self.keys = keys = prepare_keys(cfg)
        self.authenticator = CurveAuthenticator(self.ctx, AccountDirectory(keys.accounts))
        self.authenticator.start()
        curve = (keys.server, self.authenticator) if cfg.market_data_curve else None
        self.clearing = ClearingRole(self.ctx, cfg, clock=self.clock, restore=self.restore)
        self.matching = MatchingRole(self.ctx, cfg, clock=self.clock, curve=curve)
        self.gateway = GatewayRole(self.ctx, cfg, server_keys=keys.server,
                                   authenticator=self.authenticator, clock=self.clock)  # fmt: skip
        for role in (self.clearing, self.matching, self.gateway):
            role.deadline = self.deadline
        self.endpoints = {**self.gateway.bound, **self.matching.bound, **self.clearing.bound}
        # one process: clearing hands each message straight on to its co-located peers
        self.matching.pumped = True
        self.gateway.pumped = True
        self.clearing.pump_matcher = self.matching.pump
        self.clearing.pump_gateway = self.gateway.pump_link
        self.gateway.ring_clearing = self.clearing.wake.set
        self.clearing.after_turn = self.matching.publish_pending
        self._stops = {r: asyncio.Event() for r in ROLES}
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self.clearing.run(self._stops["clearing"]), name="clearing"),
            loop.create_task(self.matching.run(self._stops["matching"]), name="matching"),
            loop.create_task(self.gateway.run(self.endpoints["clearing"], self._stops["gateway"],
                                              quiesce_s=0.0), name="gateway"),
        ]  # fmt: skip
        ready = asyncio.ensure_future(self.clearing.ready.wait())
        done, _ = await asyncio.wait([ready, *self.tasks], timeout=READY_TIMEOUT_S,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if ready not in done:
            ready.cancel()
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            raise RuntimeError(f"the exchange was not ready within {READY_TIMEOUT_S} s")

    async def wait_failed(self) -> None:
        """Return when any role has stopped on its own (an error: it is re-raised)."""
        done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]

    async def stop(self) -> None:
        """Stop reading bot frames, finish the batch in flight, snapshot, deliver what is
        left until the deadline, close (``gateway.stopping``)."""
        if not self.tasks:
            return
        self.begin_stop()
        try:
            if self.gateway is not None:
                # what the gateway decoded goes to clearing now; in one process the link
                # is inproc, so clearing's last turn finds it without waiting
                self.gateway.stop_reading()
            self.phase = "clearing took its last batch and wrote the final snapshot"
            self._stops["clearing"].set()
            clearing_task = self.tasks[0]
            with contextlib.suppress(asyncio.CancelledError):
                await clearing_task
            self.phase = "the gateway delivered the last replies"
            self._stops["gateway"].set()
            self._stops["matching"].set()
            results = await asyncio.gather(*self.tasks, return_exceptions=True)
            self.phase = "closing"
            log.info("stopped in %d ms of %d", self.deadline.elapsed_ms(),
                     self.config.drain_timeout_ms)  # fmt: skip
            self.final_snapshot = self.clearing.final_snapshot_path
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    raise r
        finally:
            self.tasks = []
            await _stop_authenticator(self.authenticator)
            self.authenticator = None
            if self._own_ctx:
                self.ctx.destroy(linger=0)

    async def __aenter__(self) -> Exchange:
        try:
            await self.start()
        except BaseException:
            await self._abort()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _abort(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        for role in (self.gateway, self.matching, self.clearing):
            if role is not None:
                role.close()
        await _stop_authenticator(self.authenticator)
        self.authenticator = None
        if self._own_ctx:
            self.ctx.destroy(linger=0)


async def _stop_authenticator(auth: Any) -> None:
    """Stop a ZAP authenticator and let its cancelled poll task unwind before the context
    goes: pyzmq's asyncio poller otherwise leaves a stale reader on the ZAP socket's file
    descriptor, and the next authenticator on this loop never sees a handshake."""
    if auth is None:
        return
    auth.stop()
    await asyncio.sleep(0.01)


# -- the command -------------------------------------------------------------------------
def _load(args: argparse.Namespace, clock: Clock = WALL_CLOCK) -> ExchangeConfig:
    """``--config``, else the state dir's recorded configuration, else the embedded
    default as of ``clock``'s UTC date (the one clock reading that picks a fresh state
    dir's option expiries; ``--fresh`` starts over from the default)."""
    from clearing.config import ConfigError
    from gateway.cli import CliError

    try:
        if args.config:
            cfg = load_exchange_config(args.config)
            if args.state_dir is not None:
                cfg = replace(cfg, state_dir=args.state_dir)
        else:
            state_dir = args.state_dir if args.state_dir is not None else DEFAULT_STATE_DIR
            cfg = state_dir_config(state_dir, utc_date(clock.time_ns()),
                                   fresh=args.fresh)  # fmt: skip
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return cfg


def _instruments(cfg: ExchangeConfig) -> str:
    """The instruments, with each option chain summarised (docs/options.md)."""
    clearing = cfg.clearing
    parts = [" ".join(s for s in cfg.symbols if clearing.instruments[s].kind != "option")]
    for name, chain in sorted(clearing.options.items()):
        series = [i.option for i in clearing.instruments.values()
                  if i.option is not None and i.option.underlying == name]  # fmt: skip
        mid = chain.strikes[len(chain.strikes) // 2]
        eg = next(o.native_name for o in series
                  if o.expiry_ts == chain.expiries[0] and o.strike == mid and o.is_call)
        parts.append(f"options {name}: {len(chain.expiries)} expiries x {len(chain.strikes)} "
                     f"strikes x call/put ({len(series)} series, e.g. {eg})")
    return "; ".join(parts)


def _banner(cfg: ExchangeConfig, ex: Exchange, mode: str) -> str:
    keys = ex.keys
    assert keys is not None
    eps = ex.endpoints
    lines = [
        f"crossbook serve: {mode}",
        f"  state dir     {cfg.state_dir.resolve()}",
        "  restored from " + (ex.clearing.restored_from or "nothing (fresh start)"),
        f"  order entry   {eps['order_entry']}  (CURVE; server public key "
        f"{keys.server_public_file})",
        f"  market data   {eps['market_data']}  snapshots {eps['snapshots']}",
        f"  internal      clearing {eps['clearing']}  matcher {eps['commands']}",
        f"  journal       {cfg.state_dir.resolve() / 'journal'} (durability "
        f"{cfg.durability}); recovered journal seq {ex.clearing.recovered_seq}, state hash "
        f"{ex.clearing.recovered_hash}",
        f"  instruments   {_instruments(cfg)}",
        "  account keys  (secret key files a bot connects with)",
    ]
    modes = {a.id: a.margin_mode for a in cfg.clearing.accounts}
    for aid, path in sorted(keys.files.items()):
        pm = "  (portfolio margin)" if modes.get(aid) == "portfolio" else ""
        lines.append(f"    account {aid}: {path}{pm}")
    snaps = cfg.state_dir / "snapshots"
    lines.append(f"  snapshot key  {ex.clearing.signing_public_file}  (Ed25519 public key: "
                 "crossbook snapshot verify --pubkey)")  # fmt: skip
    lines.append(f"Ctrl-C or SIGTERM stops; a final settlement snapshot goes to {snaps}/")
    return "\n".join(lines)


def _settle_heap() -> None:
    """After start-up (recovery may build a large state), move what exists to the
    collector's permanent generation and collect young objects less often: a full
    collection over a big book would otherwise stall single orders for milliseconds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)


async def _serve_embedded(cfg: ExchangeConfig, restore: bool) -> int:
    stop = asyncio.Event()
    ex = Exchange(cfg, restore=restore)
    watchdog = Watchdog(ex.deadline, lambda: ex.phase)

    def on_signal() -> None:
        ex.begin_stop()
        watchdog.arm()

    install_signals(stop, on_signal)
    async with ex:
        _settle_heap()
        print(_banner(cfg, ex, "gateway + clearing + matching in one process"), flush=True)
        waiter = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(ex.wait_failed())
        done, _ = await asyncio.wait({waiter, failed}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        failed.cancel()
        if failed in done and not failed.cancelled() and failed.exception() is not None:
            raise failed.exception()  # type: ignore[misc]
        print("crossbook serve: stopping (commands in flight finish, final snapshot)",
              flush=True)  # fmt: skip
    watchdog.disarm()
    print(f"crossbook serve: stopped in {ex.deadline.elapsed_ms()} ms; final snapshot "
          f"{ex.final_snapshot or 'skipped (see the log)'}", flush=True)  # fmt: skip
    return 0


async def _serve_role(cfg: ExchangeConfig, role: str, restore: bool) -> int:
    from gateway.auth import AccountDirectory, CurveAuthenticator
    from gateway.roles.internal_auth import InternalLinks

    stop = asyncio.Event()
    deadline = StopDeadline(cfg.drain_timeout_ms / 1000.0)
    watchdog = Watchdog(deadline, lambda: f"the {role} role was stopping")
    obj: Any = None

    def on_signal() -> None:
        deadline.start()
        watchdog.arm()
        if obj is not None and role == "gateway":
            obj.reading = False  # a flag only: see Exchange.begin_stop

    install_signals(stop, on_signal)
    ctx = zmq.asyncio.Context()
    auth = None
    eps = cfg.endpoints
    internal = InternalLinks.for_role(cfg.state_dir, role)  # CURVE on the internal links
    try:
        if role == "clearing":
            from gateway.roles.clearing_role import ClearingRole

            internal.start(ctx)
            obj = ClearingRole(ctx, cfg, restore=restore, internal=internal)
            coro = obj.run(stop)
            where = f"link {obj.bound['clearing']}  matcher {obj.bound['commands']}"
            restored = obj.restored_from or "nothing (fresh start)"
            extra = (f"restored from {restored}; recovered journal seq {obj.recovered_seq} "
                     f"state hash {obj.recovered_hash}; snapshot signing public key "
                     f"{obj.signing_public_file}")  # fmt: skip
        else:
            keys = prepare_keys(cfg)
            auth = CurveAuthenticator(ctx, AccountDirectory(keys.accounts))
            auth.start()
            if role == "matching":
                from gateway.roles.matching_role import MatchingRole

                curve = (keys.server, auth) if cfg.market_data_curve else None
                obj = MatchingRole(ctx, cfg, curve=curve, internal=internal)
                coro = obj.run(stop)
                b = obj.bound
                where = f"market data {b['market_data']}  snapshots {b['snapshots']}"
            else:
                from gateway.roles.gateway_role import GatewayRole

                obj = GatewayRole(ctx, cfg, server_keys=keys.server, authenticator=auth,
                                  internal=internal)  # fmt: skip
                coro = obj.run(eps.clearing, stop)
                where = f"order entry {obj.bound['order_entry']}"
            extra = f"server public key {keys.server_public_file}"
        obj.deadline = deadline
        print(f"crossbook serve --role {role}: {where}; {extra}", flush=True)
        _settle_heap()
        await coro
    finally:
        await _stop_authenticator(auth)
        await _stop_authenticator(internal.authenticator)
        ctx.destroy(linger=0)
    watchdog.disarm()
    print(f"crossbook serve --role {role}: stopped in {deadline.elapsed_ms()} ms", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip
    from gateway.config_checks import check_command, check_state_dir, refusal

    runner = _loop_runner()
    try:
        check_command(args)
        cfg = _load(args)
        check_state_dir(cfg.state_dir)
        restore = not args.fresh
        if args.role is None:
            return runner(_serve_embedded(cfg, restore))
        return runner(_serve_role(cfg, args.role, restore))
    except Exception as exc:
        refused = refusal(exc)  # a bad file, port or directory: one line, not a traceback
        if refused is None:
            raise
        raise refused from None
