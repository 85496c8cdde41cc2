"""``crossbook bench batches``: the server's CPU per request as a function of burst size.

``crossbook bench batches --json FILE [--sizes 1,10,50] [--requests N] [--processes]``
starts the exchange (``bench.e2e_server``, the embedded default configuration, journal in
``write`` mode), logs one demo account on over CURVE and runs a closed loop per size K:
K post-only limit orders (a bid 10 % under the mark, so they rest and never trade) sent
at once, every answer awaited, then their K cancels likewise, until ``N`` requests were
answered. At K = 1 each request crosses the server alone, so it pays every per-batch
cost (event-loop wake-ups, readiness checks, link messages, the journal write, the
core's per-round work); at larger K the gateway reads several frames per turn and
clearing runs them as one batch, so those costs are shared.

What it reports per size: the server's CPU per request (``bench.cpu``: the process tree,
and by thread: the Python thread ``main``, libzmq's I/O thread), the wall time per
request, and refusals (there should be none). Then a least-squares line through
(1/K, CPU per request): its slope is the cost of a batch, its intercept the cost of one
request when batches are large (``fit.per_batch_us``, ``fit.per_request_us``). Both are
estimates from a few sizes on a shared machine: read them as where the time goes, not
as a contract. The open-loop throughput and latency figures are ``bench e2e``'s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

from bench import cpu
from bench.environment import describe, write_result

SYMBOL = "BTC-PERP"
DEFAULT_SIZES = (1, 5, 20, 50)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, metavar="K1,K2,...",
                        help="burst sizes (default " + ",".join(map(str, DEFAULT_SIZES)) + ")")
    parser.add_argument("--requests", type=int, default=4_000, metavar="N",
                        help="requests answered per size (default 4000)")
    parser.add_argument("--processes", action="store_true",
                        help="run the three roles as three processes (default: one process)")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares ``y = slope * x + intercept`` through ``points``; None if fewer than
    two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope, my - slope * mx


def run(args: argparse.Namespace) -> int:
    from bench.e2e_server import ExchangeProcesses
    from bench.loadgen import LoadClient
    from gateway.cli import CliError

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="crossbook-bench-batches-") as tmp:
        server = ExchangeProcesses(Path(tmp), args.processes)
        client = None
        try:
            server.start()
            server_public, pairs = server.wait_for_keys()
            client = LoadClient(server.endpoints["order_entry"], server_public, pairs[:1])
            client.logon(timeout_s=60.0)
            price = _resting_bid(client)
            tree = cpu.tree_pids(list(server.pids().values()))
            sizes = []
            for k in args.sizes:
                server.check_alive()
                sizes.append(_size(client, tree, k, max(args.requests, 2 * k), price))
                s = sizes[-1]
                print(f"  K={k:4d}  {s['requests']:6d} requests  server CPU "
                      f"{s['server_cpu_us_per_request']} us/request "
                      f"{s['server_cpu_us_per_request_by_thread']}  wall "
                      f"{s['wall_us_per_request']} us/request  refused {s['refused']}",
                      flush=True)  # fmt: skip
        except (OSError, RuntimeError) as exc:
            raise CliError(f"bench batches: {exc}") from None
        finally:
            if client is not None:
                client.close()
            exit_codes = server.stop()
    line = fit_line([(1 / s["k"], s["server_cpu_us_per_request"]) for s in sizes
                     if s["server_cpu_us_per_request"] is not None])  # fmt: skip
    result: dict[str, Any] = {
        "harness": "batches",
        "mode": "processes" if args.processes else "embedded",
        "symbol": SYMBOL,
        "sizes": sizes,
        "fit": None if line is None else {"per_batch_us": round(line[0], 1),
                                          "per_request_us": round(line[1], 1)},
        "exit_codes": exit_codes,
        "environment": describe(),
        "seconds": round(time.time() - started, 1),
    }
    write_result(args.json, result)
    fit = result["fit"]
    print(f"bench batches ({result['mode']}): "
          + (f"{fit['per_batch_us']} us per batch + {fit['per_request_us']} us per request"
             if fit else "no fit (one size)") + f" -> {args.json}")  # fmt: skip
    return 0


def _resting_bid(client: Any) -> int:
    """A bid 10 % under the mark, on the tick: it rests, never trades, passes the bands."""
    reply = client.request(0, {"type": "query_instruments"})
    items = {it.get("symbol"): it for it in reply.get("items") or []}
    if SYMBOL not in items:
        raise RuntimeError(f"the exchange does not list {SYMBOL}")
    tick = int(items[SYMBOL]["tick_size"])
    from gateway.exchange_config import default_config

    cfg = default_config().clearing
    mark = int(cfg.indices[cfg.instruments[SYMBOL].index])
    return max(tick, (mark * 9 // 10) // tick * tick)


def _size(client: Any, tree: list[int], k: int, requests: int, price: int) -> dict[str, Any]:
    sock = client.socks[0]
    send = sock.send
    recv = sock.recv
    unpack = msgpack.unpackb
    pack = msgpack.packb
    bursts = max(1, requests // (2 * k))
    refused = 0
    rid = 0
    before, threads_before = cpu.read_cpu(tree), cpu.read_threads(tree)
    t0 = time.perf_counter()
    for b in range(bursts):
        for phase in ("new_order", "cancel"):
            for i in range(k):
                rid += 1
                coid = f"b{k}-{b}-{i}"
                msg: dict[str, Any] = {"v": 1, "type": phase, "req_id": rid,
                                       "client_order_id": coid}  # fmt: skip
                if phase == "new_order":
                    msg.update(instrument=SYMBOL, side="buy", qty=1, price=price,
                               post_only=True)  # fmt: skip
                send(pack(msg))
            got = 0
            while got < k:
                reply = unpack(recv(), raw=False)
                kind = reply.get("type")
                if kind in ("exec_report", "reject", "cancel_reject"):
                    got += 1
                    if kind != "exec_report":
                        refused += 1
    wall = time.perf_counter() - t0
    after, threads_after = cpu.read_cpu(tree), cpu.read_threads(tree)
    n = bursts * 2 * k
    by_thread = cpu.threads_us_per_request(threads_before, threads_after, n)
    return {
        "k": k,
        "requests": n,
        "server_cpu_us_per_request": cpu.us_per_request(cpu.spent(before, after), n),
        "server_cpu_us_per_request_by_thread": {name: v for name, v in by_thread.items()
                                                if v is not None},
        "wall_us_per_request": round(wall * 1e6 / n, 1),
        "refused": refused,
    }
