"""CURVE authentication: which public key belongs to which account, enforced by ZAP.

Every socket a bot reaches runs as a CURVE server. pyzmq's asyncio ZAP authenticator
(``zmq.auth.asyncio.AsyncioAuthenticator``) answers the handshake of every incoming
connection; here it asks an ``AccountDirectory`` whether the client's public key is known.
Rules:

- A public key maps to exactly one account (an account may hold several keys, e.g. during
  a key rotation; registering one key for a second account raises ``ValueError``).
- An unknown key is refused in the handshake: the connection never completes and no
  message from it reaches the server socket.
- On success the ZAP reply's User-Id is the account id in decimal, so every message that
  arrives on a ROUTER carries its account in the frame metadata: ``account_of(frame)``
  reads it (receive with ``copy=False`` to get ``zmq.Frame`` objects). The gateway takes
  the account from there, never from the message body.
- The authenticator must run (``start()``) on the same context before a CURVE server
  socket accepts connections: ``curve_server`` insists on it, because libzmq lets CURVE
  clients in unchecked when no ZAP handler is listening.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.utils import z85

from gateway.keys import KeyPair, check_z85_key

ZAP_DOMAIN = "crossbook"
USER_ID = "User-Id"

log = logging.getLogger(__name__)


class AccountDirectory:
    """Public key (Z85 bytes) -> account id; each key belongs to exactly one account."""

    def __init__(self, keys: Mapping[int, bytes] | None = None) -> None:
        self._by_key: dict[bytes, int] = {}
        for account, key in (keys or {}).items():
            self.add(account, key)

    def add(self, account: int, public_key: bytes) -> None:
        if type(account) is not int or account < 0:
            raise ValueError(f"account id must be a non-negative integer, was {account!r}")
        problem = check_z85_key(public_key)
        if problem:
            raise ValueError(f"public key for account {account} {problem}")
        owner = self._by_key.get(public_key)
        if owner is not None and owner != account:
            raise ValueError(f"public key already belongs to account {owner}")
        self._by_key[public_key] = account

    def remove_key(self, public_key: bytes) -> None:
        self._by_key.pop(public_key, None)

    def account_for(self, public_key: bytes) -> int | None:
        return self._by_key.get(public_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, public_key: object) -> bool:
        return public_key in self._by_key


class _DirectoryProvider:
    """pyzmq's credentials-provider shape: ``callback(domain, z85_key) -> bool``."""

    def __init__(self, directory: AccountDirectory) -> None:
        self.directory = directory
        self.refused = 0

    def callback(self, domain: str, key: bytes) -> bool:
        ok = self.directory.account_for(key) is not None
        if not ok:
            self.refused += 1
            log.info("refused CURVE key %s (domain %s)", key.decode("ascii", "replace"), domain)
        return ok


class CurveAuthenticator(AsyncioAuthenticator):
    """ZAP handler admitting only keys in an ``AccountDirectory``; User-Id = account id."""

    def __init__(
        self, context: zmq.asyncio.Context, directory: AccountDirectory, domain: str = ZAP_DOMAIN
    ) -> None:
        super().__init__(context)
        self.directory = directory
        self._provider = _DirectoryProvider(directory)
        self.domain = domain
        self.before_admit: list = []
        """Called before every handshake is answered (``gateway.roles.peer_watch``: the
        gateway ends the sessions of closed connections before a new one can exist)."""

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        for hook in self.before_admit:
            try:
                hook()
            except Exception:  # a hook's bug must not stop authentication
                log.exception("ZAP before_admit hook failed")
        await super().handle_zap_message(msg)

    @property
    def refused(self) -> int:
        """How many handshakes were refused for an unknown key."""
        return self._provider.refused

    @property
    def running(self) -> bool:
        return self.zap_socket is not None

    def start(self) -> None:
        super().start()
        self.configure_curve_callback(self.domain, credentials_provider=self._provider)

    def curve_user_id(self, client_public_key: bytes) -> str:
        account = self.directory.account_for(z85.encode(client_public_key))
        # only called after the callback accepted the key, so the account exists
        return str(account)


def curve_server(sock: zmq.Socket, server: KeyPair, authenticator: CurveAuthenticator) -> None:
    """Make ``sock`` a CURVE server checked by ``authenticator``; call before bind.

    The socket's ZAP domain is the authenticator's: pyzmq looks the credentials provider
    up by exact domain, so a socket in another domain would be refused every key.
    """
    if server.secret is None:
        raise ValueError("a CURVE server needs its secret key")
    if not authenticator.running:
        raise RuntimeError("start the authenticator before opening a CURVE server socket")
    sock.curve_secretkey = server.secret
    sock.curve_publickey = server.public
    sock.zap_domain = authenticator.domain.encode()
    sock.curve_server = True


def curve_client(sock: zmq.Socket, client: KeyPair, server_public: bytes) -> None:
    """Make ``sock`` a CURVE client of the server with ``server_public``; call before connect."""
    if client.secret is None:
        raise ValueError("a CURVE client needs its secret key")
    problem = check_z85_key(server_public)
    if problem:
        raise ValueError(f"server public key {problem}")
    sock.curve_secretkey = client.secret
    sock.curve_publickey = client.public
    sock.curve_serverkey = server_public


def account_of(frame: zmq.Frame) -> int | None:
    """The account a received frame came from (ZAP User-Id), or None if not authenticated.

    On a ROUTER, read it from a body frame: the routing-id frame is made by the socket
    itself and carries no connection metadata.
    """
    try:
        user = frame.get(USER_ID)
    except zmq.ZMQError:
        return None
    if not isinstance(user, str) or not user.isdigit():
        return None
    return int(user)
