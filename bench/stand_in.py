"""Stand-in servers for ``crossbook bench e2e``: a CURVE ROUTER answering from templates.

``bench.sink`` (the generator alone) and ``bench.echo`` (the floor) are both this loop
with a different ``answer`` function. Rules:

- It binds one ROUTER on the order-entry endpoint with CURVE on, as the exchange does,
  and admits any client key (``CURVE_ALLOW_ANY``: the ZAP check runs once per
  connection, not per message, so it costs the loop nothing).
- Requests are single-frame (``docs/protocol.md``), so a ROUTER message is exactly
  [identity, request]. Each wake-up drains every queued request before waiting again.
- Replies are rendered before the loop starts: a ``Template`` is a msgpack message with
  its ``req_id`` stored as a fixed 8-byte integer, so a reply is the template's bytes
  with the request's id spliced in, of the same size every time. Nothing is packed per
  reply.
- A ``logon`` is always answered with a ``logon_ack`` (the generator logs on first).
- SIGTERM ends the loop within ``POLL_MS``. ``start`` runs a stand-in in its own process,
  as the exchange runs in its own.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import msgpack
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from gateway import keys as keyfiles

POLL_MS = 100
_MARK = 2**64 - 1
_MARK_BYTES = b"\xa6req_id\xcf" + b"\xff" * 8

Answer = Callable[[bytes], Sequence[bytes]]
"""request frame -> reply frames"""


class Template:
    """A reply rendered once; ``render(req_id)`` splices the id into its bytes."""

    __slots__ = ("_head", "_tail", "size")

    def __init__(self, message: dict) -> None:
        frame = msgpack.packb({**message, "req_id": _MARK})
        at = frame.find(_MARK_BYTES)
        if at < 0 or frame.find(_MARK_BYTES, at + 1) >= 0:
            raise ValueError("a template needs exactly one req_id field")
        cut = at + len(_MARK_BYTES) - 8
        self._head = frame[:cut]
        self._tail = frame[cut + 8 :]
        self.size = len(frame)

    def render(self, req_id: int) -> bytes:
        return self._head + (req_id & _MARK).to_bytes(8, "big") + self._tail


LOGON_ACK = Template({"v": 1, "type": "logon_ack", "account": 1, "session_id": 1,
                      "heartbeat_ms": 60_000, "cancel_on_disconnect": False, "ts": 0})  # fmt: skip


def serve(endpoint: str, server_key: Path, answer: Answer) -> None:
    """Answer every request on ``endpoint`` with ``answer(request)`` until SIGTERM."""
    pair = keyfiles.load_secret(server_key)
    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
    sock = ctx.socket(zmq.ROUTER)
    sock.linger = 0
    sock.sndhwm = 0
    sock.rcvhwm = 0
    sock.curve_secretkey = pair.secret
    sock.curve_publickey = pair.public
    sock.curve_server = True
    sock.bind(endpoint)
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    recv, send, poll = sock.recv, sock.send, sock.poll
    nowait, more, again = zmq.NOBLOCK, zmq.SNDMORE, zmq.Again
    try:
        while not stop:
            if not poll(POLL_MS):
                continue
            while True:
                try:
                    ident = recv(nowait)
                except again:
                    break
                request = recv()
                for reply in answer(request):
                    send(ident, more)
                    send(reply)
    finally:
        sock.close(linger=0)
        auth.stop()
        ctx.term()


def start(module: str, workdir: Path, accounts: int) -> tuple[subprocess.Popen, str, bytes, list]:
    """Run ``python -m module`` (a stand-in) on a free 127.0.0.1 port with fresh CURVE keys
    under ``workdir``: (process, endpoint, server public key, ``accounts`` client key pairs).
    """
    from bench.e2e_server import free_ports

    workdir.mkdir(parents=True, exist_ok=True)
    server = keyfiles.create_keypair(workdir, keyfiles.SERVER_NAME)
    pairs = [keyfiles.create_keypair(workdir, keyfiles.account_name(a))
             for a in range(1, accounts + 1)]  # fmt: skip
    endpoint = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    key = str(keyfiles.secret_path(workdir, "server"))
    proc = subprocess.Popen([sys.executable, "-m", module, "--endpoint", endpoint,
                             "--server-key", key])  # fmt: skip
    return proc, endpoint, server.public, pairs


def main(description: str, answer: Answer) -> None:
    """``python -m bench.<stand-in> --endpoint tcp://127.0.0.1:PORT --server-key FILE``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--server-key", type=Path, required=True, help="server secret key file")
    args = parser.parse_args()
    serve(args.endpoint, args.server_key, answer)
