"""Checks of a configuration and a command line before anything starts, each failure one line.

``crossbook serve`` must never bind a port it was not asked for, write into a directory it
cannot use, or die of a bad file with a traceback. What is checked here:

- ``endpoint_problem``: a ZeroMQ endpoint the exchange can bind or connect to:
  ``tcp://HOST:PORT`` with PORT in 1..65535 or ``*`` (the OS picks), ``ipc://PATH`` or
  ``inproc://NAME``. libzmq itself accepts ``tcp://127.0.0.1:99999`` and binds a random
  port, so this is checked when the configuration is read.
- ``check_command``: ``--role`` needs ``--config`` (every role process must read the same
  endpoints; the defaults would silently run a role on ports its peers do not use).
- ``check_state_dir``: the state directory is a directory (or can be made one) and the
  server can create, write and remove a file in it.
- ``refusal``: the one-line error to exit with for an exception raised while starting (a
  corrupt key file, a state directory recovery refuses, a port in use), or None for a
  bug, which keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Any

TRANSPORTS = ("tcp", "ipc", "inproc")


class StartError(Exception):
    """A configuration or command line the server refuses to start with (one line)."""


def endpoint_problem(value: object) -> str | None:
    """Why ``value`` is not an endpoint the exchange accepts, or None."""
    if not isinstance(value, str) or len(value) > 256:
        return 'must be a ZeroMQ endpoint such as "tcp://127.0.0.1:5555"'
    transport, sep, rest = value.partition("://")
    if not sep or not rest:
        return 'must be a ZeroMQ endpoint such as "tcp://127.0.0.1:5555"'
    if transport not in TRANSPORTS:
        return f"transport {transport!r} is not one of {', '.join(TRANSPORTS)}"
    if transport != "tcp":
        return None
    host, colon, port = rest.rpartition(":")
    if not colon or not host:
        return f"{value!r} has no port (tcp://HOST:PORT)"
    if port == "*":
        return None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"port {port!r} of {value!r} is not in 1..65535 (or * for any free port)"
    return None


def check_command(args: Any) -> None:
    """Command-line combinations ``crossbook serve`` refuses."""
    if getattr(args, "role", None) is not None and getattr(args, "config", None) is None:
        raise StartError("--role needs --config FILE: every role process must read the same "
                         "endpoints and state directory")  # fmt: skip


def check_state_dir(path: str | os.PathLike[str]) -> None:
    """The state directory exists or can be created, and a file can be written in it."""
    d = Path(path)
    if d.exists() and not d.is_dir():
        raise StartError(f"state dir {d} is not a directory")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartError(f"state dir {d}: cannot create it: {exc.strerror or exc}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=d)
    except OSError as exc:
        raise StartError(f"state dir {d} is not writable: {exc.strerror or exc}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def refusal(exc: BaseException) -> Any:
    """The ``CliError`` to exit with for a start-up failure caused by the input (a bad
    file, port or directory), or None for a bug, which keeps its traceback. A state the
    recovery does not trust exits 1; a bad configuration or command line exits 2."""
    import zmq

    from clearing.config import ConfigError
    from gateway.cli import CliError
    from gateway.keys import KeyFileError
    from gateway.recovery import RecoveryError
    from gateway.snapshot_store import SnapshotStoreError

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, RecoveryError):
        return CliError(str(exc), code=1)
    if isinstance(exc, SnapshotStoreError):
        return CliError(f"{exc}; refusing to start (--fresh starts over)", code=1)
    if isinstance(exc, StartError | ConfigError | KeyFileError):
        return CliError(str(exc))
    if isinstance(exc, zmq.ZMQError):
        busy = exc.errno == errno.EADDRINUSE
        return CliError(f"{exc}" + (" (is another exchange running on these ports?)"
                                    if busy else ""))  # fmt: skip
    if isinstance(exc, OSError) and exc.filename is not None:
        return CliError(f"{exc.filename}: {exc.strerror or exc}")
    return None
