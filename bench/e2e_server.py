"""The exchange under test for ``crossbook bench e2e``: started, waited for, stopped.

Rules:

- The exchange runs in its own process(es), never in the load generator's: embedded mode
  is ``crossbook serve --config FILE --state-dir DIR --fresh`` (all three roles in one
  process); ``--processes`` starts ``crossbook serve --role ROLE`` three times with the
  same file. Either way the configuration is the embedded default as of today
  (``gateway.exchange_config.default_toml()``) with every endpoint moved to a free port on
  127.0.0.1 and the state directory moved into the bench's temporary directory; nothing
  else is changed, so the numbers are those of the default exchange.
- Ready means: the key files exist and every demo account can log on (the caller's logon
  retries until ``READY_TIMEOUT_S``). A process that exits early is an error that quotes
  the end of its log.
- Stop is SIGTERM (clean shutdown, final snapshot) with a deadline, then SIGKILL.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway import keys as keyfiles
from gateway.exchange_config import Endpoints, default_config, default_toml

ROLES = ("matching", "clearing", "gateway")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


class ServerError(RuntimeError):
    """The exchange could not be started or died."""


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports the OS reports free right now (all held open until chosen)."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def bench_config_toml(state_dir: Path, ports: dict[str, int], durability: str = "write") -> str:
    """``default_toml()`` with ``state_dir``, the endpoints and the journal's durability
    replaced (nothing else)."""
    text = default_toml()
    text, n = re.subn(r'(?m)^state_dir = ".*"$',
                      f'state_dir = "{state_dir}"\ndurability = "{durability}"', text)  # fmt: skip
    if n != 1:
        raise ServerError("the default configuration has no single state_dir line")
    for name, port in ports.items():
        text, n = re.subn(rf'(?m)^{name} = "tcp://[^"]*"$',
                          f'{name} = "tcp://127.0.0.1:{port}"', text)  # fmt: skip
        if n != 1:
            raise ServerError(f"the default configuration has no single {name} endpoint")
    return text


@dataclass
class ExchangeProcesses:
    """The running exchange: its processes, endpoints, keys and where its logs go."""

    workdir: Path
    processes_mode: bool
    durability: str = "write"
    endpoints: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    @property
    def config_path(self) -> Path:
        return self.workdir / "exchange.toml"

    def start(self) -> None:
        names = list(Endpoints.__dataclass_fields__)
        ports = dict(zip(names, free_ports(len(names))))
        self.endpoints = {k: f"tcp://127.0.0.1:{p}" for k, p in ports.items()}
        self.config_path.write_text(bench_config_toml(self.state_dir, ports, self.durability),
                                    encoding="utf-8")  # fmt: skip
        base = [sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path),
                "--state-dir", str(self.state_dir), "--fresh"]  # fmt: skip
        runs = {r: [*base, "--role", r] for r in ROLES} if self.processes_mode else {"serve": base}
        for name, cmd in runs.items():
            log = self.workdir / f"{name}.log"
            self.logs[name] = log
            with open(log, "wb") as fh:
                self.procs[name] = subprocess.Popen(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )  # fmt: skip

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise ServerError(f"exchange process {name!r} exited with code {p.returncode}: "
                                  f"{self.log_tail(name)}")  # fmt: skip

    def log_tail(self, name: str, chars: int = 1500) -> str:
        try:
            return self.logs[name].read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def wait_for_keys(self, timeout_s: float = READY_TIMEOUT_S) -> tuple[bytes, list]:
        """(server public key, the demo accounts' key pairs) once serve has written them."""
        accounts = [a.id for a in default_config().clearing.accounts]
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_alive()
            try:
                server = keyfiles.load_server_public(self.state_dir)
                pairs = [keyfiles.load_account_keys(self.state_dir, a) for a in accounts]
                return server, pairs
            except (keyfiles.KeyFileError, OSError):
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"no key files under {self.state_dir} after {timeout_s} s"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every process, wait, SIGKILL stragglers; exit codes by process."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        codes: dict[str, int | None] = {}
        for name, p in self.procs.items():
            try:
                codes[name] = p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                codes[name] = None
        return codes
