"""CURVE on the internal links between role processes: one key pair per role, known peers only.

With ``--role`` the gateway link (``endpoints.clearing``) and the matcher link
(``endpoints.commands``) are tcp sockets any local process could reach; without
authentication a stranger could place and cancel orders for any account, read any
account's orders and balances, or ask for the matcher's whole state. Rules:

- Each role has a key pair ``STATE_DIR/keys/role-<role>.key`` (+ ``.key.pub``), generated
  on first use like the account keys (``gateway.keys``, under the same lock), so role
  processes sharing a state directory agree on them; roles on other machines get copies.
- Clearing binds both links as CURVE servers with its own key. Its ZAP handler
  (``LinkAuthenticator``) admits, per link, exactly one key: the gateway role's on the
  gateway link, the matching role's on the matcher link. Any other key (an account's, a
  fresh one, the other role's) fails the handshake: its connection never completes and
  nothing it sends reaches clearing; a plaintext peer is refused by the mechanism itself.
- The gateway and the matching role connect as CURVE clients with their own pair and
  clearing's public key.
- In the one-process mode the links are ``inproc://`` (unreachable from outside the
  process) and none of this applies: ``links_need_curve`` says when it does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from gateway import keys as keyfiles

log = logging.getLogger("crossbook.internal")

ROLE_NAMES = ("clearing", "gateway", "matching")
DOMAIN_OF_LINK = {"clearing": "crossbook-gateway-link", "commands": "crossbook-matcher-link"}
"""ZAP domain of each link clearing binds (endpoint key -> domain)."""
PEER_OF_LINK = {"clearing": "gateway", "commands": "matching"}
"""The one role admitted on each link."""


def role_name(role: str) -> str:
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}")
    return f"role-{role}"


def links_need_curve(endpoint: str) -> bool:
    """Every transport but ``inproc://`` can be reached from outside the process."""
    return not endpoint.startswith("inproc://")


def role_keys(state_dir: str | Path) -> dict[str, keyfiles.KeyPair]:
    """Every role's key pair under ``STATE_DIR/keys`` (missing ones generated, under the
    key lock so that concurrent role processes agree)."""
    from gateway.exchange_config import _keys_lock

    sd = Path(state_dir)
    with _keys_lock(sd):
        return {r: keyfiles.create_keypair(sd, role_name(r)) for r in ROLE_NAMES}


class _OneKey:
    """pyzmq's credentials-provider shape, admitting one public key (Z85)."""

    def __init__(self, link: str, key: bytes) -> None:
        self.link = link
        self.key = key
        self.refused = 0

    def callback(self, domain: str, key: bytes) -> bool:
        if key == self.key:
            return True
        self.refused += 1
        log.warning("refused a peer on the %s link: key %s is not the %s role's", self.link,
                    key.decode("ascii", "replace"), PEER_OF_LINK[self.link])  # fmt: skip
        return False


class LinkAuthenticator(AsyncioAuthenticator):
    """Clearing's ZAP handler: on each link, only the peer role's key; User-Id its role."""

    def __init__(self, context: zmq.asyncio.Context, keys: dict[str, keyfiles.KeyPair]) -> None:
        super().__init__(context)
        self._providers = {link: _OneKey(link, keys[peer].public)
                           for link, peer in PEER_OF_LINK.items()}  # fmt: skip
        self._role_of = {keys[r].public: r for r in ROLE_NAMES}

    @property
    def refused(self) -> int:
        return sum(p.refused for p in self._providers.values())

    def start(self) -> None:
        super().start()
        for link, provider in self._providers.items():
            self.configure_curve_callback(DOMAIN_OF_LINK[link], credentials_provider=provider)

    def curve_user_id(self, client_public_key: bytes) -> str:
        from zmq.utils import z85

        return f"role-{self._role_of.get(z85.encode(client_public_key), 'unknown')}"


@dataclass
class InternalLinks:
    """What one role process needs to secure its side of the internal links."""

    role: str
    keys: dict[str, keyfiles.KeyPair]
    authenticator: LinkAuthenticator | None = None

    @classmethod
    def for_role(cls, state_dir: str | Path, role: str) -> InternalLinks:
        return cls(role, role_keys(state_dir))

    def start(self, ctx: zmq.asyncio.Context) -> None:
        """Clearing only: run the ZAP handler for both links (before binding them)."""
        self.authenticator = LinkAuthenticator(ctx, self.keys)
        self.authenticator.start()

    def serve(self, sock: zmq.Socket, link: str) -> None:
        """Make ``sock`` (bound by clearing for ``link``: "clearing" or "commands") a CURVE
        server admitting only that link's peer role; call before bind."""
        assert self.authenticator is not None, "start() the authenticator first"
        own = self.keys["clearing"]
        assert own.secret is not None
        sock.curve_secretkey = own.secret
        sock.curve_publickey = own.public
        sock.zap_domain = DOMAIN_OF_LINK[link].encode()
        sock.curve_server = True

    def connect(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of clearing with this role's pair; call before connect."""
        own = self.keys[self.role]
        assert own.secret is not None
        sock.curve_secretkey = own.secret
        sock.curve_publickey = own.public
        sock.curve_serverkey = self.keys["clearing"].public
