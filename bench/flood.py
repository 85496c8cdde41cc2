"""``crossbook bench flood``: one account floods, the others must not notice (issue 9).

Starts ``crossbook serve`` (embedded, a fresh state dir, its own ports) as a subprocess and
drives it from this process with plain ZeroMQ sockets on threads:

- victims: accounts 2..4 each send a post-only limit buy every ``--victim-interval-ms``
  and time the send -> ``New`` report (ack) round trip, and read the time it spent inside
  the server off the report (``ts_gw_out - ts_gw_in``);
- market data: a CURVE SUB records every heartbeat's arrival (``md_heartbeat_ms`` 200);
- phases, each bounded by a message count and a duration: ``idle``; ``orders`` (account 1,
  from a process of its own, sends new orders as fast as its socket takes them); ``junk``
  (the same with malformed frames); ``queries`` (account 5 rests
  ``--resting`` orders, then sends bursts of ``query_orders``).
- the server's RSS (``/proc/PID/status``) is sampled every 50 ms.

Per phase: victims' ack p50/p99/max (ms), the longest market-data heartbeat gap (ms), the
server's RSS peak (MB) against idle and against the phase's start (``idle_resting``, the
server holding the querying account's resting orders and whatever the floods left, is
the reference of the query bursts), what the flooder sent. The load generator shares the
machine's cores with the server: the figures say so.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

from bench.e2e_server import free_ports

MD_HEARTBEAT_MS = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--flood-messages", type=int, default=400_000,
                        help="frames the flooder sends per flood phase at most (400000)")
    parser.add_argument("--phase-s", type=float, default=8.0, help="longest phase (8 s)")
    parser.add_argument("--victim-interval-ms", type=float, default=20.0,
                        help="one order per victim every N ms (20)")
    parser.add_argument("--resting", type=int, default=5000,
                        help="open orders of the querying account (5000)")
    parser.add_argument("--query-bursts", type=int, nargs="+", default=[300, 2100],
                        help="query_orders bursts (300 2100)")  # fmt: skip


def _config(tmp: Path) -> tuple[Path, dict[str, str], Path]:
    from gateway.exchange_config import Endpoints, default_toml

    names = list(Endpoints.__dataclass_fields__)
    eps = {n: f"tcp://127.0.0.1:{p}" for n, p in zip(names, free_ports(len(names)), strict=True)}
    text = default_toml()
    for n, default in Endpoints().as_dict().items():
        text = text.replace(f'{n} = "{default}"', f'{n} = "{eps[n]}"')
    state = tmp / "state"
    text = text.replace('state_dir = "./crossbook-state"',
                        f'state_dir = "{state}"\nmd_heartbeat_ms = {MD_HEARTBEAT_MS}')
    path = tmp / "exchange.toml"
    path.write_text(text)
    return path, eps, state


def _rss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else 0.0


def _cpu_s(pid: int) -> float:
    """The process's CPU time so far (user + system, all its threads), seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p / 100 * len(s)))], 3)


class _Session:
    def __init__(self, ctx: zmq.Context, eps: dict[str, str], state: Path, account: int) -> None:
        from gateway import keys as keyfiles

        pair = keyfiles.load_account_keys(state, account)
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.sndhwm = 1_000_000
        self.sock.rcvhwm = 1_000_000
        self.sock.curve_secretkey = pair.secret
        self.sock.curve_publickey = pair.public
        self.sock.curve_serverkey = keyfiles.load_server_public(state)
        self.sock.connect(eps["order_entry"])
        self.req = 0

    def send(self, msg: dict, flags: int = 0) -> int:
        self.req += 1
        msg = {"v": 1, "req_id": self.req, **msg}
        self.sock.send(msgpack.packb(msg), flags)
        return self.req

    def recv(self, timeout_ms: int) -> dict | None:
        if not self.sock.poll(timeout_ms):
            return None
        return msgpack.unpackb(self.sock.recv(), raw=False, strict_map_key=False)

    def logon(self) -> None:
        rid = self.send({"type": "logon", "heartbeat_ms": 60_000})
        while True:
            m = self.recv(10_000)
            if m is None:
                raise RuntimeError("no logon_ack")
            if m.get("req_id") == rid:
                return


class _Phase:
    def __init__(self, name: str) -> None:
        self.name = name
        self.acks: list[float] = []
        self.server: list[float] = []
        """The same acks inside the server: ``ts_gw_out - ts_gw_in`` (ms)."""
        self.to_server: list[float] = []
        """Send (wall clock, carried in the client order id) to ``ts_gw_in`` (ms): the
        client's and the server's ZeroMQ I/O threads, TCP, and the wait to be read."""
        self.from_server: list[float] = []
        """``ts_gw_out`` to the victim's thread holding the ack (ms): the way back."""
        self.md_server: list[float] = []
        """Heartbeat gaps by their ``ts_send`` (ms): the server's side of the gap."""
        self.lost = 0
        self.md: list[float] = []
        self.rss: list[float] = []
        self.sent = 0
        self.extra: dict = {}


