"""Which key pair a client uses: a key file, or a demo account claimed in a state directory.

``crossbook serve`` writes its keys under ``STATE_DIR/keys`` (``gateway.keys``): the
server's public key ``server.key.pub`` and one ``account-<id>.key`` (secret, mode 0600)
per demo account. Rules:

- ``--key FILE`` names an account's secret file; the server's public key is taken from
  ``server.key.pub`` beside it unless given explicitly.
- With no key, ``claim_demo_key(state_dir)`` takes the lowest-numbered account whose
  secret file is there and that no other process holds: it holds an exclusive, non-blocking
  ``flock`` on ``STATE_DIR/locks/account-<id>.lock`` for as long as the process lives (or
  until ``release()``), so two bots started at once get two different accounts, and a
  bot that crashed frees its account with its last file descriptor.
- Secret files are read with ``gateway.keys.load_secret`` (which refuses a file others can
  read), never printed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from gateway.keys import (
    PUBLIC_SUFFIX,
    SERVER_NAME,
    KeyFileError,
    KeyPair,
    keys_dir,
    load_keypair,
    load_secret,
)

DEFAULT_STATE_DIR = "crossbook-state"
LOCKS_DIRNAME = "locks"
_SECRET_RE = re.compile(r"^account-(0|[1-9][0-9]{0,17})\.key$")


class NoFreeAccount(KeyFileError):
    """Every demo account in the state directory is held by another process."""


@dataclass
class ClientKeys:
    """A client's key pair, the server's public key, and (if known) the account id."""

    pair: KeyPair
    server_public: bytes
    account: int | None = None
    path: Path | None = None
    _lock_fd: int | None = field(default=None, repr=False)

    def release(self) -> None:
        """Give a claimed demo account back (closing the lock file)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def account_of_path(path: Path) -> int | None:
    m = _SECRET_RE.match(path.name)
    return int(m.group(1)) if m else None


def server_public_for(key_path: Path, server_key: str | os.PathLike[str] | bytes | None) -> bytes:
    """The server's public key: given (Z85 bytes or a file), else ``server.key.pub`` beside
    the account key file."""
    if isinstance(server_key, bytes):
        return KeyPair(server_key).public
    path = (
        Path(server_key)
        if server_key is not None
        else key_path.parent / (SERVER_NAME + PUBLIC_SUFFIX)
    )
    if not path.is_file():
        raise KeyFileError(f"{path}: no server public key (pass server_key=...)")
    return load_keypair(path).public


def load_client_keys(
    key: str | os.PathLike[str], server_key: str | os.PathLike[str] | bytes | None = None
) -> ClientKeys:
    """Keys from an account's secret file (``STATE_DIR/keys/account-<id>.key``)."""
    path = Path(key)
    pair = load_secret(path)
    return ClientKeys(pair, server_public_for(path, server_key), account_of_path(path), path)


def demo_accounts(state_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Every account secret file under ``STATE_DIR/keys``, lowest id first."""
    d = keys_dir(state_dir)
    if not d.is_dir():
        return []
    found = []
    for entry in d.iterdir():
        acct = account_of_path(entry)
        if acct is not None and entry.is_file():
            found.append((acct, entry))
    return sorted(found)


def claim_demo_key(
    state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
    server_key: str | os.PathLike[str] | bytes | None = None,
    *,
    skip: frozenset[int] = frozenset(),
) -> ClientKeys:
    """Claim a free demo account of the state directory (see the module rules)."""
    accounts = [(a, p) for a, p in demo_accounts(state_dir) if a not in skip]
    if not accounts:
        raise KeyFileError(
            f"no account keys under {keys_dir(state_dir)}: start `crossbook serve "
            f"--state-dir {state_dir}` first, or pass --key FILE"
        )
    locks = Path(state_dir) / LOCKS_DIRNAME
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    for account, path in accounts:
        fd = os.open(locks / f"account-{account}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            keys = load_client_keys(path, server_key)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        keys._lock_fd = fd
        return keys
    raise NoFreeAccount(
        f"all {len(accounts)} demo accounts under {keys_dir(state_dir)} are in use by other "
        "processes; stop one or pass --key FILE"
    )
