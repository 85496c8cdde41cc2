"""Which connection a bot's frames come from, and when a connection is gone.

A ZeroMQ routing id is chosen by the peer (``zmq.ROUTING_ID``): once a connection closes,
any other authenticated connection may take its id, and a ROUTER then delivers to the
newcomer whatever is sent to that id. So a session is bound to its *connection* (the
file descriptor its frames arrive on, ``zmq.SRCFD``, and that descriptor's generation,
counted from the socket monitor's ``ACCEPTED`` events) and to its CURVE-authenticated
account (ZAP ``User-Id``), never to a routing id. Rules:

- ``conn_of(frame)`` is the connection of a received frame; the gateway checks it, and the
  frame's account, against the session of the routing id on every inbound frame.
- ``gone()`` drains the monitor and returns the connections that closed: their sessions
  end at once (``peer gone``; cancel-on-disconnect follows), so nothing private is sent
  to their routing id afterwards.
- libzmq emits ``DISCONNECTED`` before it closes the descriptor and before the routing id
  is free, and every new connection passes the ZAP handler (``before_admit`` hooks of
  ``gateway.auth.CurveAuthenticator``) before it can take an id: draining here first
  means a session is always ended before its routing id can belong to someone else. The
  gateway also drains before each batch it reads and each batch it delivers.
"""

from __future__ import annotations

import contextlib

import zmq
from zmq.utils.monitor import parse_monitor_message

from gateway.zmq_util import get_option as _get

_EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED
_ACCEPTED = int(zmq.EVENT_ACCEPTED)
_DISCONNECTED = int(zmq.EVENT_DISCONNECTED)
_POLLIN = int(zmq.POLLIN)
_ZMQ_EVENTS = int(zmq.EVENTS)


class PeerWatch:
    def __init__(self, router: zmq.Socket) -> None:
        mon = router.get_monitor_socket(_EVENTS)
        self._mon = mon
        self._raw = zmq.Socket.shadow(mon.underlying)
        self._router = router
        self._gen: dict[int, int] = {}
        self.closed_seen = 0

    def conn_of(self, frame: zmq.Frame) -> tuple[int, int]:
        try:
            fd = frame.get(zmq.SRCFD)
        except zmq.ZMQError:
            fd = -1
        return fd, self._gen.get(fd, 0)

    def gone(self) -> list[tuple[int, int]]:
        """Connections closed since the last call (drains the monitor, never blocks)."""
        raw = self._raw
        if raw.closed:
            return []
        out = []
        while _get(raw, _ZMQ_EVENTS) & _POLLIN:
            try:
                ev = parse_monitor_message(raw.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
            event, fd = int(ev["event"]), int(ev["value"])
            if event == _ACCEPTED:
                self._gen[fd] = self._gen.get(fd, 0) + 1
            elif event == _DISCONNECTED:
                self.closed_seen += 1
                out.append((fd, self._gen.get(fd, 0)))
        return out

    def close(self) -> None:
        if not self._mon.closed:
            with contextlib.suppress(zmq.ZMQError):
                self._router.disable_monitor()
            self._mon.close(linger=0)