def _flood(eps: dict[str, str], state: Path, junk: bool, most: int, phase_s: float,
           out: Any) -> None:
    """Account 1 floods from a process of its own (its busy loop would otherwise hold the
    victims' threads off the GIL and add milliseconds to what they measure), then closes
    with linger 0: what it queued and the server has not read yet would go on arriving
    for seconds, so the flood ends with the phase."""
    ctx = zmq.Context()
    flooder = _Session(ctx, eps, state, 1)
    flooder.logon()
    body = b"\xc1junk" * 8
    sent = 0
    replies: dict[str, int] = {}
    t0 = time.perf_counter()
    while sent < most and time.perf_counter() - t0 < phase_s:
        try:
            if junk:
                flooder.sock.send(body, zmq.NOBLOCK)
            else:
                flooder.send({"type": "new_order", "instrument": "BTC-PERP", "side": "buy",
                              "qty": 1, "price": 100_000, "client_order_id": f"f{sent}"},
                             zmq.NOBLOCK)  # fmt: skip
            sent += 1
        except zmq.Again:
            time.sleep(0.0005)
        while flooder.sock.poll(0):
            m = msgpack.unpackb(flooder.sock.recv(), raw=False, strict_map_key=False)
            kind = m.get("reason_name") or m.get("exec_type") or m.get("type")
            replies[str(kind)] = replies.get(str(kind), 0) + 1
    rate = round(sent / (time.perf_counter() - t0))
    flooder.sock.close(linger=0)
    ctx.destroy(linger=0)
    out.put((sent, rate, replies))


def _victim(ctx, eps, state, account: int, interval_s: float, stop: threading.Event,
            cur: list[_Phase]) -> None:  # fmt: skip
    s = _Session(ctx, eps, state, account)
    s.logon()
    n = 0
    while not stop.is_set():
        n += 1
        phase = cur[0]
        t0 = time.perf_counter()
        sent_ns = time.time_ns()
        rid = s.send({"type": "new_order", "instrument": "ETH-PERP", "side": "buy", "qty": 1,
                      "price": 1_000_000 + n % 50, "client_order_id": f"v{account}-{sent_ns}",
                      "post_only": True, "tif": "ioc"})  # fmt: skip
        got = False
        while time.perf_counter() - t0 < 2.0:
            m = s.recv(50)
            if m is not None and m.get("req_id") == rid:
                phase.acks.append((time.perf_counter() - t0) * 1000)
                got_ns = time.time_ns()
                if m.get("ts_gw_in") and m.get("ts_gw_out"):
                    phase.server.append((m["ts_gw_out"] - m["ts_gw_in"]) / 1e6)
                    phase.to_server.append((m["ts_gw_in"] - sent_ns) / 1e6)
                    phase.from_server.append((got_ns - m["ts_gw_out"]) / 1e6)
                got = True
                break
        if not got:
            phase.lost += 1
        rest = interval_s - (time.perf_counter() - t0)
        if rest > 0:
            time.sleep(rest)
    s.sock.close(0)


def _md(ctx, eps, state, stop: threading.Event, cur: list[_Phase]) -> None:
    from gateway import keys as keyfiles

    pair = keyfiles.load_account_keys(state, 6)
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.curve_secretkey = pair.secret
    sub.curve_publickey = pair.public
    sub.curve_serverkey = keyfiles.load_server_public(state)
    sub.connect(eps["market_data"])
    sub.setsockopt(zmq.SUBSCRIBE, b"hb")
    last = last_ts = None
    while not stop.is_set():
        if sub.poll(100):
            frames = sub.recv_multipart()
            now = time.perf_counter()
            ts = msgpack.unpackb(frames[-1], raw=False).get("ts_send")
            if last is not None:
                cur[0].md.append((now - last) * 1000)
                if ts and last_ts:
                    cur[0].md_server.append((ts - last_ts) / 1e6)
            last, last_ts = now, ts
    sub.close(0)


