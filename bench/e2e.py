"""``crossbook bench e2e``: open-loop order round trips through a running exchange.

``crossbook bench e2e --json FILE [--plot FILE.png] [--duration SECONDS] [--processes]``
starts the exchange itself (``bench.e2e_server``: ``crossbook serve`` in a subprocess, or
the three roles as three processes with ``--processes``) on the embedded default
configuration, logs the six demo accounts on (three makers, three takers; one CURVE
DEALER each) and drives the maker/taker/cancel flow of ``bench.loadgen`` at stepped target
rates (docs/benchmarks.md). This module runs things; what a step measured is
``bench.e2e_analysis``'s, whether it held and what comes next ``bench.e2e_rules``'.

Per step: ``warm-up + duration`` seconds of requests are planned at the target rate
(absolute deadlines); those planned in the warm-up are sent and answered but not counted;
the server's process tree is charged for its CPU from the first counted planned send until
the sockets go quiet after the last send (``bench.cpu``). Rates step upward until a step
is not held, then ``--refine`` bisection steps; ``sustained_orders_per_s`` is the highest
held rate.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.e2e_analysis import analyse_step, window_start
from bench.e2e_rules import (
    BACKLOG_S,
    DEFAULT_RATES,
    FLOOR_RATES,
    GROWTH_FACTOR,
    GROWTH_SLACK_US,
    HELD_ACHIEVED,
    HELD_P99_US,
    MAX_ERROR_FRACTION,
    at_rate,
    floor_keys,
    held,
    held_rule_text,
    next_rate,
    sustained,
    target_check,
)
from bench.latency import Recorder, percentile_curve

IDLE_S = 1.0
MAKERS = 3
TAKERS = 3
SYMBOLS = ("BTC-PERP", "ETH-PERP")
REQUOTE_PPM = 10_000
"""re-centre the maker prices when the mark moved more than this (1 %) since the last quote"""
TARGETS: dict[str, Any] = {
    "sustained_orders_per_s": 20_000,
    "sustained_orders_per_s_processes": 15_000,
    "ack_at_rate": [{"rate": 1_000, "p50_us": 150.0, "p99_us": 1_000.0},
                    {"rate": 5_000, "p99_us": 2_000.0}],
    "server_cpu_us_per_order": 40.0,
}  # fmt: skip
"""issue 8 ("Speed"): embedded mode, journal on, the generator sharing the 2 cores"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help="percentile-distribution plot (one line per rate)")
    parser.add_argument("--duration", type=float, default=5.0, metavar="SECONDS",
                        help="measured seconds per rate step (default 5)")
    parser.add_argument("--processes", action="store_true",
                        help="run the three roles as three processes (default: one process)")
    parser.add_argument("--durability", choices=("write", "fsync"), default="write",
                        help="the journal's durability (default write: to the OS per batch; "
                             "fsync: fdatasync per batch)")
    parser.add_argument("--rates", type=_rates, default=DEFAULT_RATES, metavar="R1,R2,...",
                        help="target rates in requests/s, stepped upward "
                             "(default " + ",".join(map(str, DEFAULT_RATES)) + ")")
    parser.add_argument("--floor-rates", type=_rates, default=FLOOR_RATES, metavar="R1,R2,...",
                        help="the echo's rates for the floor (default "
                             + ",".join(map(str, FLOOR_RATES)) + ")")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor (the bare ZeroMQ echo measured before the exchange)")
    parser.add_argument("--warmup", type=float, default=None, metavar="SECONDS",
                        help="discarded warm-up per step (default min(1, duration/4))")
    parser.add_argument("--refine", type=int, default=2, metavar="N",
                        help="bisection steps after the first rate not held (default 2)")
    parser.add_argument("--all-rates", action="store_true",
                        help="run every rate even after one is not held (no refinement)")
    parser.add_argument("--sink", action="store_true",
                        help="measure the load generator alone against bench.sink "
                             "(a stand-in that only answers), not the exchange")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy every exchange process during each step; collapsed "
                             "stacks to DIR, top functions into the JSON")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary state directory and exchange logs")  # fmt: skip


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(sorted({int(float(x)) for x in text.split(",") if x.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from None
    if not rates or rates[0] <= 0:
        raise argparse.ArgumentTypeError("rates must be positive")
    return rates


# -- the environment -------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float | None:
    """CPU seconds of a process and its descendants, reaped ones included (``bench.cpu``)."""
    from bench import cpu

    readings = cpu.read_cpu(cpu.tree_pids([pid]))
    return sum(readings.values()) if readings else None


def _environment(mode: str) -> dict[str, Any]:
    from bench.environment import describe
    from bench.loadgen import TICK_NS
    from bench.reply_log import receiver_name

    env = describe()
    try:
        import uvloop

        uv = f"uvloop {uvloop.__version__}"
    except ImportError:
        uv = None
    import zmq

    env.update({
        "mode": mode,
        "server_event_loop": uv or "asyncio",
        "server_uvloop": uv is not None and mode != "sink",
        "generator_event_loop": "none: one thread, select() on the sockets' fds with µs "
                                "timeouts (asyncio/uvloop timers tick in whole ms); above "
                                f"{1e9 / TICK_NS:,.0f}/s one wake-up per {TICK_NS // 1000} µs",
        "generator_receive": receiver_name(),
        "generator_uvloop": False,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "curve": True,
        "shared_cores": f"the load generator shares the {os.cpu_count()} cores with the server",
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "code": _code_version(),
    })  # fmt: skip
    return env


def _code_version() -> str | None:
    """``git describe`` of the working tree the exchange ran from (``-dirty`` if edited)."""
    import subprocess

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).resolve().parent)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


# -- the run ----------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from bench.environment import write_result
    from gateway.cli import CliError

    if args.duration <= 0:
        raise CliError("--duration must be > 0")
    warmup = args.warmup if args.warmup is not None else min(1.0, args.duration / 4)
    mode = "sink" if args.sink else ("processes" if args.processes else "embedded")
    workdir = Path(tempfile.mkdtemp(prefix="crossbook-bench-e2e-"))
    started = time.time()
    try:
        result = _run(args, mode, warmup, workdir)
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    result["seconds"] = round(time.time() - started, 1)
    if args.keep:
        result["workdir"] = str(workdir)
    write_result(args.json, result)
    print(_report(result, args.json))
    return 0


@dataclass
class _Target:
    """What a ladder of steps runs against: a server (process tree) and a logged-on client."""

    name: str
    pids: dict[str, int]
    client: Any
    flow: Any
    idle: dict[str, float]
    after_step: Callable[[], None] | None = None


def _run(args: argparse.Namespace, mode: str, warmup: float, workdir: Path) -> dict[str, Any]:
    import zmq

    from bench.e2e_server import ServerError
    from gateway.cli import CliError

    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    ctx = zmq.Context()
    try:
        floor = None
        if mode != "sink" and not args.no_floor:
            floor = _floor(args, warmup, workdir / "echo", ctx)
        run = _sink(args, warmup, workdir, ctx) if mode == "sink" else _exchange(
            args, mode, warmup, workdir, ctx)
    except ServerError as exc:
        raise CliError(f"bench e2e: {exc}") from None
    finally:
        ctx.destroy(linger=0)
    entries, hists = run.pop("entries"), run.pop("hists")
    rate_sustained = sustained(entries)
    cpu_at_sustained = at_rate(entries, rate_sustained, "server_cpu_us_per_order")
    floor_entries = floor["rates"] if floor else None
    if args.plot:
        _plot(entries, hists, args.plot, mode, floor_entries)
    if floor:
        floor.pop("hists")
    env = _environment(mode)
    env["loadavg_before"] = loadavg_before
    env["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "harness": "e2e",
        "mode": mode,
        "durability": getattr(args, "durability", "write"),
        "command": _command(args),
        "sustained_orders_per_s": rate_sustained,
        **floor_keys(floor_entries, rate_sustained),
        "server_cpu_us_per_order": cpu_at_sustained,
        "rates": entries,
        "floor": floor,
        "held_rule": {
            "achieved_at_least": HELD_ACHIEVED, "p99_us_at_most": HELD_P99_US,
            "growth_factor": GROWTH_FACTOR, "growth_slack_us": GROWTH_SLACK_US,
            "refused_fraction_at_most": MAX_ERROR_FRACTION, "unanswered": 0,
            "abort_backlog_s": BACKLOG_S,
            "text": held_rule_text(),
        },
        "targets": target_check(entries, rate_sustained, mode, cpu_at_sustained),
        "duration_s": args.duration,
        "warmup_s": warmup,
        "flow": {
            "makers": MAKERS, "takers": TAKERS, "instruments": list(SYMBOLS),
            "cycle": "maker post-only GTC 2 lots; taker IOC 1 lot at the same price; cancel "
                     "of the maker order placed 8 cycles earlier",
            "marks_at_start": run.pop("marks"), "tick_sizes": run.pop("ticks"),
        },
        **run,
        "environment": env,
    }  # fmt: skip


def _exchange(args: argparse.Namespace, mode: str, warmup: float, workdir: Path,
              ctx: Any) -> dict[str, Any]:  # fmt: skip
    """The ladder against the exchange (embedded or three processes)."""
    from bench.e2e_server import ExchangeProcesses
    from bench.loadgen import ClientError, Flow, LoadClient, MarkWatcher, quote_around
    from gateway.cli import CliError

    server = ExchangeProcesses(workdir, args.processes, durability=args.durability)
    client = watcher = None
    exit_codes: Any = None
    try:
        server.start()
        server_public, pairs = server.wait_for_keys()
        client = LoadClient(server.endpoints["order_entry"], server_public,
                            pairs[: MAKERS + TAKERS], ctx)  # fmt: skip
        try:
            client.logon(timeout_s=60.0)
        except ClientError as exc:
            server.check_alive()
            raise CliError(f"bench e2e: {exc}") from None
        ticks = _ticks(client)
        watcher = MarkWatcher(server.endpoints["market_data"], server_public, pairs[0],
                              SYMBOLS, ctx)  # fmt: skip
        marks = _fallback_marks() | watcher.wait(SYMBOLS, 3.0)
        start_marks, quoted = dict(marks), dict(marks)
        flow = Flow(MAKERS, TAKERS, [quote_around(s, marks[s], ticks[s]) for s in SYMBOLS])

        def after_step() -> None:
            nonlocal marks, quoted
            server.check_alive()
            client.mass_cancel(MAKERS)
            flow.forget_makers()
            marks = marks | watcher.poll()
            if any(abs(marks[s] - quoted[s]) * 1_000_000 > REQUOTE_PPM * quoted[s]
                   for s in SYMBOLS):  # fmt: skip
                quoted = dict(marks)
                flow.set_quotes([quote_around(s, marks[s], ticks[s]) for s in SYMBOLS])

        pids = server.pids()
        target = _Target("exchange", pids, client, flow, _idle_cpu(pids, IDLE_S), after_step)
        print(f"exchange ({mode}):", flush=True)
        entries, hists = _ladder(target, args.rates, args, warmup)
    finally:
        if watcher is not None:
            watcher.close()
        if client is not None:
            client.close()
        exit_codes = server.stop()
    return {"entries": entries, "hists": hists, "marks": start_marks, "ticks": ticks,
            "exit_codes": exit_codes, "idle_cpu_busy": target.idle}  # fmt: skip


def _sink(args: argparse.Namespace, warmup: float, workdir: Path, ctx: Any) -> dict[str, Any]:
    """The ladder against ``bench.sink``: the load generator alone."""
    entries, hists, idle, code = _stand_in("bench.sink", args.rates, args, warmup, workdir, ctx)
    return {"entries": entries, "hists": hists, "marks": dict.fromkeys(SYMBOLS, 100_000),
            "ticks": dict.fromkeys(SYMBOLS, 1), "exit_codes": {"sink": code},
            "idle_cpu_busy": idle}  # fmt: skip


def _floor(args: argparse.Namespace, warmup: float, workdir: Path, ctx: Any) -> dict[str, Any]:
    """The ladder against ``bench.echo``: the floor, in its own process, same client."""
    from bench.echo import ACK

    entries, hists, idle, code = _stand_in("bench.echo", args.floor_rates, args, warmup,
                                           workdir, ctx)  # fmt: skip
    for e in entries:  # the echo has no hops: its acks carry constant stamps
        for key in ("hop_medians_us", "hop_p99_us", "hop_samples"):
            e.pop(key, None)
    echo = sustained(entries)
    return {
        "server": "bench.echo: CURVE ROUTER, decodes each request, answers one "
                  "acknowledgement-shaped frame",
        "reply_bytes": ACK.size,
        "rates": entries,
        "server_cpu_us_per_request": at_rate(entries, echo, "server_cpu_us_per_order"),
        "idle_cpu_busy": idle,
        "exit_code": code,
        "hists": hists,
    }  # fmt: skip


def _stand_in(module: str, rates: tuple[int, ...], args: argparse.Namespace, warmup: float,
              workdir: Path, ctx: Any) -> tuple[list, dict, dict, int | None]:  # fmt: skip
    """Start a stand-in server (``bench.stand_in.start``), log on, run the ladder, stop it:
    (entries, histograms, idle CPU, exit code)."""
    from bench import stand_in
    from bench.loadgen import ClientError, Flow, LoadClient, quote_around
    from gateway.cli import CliError

    name = module.rsplit(".", 1)[-1]
    proc, endpoint, public, pairs = stand_in.start(module, workdir, MAKERS + TAKERS)
    client = None
    try:
        client = LoadClient(endpoint, public, pairs, ctx)
        try:
            client.logon(timeout_s=30.0)
        except ClientError as exc:
            raise CliError(f"bench e2e ({name}): {exc}") from None
        pids = {name: proc.pid}
        flow = Flow(MAKERS, TAKERS, [quote_around(s, 100_000, 1) for s in SYMBOLS])
        target = _Target(name, pids, client, flow, _idle_cpu(pids, IDLE_S))
        print(f"{name} ({module}):", flush=True)
        entries, hists = _ladder(target, rates, args, warmup)
    finally:
        if client is not None:
            client.close()
        proc.terminate()
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    return entries, hists, target.idle, code


def _ladder(target: _Target, rates: tuple[int, ...], args: argparse.Namespace, warmup: float
            ) -> tuple[list[dict[str, Any]], dict[float, dict[str, Recorder]]]:  # fmt: skip
    """Step the rates against ``target`` (module rules); the entries by rate, histograms."""
    pids, client, flow = target.pids, target.client, target.flow
    idle_busy = sum(target.idle.values()) if target.idle else None
    entries: list[dict[str, Any]] = []
    hists: dict[float, dict[str, Recorder]] = {}
    refine_left = args.refine
    while True:
        rate = next_rate(entries, rates, refine_left, args.all_rates)
        if rate is None:
            break
        if any(not e.get("held") for e in entries):
            refine_left -= 1
        profiling = {}
        if args.profile and target.name == "exchange":
            from bench import profile

            for name, pid in pids.items():
                out = args.profile / f"{name}-{rate}.txt"
                profiling[name] = (profile.start(pid, warmup + args.duration, out), out)
        cpu0 = {k: _cpu_seconds(p) for k, p in pids.items()}
        cpu0["generator"] = time.process_time()
        rq0 = {k: _runqueue_wait_s(p) for k, p in {**pids, "generator": os.getpid()}.items()}
        t0 = time.monotonic()
        entry, recs = _step(client, flow, rate, args.duration, warmup, list(pids.values()),
                            idle_busy)  # fmt: skip
        wall = time.monotonic() - t0
        cpu1 = {k: _cpu_seconds(p) for k, p in pids.items()}
        cpu1["generator"] = time.process_time()
        rq1 = {k: _runqueue_wait_s(p) for k, p in {**pids, "generator": os.getpid()}.items()}
        entry["cpu_busy"] = {k: round((cpu1[k] - cpu0[k]) / wall, 2) for k in cpu0
                             if cpu0[k] is not None and cpu1[k] is not None}  # fmt: skip
        entry["cpu_wait"] = {k: round((rq1[k] - rq0[k]) / wall, 2) for k in rq0
                             if rq0[k] is not None and rq1[k] is not None}  # fmt: skip
        if profiling:
            from bench import profile

            entry["profile"] = {name: profile.finish(proc, out)
                                for name, (proc, out) in profiling.items()}  # fmt: skip
        entry["refine"] = any(not e.get("held") for e in entries)
        entry["held"], entry["not_held_because"] = held(entry)
        entries.append(entry)
        hists[rate] = recs
        print(_step_line(entry), flush=True)
        if target.after_step is not None:
            target.after_step()
        client.discard_pending()
    entries.sort(key=lambda e: e["rate"])
    return entries, hists


def _command(args: argparse.Namespace) -> str:
    words = ["crossbook", "bench", "e2e", "--json", str(args.json)]
    if args.plot:
        words += ["--plot", str(args.plot)]
    words += ["--duration", f"{args.duration:g}"]
    if args.processes:
        words.append("--processes")
    if args.durability != "write":
        words += ["--durability", args.durability]
    if args.rates != DEFAULT_RATES:
        words += ["--rates", ",".join(str(r) for r in args.rates)]
    if args.warmup is not None:
        words += ["--warmup", f"{args.warmup:g}"]
    if args.refine != 2:
        words += ["--refine", str(args.refine)]
    if args.floor_rates != FLOOR_RATES:
        words += ["--floor-rates", ",".join(str(r) for r in args.floor_rates)]
    for flag in ("all_rates", "sink", "no_floor"):
        if getattr(args, flag):
            words.append("--" + flag.replace("_", "-"))
    return shlex.join(words)


def _step(client: Any, flow: Any, rate: int, duration: float, warmup: float,
          server_pids: list[int], idle_busy: float | None,
          ) -> tuple[dict[str, Any], dict[str, Recorder]]:  # fmt: skip
    """One rate step; ``server_pids`` are the roots of the server's process tree, charged
    from the first counted planned send until the sockets go quiet after the last send
    (``bench.cpu``; the generator likewise: reading the replies afterwards is not its
    cost under load);
    ``idle_busy`` is the tree's CPU share with no requests (timers), taken out of the
    ``..._above_idle`` figure."""
    from bench import cpu
    from bench.pacing import count_for, plan_times

    n = count_for(rate, warmup + duration)
    frames = flow.build(n)
    tree = cpu.tree_pids(server_pids)
    readings: dict[str, Any] = {}

    def window_opens() -> None:  # called by the send loop just before request w0 goes out
        readings["server"] = cpu.read_cpu(tree)
        readings["server_threads"] = cpu.read_threads(tree)
        readings["generator"] = time.process_time()
        readings["t"] = time.monotonic()

    def window_closes() -> None:  # the sockets went quiet after the last send
        if readings:
            readings["server_after"] = cpu.read_cpu(cpu.tree_pids(server_pids))
            readings["server_threads_after"] = cpu.read_threads(tree)
            readings["generator_after"] = time.process_time()
            readings["window_s"] = time.monotonic() - readings["t"]

    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        plan = plan_times(rate, n, time.monotonic_ns() + 20_000_000)
        w0 = window_start(plan, int(warmup * 1e9))
        data = client.run_step(frames, plan, rate, drain_timeout_s=10.0,
                               max_backlog=max(1_000, int(rate * BACKLOG_S)),
                               at=(w0, window_opens), when_quiet=window_closes)  # fmt: skip
    finally:
        gc.enable()
        gc.unfreeze()
    entry, recs = analyse_step(data, int(warmup * 1e9))
    entry = {"rate": rate, **{k: v for k, v in entry.items() if k != "rate"}}
    if readings:
        server_s = cpu.spent(readings["server"], readings["server_after"])
        window_s = readings["window_s"]
        entry["server_cpu_us_per_order"] = cpu.us_per_request(server_s, entry["requests"])
        entry["server_cpu_us_per_order_by_thread"] = cpu.threads_us_per_request(
            readings["server_threads"], readings["server_threads_after"], entry["requests"])
        entry["generator_cpu_us_per_request"] = cpu.us_per_request(
            readings["generator_after"] - readings["generator"], entry["requests"])
        entry["cpu_window_s"] = round(window_s, 3)
        busy = server_s / window_s if server_s is not None and window_s else None
        entry["server_cpu_busy_in_window"] = None if busy is None else round(busy, 2)
        above = (None if server_s is None or idle_busy is None
                 else max(0.0, server_s - idle_busy * window_s))  # fmt: skip
        entry["server_cpu_us_per_order_above_idle"] = cpu.us_per_request(above, entry["requests"])
    else:  # the step aborted before its window opened
        for key in ("server_cpu_us_per_order", "server_cpu_us_per_order_above_idle",
                    "generator_cpu_us_per_request", "server_cpu_us_per_order_by_thread"):
            entry[key] = None
    entry["histograms"] = {k: r.hist.encode().decode("ascii") for k, r in recs.items()
                           if r.count}  # fmt: skip
    return entry, recs


def _runqueue_wait_s(pid: int) -> float | None:
    """Seconds the process's threads spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return total / 1e9


def _idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """CPU share of each exchange process with no orders coming (timers, heartbeats)."""
    before = {k: _cpu_seconds(p) for k, p in pids.items()}
    time.sleep(seconds)
    after = {k: _cpu_seconds(p) for k, p in pids.items()}
    return {k: round((after[k] - before[k]) / seconds, 3) for k in pids
            if before[k] is not None and after[k] is not None}  # fmt: skip


def _ticks(client: Any) -> dict[str, int]:
    reply = client.request(0, {"type": "query_instruments"})
    items = {it.get("symbol"): it for it in reply.get("items") or []}
    out = {}
    for s in SYMBOLS:
        if s not in items:
            from gateway.cli import CliError

            raise CliError(f"bench e2e: the exchange does not list {s}")
        out[s] = int(items[s]["tick_size"])
    return out


def _fallback_marks() -> dict[str, int]:
    """The configured index of each instrument: the mark until the feed says otherwise."""
    from gateway.exchange_config import default_config

    cfg = default_config().clearing
    return {s: int(cfg.indices[cfg.instruments[s].index]) for s in SYMBOLS}


def _plot(entries: list[dict[str, Any]], hists: dict[float, dict[str, Recorder]], path: Path,
          mode: str, floor: list[dict[str, Any]] | None) -> None:  # fmt: skip
    from bench.plots import RateLine, Series, Timeline, percentile_plot

    ack: list[Series] = []
    fill: list[Series] = []
    lines: list[Timeline] = []
    for e in entries:
        recs = hists[e["rate"]]
        mark = "" if e.get("held") else " (not held)"
        label = f"{e['rate']:,}/s{mark}"
        ack.append(Series(label, percentile_curve(recs["ack"])))
        ack.append(Series(f"{e['rate']:,}/s uncorrected", percentile_curve(
            recs["ack_uncorrected"]), dashed=True))
        fill.append(Series(label, percentile_curve(recs["fill"])))
        tl = e.get("timeline") or {}
        lines.append(Timeline(label, tl.get("bin_ms", 100), tl.get("max_us", [])))
    server = "sink" if mode == "sink" else "exchange"
    by_rate = [(server, entries, False)] + ([("echo floor", floor, True)] if floor else [])
    rate_lines = [RateLine(f"{who} {key[:3]}", [(e["rate"], e[key], bool(e.get("held")))
                                                for e in steps], dashed)
                  for who, steps, dashed in by_rate for key in ("p50_us", "p99_us")]  # fmt: skip
    env = _environment(mode)
    title = (f"crossbook bench e2e ({mode}): latency by percentile, corrected for coordinated "
             f"omission (dashed: uncorrected)\n{env['cpu']}, {env['cores']} cores shared by "
             f"generator and server, Python {env['python']}")  # fmt: skip
    percentile_plot([("order -> ack (new orders)", ack), ("order -> first fill (taker IOC)", fill)],
                    path, title, ("order -> ack over time: max per 100 ms", lines),
                    ("order -> ack p50 / p99 by target rate (dashed: the echo floor)",
                     rate_lines, HELD_P99_US))  # fmt: skip


def _step_line(e: dict[str, Any]) -> str:
    state = "held" if e["held"] else "NOT held: " + "; ".join(e["not_held_because"])
    return (f"  {e['rate']:>7,}/s  achieved {e['achieved_orders_per_s']:>9,.0f}/s  "
            f"ack p50 {e['p50_us']} p99 {e['p99_us']} max {e['max_us']} us  "
            f"fill p50 {e['fill']['p50_us']} p99 {e['fill']['p99_us']} us  "
            f"cpu {e.get('cpu_busy')} waiting for cpu {e.get('cpu_wait')}  {state}")


def _report(result: dict[str, Any], path: Path) -> str:
    text = (f"bench e2e ({result['mode']}): sustained {result['sustained_orders_per_s']:,} "
            f"requests/s over {len(result['rates'])} steps")  # fmt: skip
    if result.get("floor_echo_per_s") is not None:
        text += (f"; floor (echo): {result['floor_echo_per_s']:,} requests/s, round trip p50 "
                 f"{result['floor_rtt_p50_us']} us at {result['floor_rtt_rate']:,}/s; "
                 f"sustained / floor {result['sustained_to_floor_ratio']}")  # fmt: skip
    if result.get("server_cpu_us_per_order") is not None:
        text += f"; server CPU {result['server_cpu_us_per_order']} us per order"
    return f"{text} -> {path}"
