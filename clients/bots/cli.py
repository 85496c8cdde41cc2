"""``crossbook bot marketmaker|taker|random|optionsmm``: run an example bot against a running
exchange.

::

    crossbook bot marketmaker [--endpoint tcp://HOST:PORT] [--key FILE] [--state-dir DIR]
                              [--duration SECONDS] [--instrument SYMBOL] [--report FILE]
    crossbook bot optionsmm   [--instrument BTC-PERP] [--strikes 3] [--size 0.1] ...

``optionsmm`` (``clients.bots.optionsmm``) quotes options on the underlying of
``--instrument`` and delta-hedges on that perpetual; it prints its positions, Greeks and
margin (mode, IMR, MMR, the standard-mode figures, the worst scenario) when it stops.

With no ``--key`` the bot claims a free demo account of the state directory (the same
default as ``crossbook serve``: ``./crossbook-state``, or ``$CROSSBOOK_STATE_DIR``), so two
bots started at once trade from two accounts. Endpoints default to
``$CROSSBOOK_ENDPOINT`` (else tcp://127.0.0.1:5555) and the two ports after it for market
data and snapshots. The bot stops on Ctrl-C, SIGTERM or after ``--duration``, cancels its
orders and prints its position, PnL and margin as the exchange reports them
(``--report FILE`` also writes them as JSON).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

BOTS = ("marketmaker", "taker", "random", "optionsmm")



HELP = "run an example trading bot against an exchange"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=BOTS, help="which bot")
    conn = parser.add_argument_group("connection")
    conn.add_argument(
        "--endpoint",
        metavar="tcp://HOST:PORT",
        help="order entry (default $CROSSBOOK_ENDPOINT or tcp://127.0.0.1:5555)",
    )
    conn.add_argument(
        "--md-endpoint",
        metavar="tcp://HOST:PORT",
        help="market data PUB (default: order-entry port + 1)",
    )
    conn.add_argument(
        "--snapshot-endpoint",
        metavar="tcp://HOST:PORT",
        help="market-data snapshots (default: order-entry port + 2)",
    )
    conn.add_argument(
        "--key",
        type=Path,
        metavar="FILE",
        help="the account's secret key file (default: a free demo account)",
    )
    conn.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where demo account keys are (default $CROSSBOOK_STATE_DIR or ./crossbook-state)",
    )
    conn.add_argument(
        "--cancel-on-disconnect",
        action="store_true",
        help="ask the exchange to cancel the bot's orders if it vanishes",
    )
    bot = parser.add_argument_group("bot")
    bot.add_argument(
        "--instrument",
        default="BTC-PERP",
        metavar="SYMBOL",
        help="instrument to trade (default BTC-PERP)",
    )
    bot.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C)",
    )
    bot.add_argument(
        "--interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="time between decisions (default 0.5)",
    )
    bot.add_argument("--size", metavar="AMOUNT", help="order size (default: ten lots)")
    bot.add_argument(
        "--rate",
        type=float,
        default=50.0,
        metavar="N",
        help="random: requests per second (default 50)",
    )
    bot.add_argument("--seed", type=int, help="random seed (default: from the clock)")
    bot.add_argument(
        "--strikes",
        type=int,
        default=3,
        metavar="N",
        help="optionsmm: strikes quoted around the forward, call and put each (default 3)",
    )
    bot.add_argument(
        "--report", type=Path, metavar="FILE", help="also write the final figures as JSON"
    )
    bot.add_argument("--log-level", default="warning",
                     choices=("debug", "info", "warning", "error"))  # fmt: skip


def make_bot(kind: str, exchange: Any, args: argparse.Namespace) -> Any:
    from decimal import Decimal, InvalidOperation

    from gateway.cli import CliError

    size = None
    if args.size is not None:
        try:
            size = Decimal(args.size)
        except InvalidOperation:
            raise CliError(f"--size must be a number, got {args.size!r}") from None
    common: dict[str, Any] = dict(duration=args.duration, interval=args.interval, seed=args.seed,
                                  size=size)  # fmt: skip
    if kind == "marketmaker":
        from clients.bots.marketmaker import MarketMaker

        return MarketMaker(exchange, args.instrument, **common)
    if kind == "optionsmm":
        from clients.bots.optionsmm import OptionsMarketMaker

        if args.strikes < 1:
            raise CliError(f"--strikes must be at least 1, got {args.strikes}")
        return OptionsMarketMaker(exchange, args.instrument, strikes=args.strikes, **common)
    if kind == "taker":
        from clients.bots.taker import Taker

        return Taker(exchange, args.instrument, **common)
    from clients.bots.random_flow import RandomFlow

    return RandomFlow(exchange, args.instrument, rate=args.rate, **common)


async def _main(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import json
    import signal

    from clients.sdk import BaseError, Exchange
    from clients.sdk.keyfiles import claim_demo_key, load_client_keys
    from gateway.cli import CliError
    from gateway.keys import KeyFileError

    try:
        if args.key is not None:
            keys = load_client_keys(args.key)
        else:
            where = args.state_dir or os.environ.get("CROSSBOOK_STATE_DIR") or "crossbook-state"
            keys = claim_demo_key(where)
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
    ex = Exchange(args.endpoint, key=keys, md_endpoint=args.md_endpoint,
                  snapshot_endpoint=args.snapshot_endpoint,
                  cancel_on_disconnect=args.cancel_on_disconnect,
                  client=f"crossbook-bot-{args.kind}")  # fmt: skip
    try:
        await ex.connect()
    except BaseError as exc:
        await ex.close()
        raise CliError(f"cannot connect to {ex.endpoint}: {exc}") from None
    try:
        try:
            bot = make_bot(args.kind, ex, args)
            ex.market(args.instrument)
        except BaseError as exc:
            raise CliError(f"{exc.text}; listed: {', '.join(sorted(ex.markets_by_id))}") from None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, bot.stop)
        print(f"crossbook bot {bot.name}: account {ex.account} trading {args.instrument} at "
              f"{ex.endpoint}; Ctrl-C stops", flush=True)  # fmt: skip
        report = await bot.run()
        print(bot.summary(), flush=True)
        if args.report is not None:
            args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return 0
    finally:
        await ex.close()


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import sys

    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip
    return asyncio.run(_main(args))