def run(args: argparse.Namespace) -> int:
    from bench.environment import describe, write_result

    tmp = Path(tempfile.mkdtemp(prefix="crossbook-flood-"))
    cfg, eps, state = _config(tmp)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()
    ctx = zmq.Context()
    stop = threading.Event()
    phases: list[_Phase] = []
    cur = [_Phase("warmup")]
    threads = [threading.Thread(target=_victim, daemon=True,
                                args=(ctx, eps, state, a, args.victim_interval_ms / 1000, stop,
                                      cur)) for a in (2, 3, 4)]  # fmt: skip
    threads.append(threading.Thread(target=_md, args=(ctx, eps, state, stop, cur), daemon=True))
    for t in threads:
        t.start()

    def phase(name: str, body) -> None:
        p = _Phase(name)
        cur[0] = p
        done = threading.Event()
        sampler = threading.Thread(target=lambda: [(p.rss.append(_rss_mb(proc.pid)),
                                                    time.sleep(0.05)) for _ in iter(
                                                        lambda: done.is_set(), True)])
        p.extra["rss_start_mb"] = round(_rss_mb(proc.pid), 1)
        sampler.start()
        t0 = time.perf_counter()
        cpu0 = _cpu_s(proc.pid)
        body(p)
        p.extra["seconds"] = round(time.perf_counter() - t0, 2)
        time.sleep(1.0)  # what the phase left behind is served before it is counted done
        p.extra["server_cpu_s"] = round(_cpu_s(proc.pid) - cpu0, 2)
        done.set()
        sampler.join()
        phases.append(p)

    try:
        time.sleep(2.0)
        phase("idle", lambda p: time.sleep(3.0))
        def flood(p: _Phase, junk: bool) -> None:
            mp = multiprocessing.get_context("spawn")  # no fork of a threaded process
            out = mp.Queue()
            proc_ = mp.Process(target=_flood, args=(
                eps, state, junk, args.flood_messages, args.phase_s, out))  # fmt: skip
            proc_.start()
            sent, rate, replies = out.get(timeout=args.phase_s + 30)
            proc_.join(10)
            p.sent = sent
            p.extra.update(flood_rate_per_s=rate, flooder_replies=replies)

        phase("flood_orders", lambda p: flood(p, False))
        phase("flood_junk", lambda p: flood(p, True))
        q = _Session(ctx, eps, state, 5)
        q.logon()
        rested = 0

        def take() -> int:
            n = 0
            while q.sock.poll(0):
                n += msgpack.unpackb(q.sock.recv(), raw=False).get("exec_type") == "0"
            return n

        for i in range(args.resting):  # slowly enough to stay inside the rate limit
            q.send({"type": "new_order", "instrument": "BTC-PERP", "side": "buy", "qty": 1,
                    "price": 100_000 + 5 * (i % 100),  # on BTC-PERP's 5-unit tick
                    "client_order_id": f"r{i}"})  # fmt: skip
            if i % 1000 == 999:
                time.sleep(0.2)
            rested += take()
        time.sleep(2.0)
        rested += take()
        phase("idle_resting", lambda p: time.sleep(2.0))  # the reference of the bursts
        phases[-1].extra["open_orders"] = rested
        for n in args.query_bursts:
            def burst(p: _Phase, n: int = n) -> None:
                for _ in range(n):
                    q.send({"type": "query_orders"})
                    p.sent += 1
                rows = answered = limited = 0
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < args.phase_s:
                    m = q.recv(200)
                    if m is None:
                        continue
                    if m.get("type") == "query_reply":
                        rows += len(m["items"])
                        answered += bool(m["last"])
                    elif m.get("reason_name") == "RATE_LIMITED":
                        limited += 1
                    if answered + limited >= n:
                        break
                p.extra.update(rows=rows, answered=answered, rate_limited=limited)
            phase(f"query_burst_{n}", burst)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        t0 = time.perf_counter()
        proc.terminate()
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
        stop_s = round(time.perf_counter() - t0, 2)
        ctx.destroy(0)
    idle = max(phases[0].rss) if phases and phases[0].rss else None
    result = {
        "harness": "flood",
        "environment": describe(),
        "note": "server and load generator share the machine's cores",
        "md_heartbeat_ms": MD_HEARTBEAT_MS,
        "idle_rss_mb": idle,
        "sigterm_exit_code": code,
        "sigterm_seconds": stop_s,
        "phases": [{
            "phase": p.name, "victim_acks": len(p.acks), "victim_lost": p.lost,
            "ack_p50_ms": _pct(p.acks, 50), "ack_p99_ms": _pct(p.acks, 99),
            "ack_max_ms": _pct(p.acks, 100),
            "server_ack_p50_ms": _pct(p.server, 50), "server_ack_p99_ms": _pct(p.server, 99),
            "to_server_p50_ms": _pct(p.to_server, 50), "to_server_p99_ms": _pct(p.to_server, 99),
            "from_server_p50_ms": _pct(p.from_server, 50),
            "from_server_p99_ms": _pct(p.from_server, 99),
            "md_heartbeat_max_gap_ms": round(max(p.md), 1) if p.md else None,
            "md_heartbeat_max_gap_server_ms": round(max(p.md_server), 1) if p.md_server else None,
            "rss_peak_mb": round(max(p.rss), 1) if p.rss else None,
            "rss_peak_over_idle": round(max(p.rss) / idle, 2) if p.rss and idle else None,
            "rss_peak_over_start": (round(max(p.rss) / p.extra["rss_start_mb"], 2)
                                    if p.rss and p.extra.get("rss_start_mb") else None),
            "flooder_sent": p.sent, **p.extra,
        } for p in phases],
    }  # fmt: skip
    write_result(args.json, result)
    for p in result["phases"]:
        print(p)
    print(f"sigterm: exit {code} in {stop_s} s; idle RSS {idle} MB")
    return 0
