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
the server's process tree is charged for its CPU from the first counted planned send to
the end of the drain (``bench.cpu``). Rates step upward until a step is not held, then
``--refine`` bisection steps; ``sustained_orders_per_s`` is the highest held rate.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.e2e_analysis import analyse_step, window_start
from bench.e2e_rules import (
    BACKLOG_S,
    DEFAULT_RATES,
    GROWTH_FACTOR,
    GROWTH_SLACK_US,
    HELD_ACHIEVED,
    HELD_P99_US,
    MAX_ERROR_FRACTION,
    at_rate,
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
    parser.add_argument("--rates", type=_rates, default=DEFAULT_RATES, metavar="R1,R2,...",
                        help="target rates in requests/s, stepped upward "
                             "(default " + ",".join(map(str, DEFAULT_RATES)) + ")")
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


def _run(args: argparse.Namespace, mode: str, warmup: float, workdir: Path) -> dict[str, Any]:
    import zmq

    from bench.e2e_server import ExchangeProcesses, ServerError
    from bench.loadgen import ClientError, Flow, LoadClient, MarkWatcher, quote_around
    from gateway.cli import CliError

    ctx = zmq.Context()
    server: Any = None
    client = watcher = None
    idle: dict[str, float] = {}
    try:
        if mode == "sink":
            server, endpoint, server_public, pairs = _start_sink(workdir)
            pids = {"sink": server.pid}
            ticks = {s: 1 for s in SYMBOLS}
            marks = {s: 100_000 for s in SYMBOLS}
        else:
            server = ExchangeProcesses(workdir, args.processes)
            server.start()
            server_public, pairs = server.wait_for_keys()
            endpoint = server.endpoints["order_entry"]
            pids = server.pids()
        client = LoadClient(endpoint, server_public, pairs[: MAKERS + TAKERS], ctx)
        try:
            client.logon(timeout_s=60.0)
        except ClientError as exc:
            if mode != "sink":
                server.check_alive()
            raise CliError(f"bench e2e: {exc}") from None
        if mode != "sink":
            ticks = _ticks(client)
            watcher = MarkWatcher(server.endpoints["market_data"], server_public, pairs[0],
                                  SYMBOLS, ctx)  # fmt: skip
            marks = _fallback_marks() | watcher.wait(SYMBOLS, 3.0)
        idle = _idle_cpu(pids, IDLE_S)
        quoted = dict(marks)
        flow = Flow(MAKERS, TAKERS, [quote_around(s, marks[s], ticks[s]) for s in SYMBOLS])
        entries: list[dict[str, Any]] = []
        hists: dict[float, dict[str, Recorder]] = {}
        refine_left = args.refine
        while True:
            rate = next_rate(entries, args.rates, refine_left, args.all_rates)
            if rate is None:
                break
            if any(not e.get("held") for e in entries):
                refine_left -= 1
            profiling = {}
            if args.profile and mode != "sink":
                from bench import profile

                for name, pid in pids.items():
                    out = args.profile / f"{name}-{rate}.txt"
                    profiling[name] = (profile.start(pid, warmup + args.duration, out), out)
            cpu0 = {k: _cpu_seconds(p) for k, p in pids.items()}
            cpu0["generator"] = time.process_time()
            rq0 = {k: _runqueue_wait_s(p) for k, p in {**pids, "generator": os.getpid()}.items()}
            t0 = time.monotonic()
            entry, recs = _step(client, flow, rate, args.duration, warmup, list(pids.values()),
                                sum(idle.values()) if idle else None)
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
            if mode != "sink":
                server.check_alive()
                client.mass_cancel(MAKERS)
                flow.forget_makers()
                marks = marks | (watcher.poll() if watcher else {})
                if any(abs(marks[s] - quoted[s]) * 1_000_000 > REQUOTE_PPM * quoted[s]
                       for s in SYMBOLS):  # fmt: skip
                    quoted = dict(marks)
                    flow.set_quotes([quote_around(s, marks[s], ticks[s]) for s in SYMBOLS])
            client.discard_pending()
    except ServerError as exc:
        raise CliError(f"bench e2e: {exc}") from None
    finally:
        if watcher is not None:
            watcher.close()
        if client is not None:
            client.close()
        exit_codes: Any = None
        if server is not None:
            if mode == "sink":
                server.terminate()
                exit_codes = {"sink": server.wait(10)}
            else:
                exit_codes = server.stop()
        ctx.destroy(linger=0)
    entries.sort(key=lambda e: e["rate"])
    rate_sustained = sustained(entries)
    cpu_at_sustained = at_rate(entries, rate_sustained, "server_cpu_us_per_order")
    if args.plot:
        _plot(entries, hists, args.plot, mode)
    env = _environment(mode)
    env["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "harness": "e2e",
        "mode": mode,
        "command": _command(args),
        "sustained_orders_per_s": rate_sustained,
        "rates": entries,
        "held_rule": {
            "achieved_at_least": HELD_ACHIEVED, "p99_us_at_most": HELD_P99_US,
            "growth_factor": GROWTH_FACTOR, "growth_slack_us": GROWTH_SLACK_US,
            "refused_fraction_at_most": MAX_ERROR_FRACTION, "unanswered": 0,
            "abort_backlog_s": BACKLOG_S,
            "text": held_rule_text(),
        },
        "server_cpu_us_per_order": cpu_at_sustained,
        "targets": target_check(entries, rate_sustained, mode, cpu_at_sustained),
        "duration_s": args.duration,
        "warmup_s": warmup,
        "flow": {
            "makers": MAKERS, "takers": TAKERS, "instruments": list(SYMBOLS),
            "cycle": "maker post-only GTC 2 lots; taker IOC 1 lot at the same price; cancel "
                     "of the maker order placed 8 cycles earlier",
            "marks_at_start": marks, "tick_sizes": ticks,
        },
        "exit_codes": exit_codes,
        "idle_cpu_busy": idle,
        "environment": env,
    }  # fmt: skip


def _command(args: argparse.Namespace) -> str:
    words = ["crossbook", "bench", "e2e", "--json", str(args.json)]
    if args.plot:
        words += ["--plot", str(args.plot)]
    words += ["--duration", f"{args.duration:g}"]
    if args.processes:
        words.append("--processes")
    if args.rates != DEFAULT_RATES:
        words += ["--rates", ",".join(str(r) for r in args.rates)]
    if args.warmup is not None:
        words += ["--warmup", f"{args.warmup:g}"]
    if args.refine != 2:
        words += ["--refine", str(args.refine)]
    for flag in ("all_rates", "sink"):
        if getattr(args, flag):
            words.append("--" + flag.replace("_", "-"))
    return shlex.join(words)


def _step(client: Any, flow: Any, rate: int, duration: float, warmup: float,
          server_pids: list[int], idle_busy: float | None,
          ) -> tuple[dict[str, Any], dict[str, Recorder]]:  # fmt: skip
    """One rate step; ``server_pids`` are the roots of the server's process tree, charged
    from the first counted planned send to the end of the drain (``bench.cpu``);
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
        readings["generator"] = time.process_time()
        readings["t"] = time.monotonic()

    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        plan = plan_times(rate, n, time.monotonic_ns() + 20_000_000)
        w0 = window_start(plan, int(warmup * 1e9))
        data = client.run_step(frames, plan, rate, drain_timeout_s=10.0,
                               max_backlog=max(1_000, int(rate * BACKLOG_S)),
                               at=(w0, window_opens))  # fmt: skip
        server_after = cpu.read_cpu(cpu.tree_pids(server_pids))
        generator_after = time.process_time()
        window_s = time.monotonic() - readings["t"] if readings else None
    finally:
        gc.enable()
        gc.unfreeze()
    entry, recs = analyse_step(data, int(warmup * 1e9))
    entry = {"rate": rate, **{k: v for k, v in entry.items() if k != "rate"}}
    if readings:
        server_s = cpu.spent(readings["server"], server_after)
        entry["server_cpu_us_per_order"] = cpu.us_per_request(server_s, entry["requests"])
        entry["generator_cpu_us_per_request"] = cpu.us_per_request(
            generator_after - readings["generator"], entry["requests"])
        entry["cpu_window_s"] = round(window_s, 3) if window_s is not None else None
        busy = server_s / window_s if server_s is not None and window_s else None
        entry["server_cpu_busy_in_window"] = None if busy is None else round(busy, 2)
        above = (None if server_s is None or idle_busy is None or window_s is None
                 else max(0.0, server_s - idle_busy * window_s))  # fmt: skip
        entry["server_cpu_us_per_order_above_idle"] = cpu.us_per_request(above, entry["requests"])
    else:  # the step aborted before its window opened
        for key in ("server_cpu_us_per_order", "server_cpu_us_per_order_above_idle",
                    "generator_cpu_us_per_request"):
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


def _start_sink(workdir: Path) -> tuple[Any, str, bytes, list]:
    import subprocess

    from bench.e2e_server import free_ports
    from gateway import keys as keyfiles

    server = keyfiles.create_keypair(workdir, keyfiles.SERVER_NAME)
    pairs = [keyfiles.create_keypair(workdir, keyfiles.account_name(a))
             for a in range(1, MAKERS + TAKERS + 1)]  # fmt: skip
    endpoint = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    key = str(keyfiles.secret_path(workdir, "server"))
    proc = subprocess.Popen([sys.executable, "-m", "bench.sink", "--endpoint", endpoint,
                             "--server-key", key])  # fmt: skip
    return proc, endpoint, server.public, pairs


def _plot(entries: list[dict[str, Any]], hists: dict[float, dict[str, Recorder]], path: Path,
          mode: str) -> None:  # fmt: skip
    from bench.plots import Series, Timeline, percentile_plot

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
    env = _environment(mode)
    title = (f"crossbook bench e2e ({mode}): latency by percentile, corrected for coordinated "
             f"omission (dashed: uncorrected)\n{env['cpu']}, {env['cores']} cores shared by "
             f"generator and server, Python {env['python']}")  # fmt: skip
    percentile_plot([("order -> ack (new orders)", ack), ("order -> first fill (taker IOC)", fill)],
                    path, title, ("order -> ack over time: max per 100 ms", lines))  # fmt: skip


def _step_line(e: dict[str, Any]) -> str:
    state = "held" if e["held"] else "NOT held: " + "; ".join(e["not_held_because"])
    return (f"  {e['rate']:>7,}/s  achieved {e['achieved_orders_per_s']:>9,.0f}/s  "
            f"ack p50 {e['p50_us']} p99 {e['p99_us']} max {e['max_us']} us  "
            f"fill p50 {e['fill']['p50_us']} p99 {e['fill']['p99_us']} us  "
            f"cpu {e.get('cpu_busy')} waiting for cpu {e.get('cpu_wait')}  {state}")


def _report(result: dict[str, Any], path: Path) -> str:
    return (f"bench e2e ({result['mode']}): sustained {result['sustained_orders_per_s']:,} "
            f"requests/s over {len(result['rates'])} steps -> {path}")
