"""CURVE key pairs as files: generation, writing, loading, and their layout on disk.

Every socket a bot reaches is CURVE-encrypted, so the server and each account have a key
pair (``zmq.curve_keypair``: 40-character Z85 text per key). This module owns how those
keys live in a state directory::

    STATE_DIR/keys/                      mode 0700
        server.key                       server secret + public key, mode 0600
        server.key.pub                   server public key (give this to bots)
        account-<id>.key                 an account's secret + public key, mode 0600
        account-<id>.key.pub             its public key (the exchange's directory reads these)

Files use ZeroMQ's text certificate layout (a ``curve`` section with ``public-key = "..."``
and, in secret files, ``secret-key = "..."``), so a bot can also read them with
``zmq.auth.load_certificate``. Rules:

- A secret file is created with mode 0600 from the first byte (never chmod-ed after the
  fact) and replaced atomically; the keys directory is created with mode 0700.
- Loading checks what it reads: Z85 text of exactly 40 characters that decodes to 32 bytes,
  and, when a secret key is present, that it really belongs to the public key beside it.
  A broken file raises ``KeyFileError`` naming the file and the problem.
- Account ids are non-negative integers; ``account-<id>`` is the only account file name.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

KEYS_DIRNAME = "keys"
SERVER_NAME = "server"
SECRET_SUFFIX = ".key"
PUBLIC_SUFFIX = ".key.pub"
_ACCOUNT_RE = re.compile(r"^account-(0|[1-9][0-9]{0,17})\.key\.pub$")
_KEY_LEN = 40


class KeyFileError(ValueError):
    """A key file is missing, unreadable or does not hold a valid key."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A CURVE key pair as Z85 bytes (40 characters each); ``secret`` is None for a peer."""

    public: bytes
    secret: bytes | None = None

    def __post_init__(self) -> None:
        problem = check_z85_key(self.public)
        if problem:
            raise ValueError(f"public key: {problem}")
        if self.secret is not None:
            problem = check_z85_key(self.secret)
            if problem:
                raise ValueError(f"secret key: {problem}")
            if zmq.curve_public(self.secret) != self.public:
                raise ValueError("secret key does not belong to the public key")

    def __repr__(self) -> str:  # never print a secret
        hidden = "None" if self.secret is None else "<hidden>"
        return f"KeyPair(public={self.public.decode()!r}, secret={hidden})"


def check_z85_key(key: object) -> str | None:
    """Why ``key`` is not a Z85-encoded CURVE key, or None if it is one."""
    if not isinstance(key, bytes):
        return f"must be bytes, was {type(key).__name__}"
    if len(key) != _KEY_LEN:
        return f"must be {_KEY_LEN} Z85 characters, was {len(key)}"
    try:
        raw = z85.decode(key)
    except Exception:  # z85 raises KeyError, struct.error, ValueError on bad text
        return "is not valid Z85 text"
    if len(raw) != 32:
        return "does not decode to 32 bytes"
    return None


def generate() -> KeyPair:
    """A fresh key pair."""
    public, secret = zmq.curve_keypair()
    return KeyPair(public, secret)


# -- layout --------------------------------------------------------------------------------
def keys_dir(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / KEYS_DIRNAME


def account_name(account: int) -> str:
    if type(account) is not int or account < 0:
        raise ValueError(f"account id must be a non-negative integer, was {account!r}")
    return f"account-{account}"


def secret_path(state_dir: str | os.PathLike[str], name: str) -> Path:
    return keys_dir(state_dir) / f"{name}{SECRET_SUFFIX}"


def public_path(state_dir: str | os.PathLike[str], name: str) -> Path:
    return keys_dir(state_dir) / f"{name}{PUBLIC_SUFFIX}"


# -- writing -------------------------------------------------------------------------------
def _render(pair: KeyPair, *, with_secret: bool, comment: str) -> str:
    lines = [f"#   crossbook {comment}"]
    if with_secret:
        lines.append("#   ZeroMQ CURVE secret certificate: keep private (mode 0600).")
    else:
        lines.append("#   ZeroMQ CURVE public certificate.")
    lines += ["", "metadata", "curve", f'    public-key = "{pair.public.decode("ascii")}"']
    if with_secret:
        assert pair.secret is not None
        lines.append(f'    secret-key = "{pair.secret.decode("ascii")}"')
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` through a temp file created with ``mode`` from the start."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ensure_keys_dir(state_dir: str | os.PathLike[str]) -> Path:
    d = keys_dir(state_dir)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def write_keypair(state_dir: str | os.PathLike[str], name: str, pair: KeyPair) -> tuple[Path, Path]:
    """Write ``name.key`` (secret, 0600) and ``name.key.pub`` (public, 0644); return both."""
    if pair.secret is None:
        raise ValueError("write_keypair needs a secret key; use write_public for a peer key")
    ensure_keys_dir(state_dir)
    sec, pub = secret_path(state_dir, name), public_path(state_dir, name)
    write_atomic(sec, _render(pair, with_secret=True, comment=f"{name} key pair"), 0o600)
    write_atomic(pub, _render(pair, with_secret=False, comment=f"{name} public key"), 0o644)
    return sec, pub


def write_public(state_dir: str | os.PathLike[str], name: str, public: bytes) -> Path:
    """Write only ``name.key.pub`` (e.g. a bot's key registered by an operator)."""
    ensure_keys_dir(state_dir)
    pub = public_path(state_dir, name)
    write_atomic(pub, _render(KeyPair(public), with_secret=False, comment=f"{name}"), 0o644)
    return pub


def create_keypair(state_dir: str | os.PathLike[str], name: str) -> KeyPair:
    """Generate a pair and write it under ``STATE_DIR/keys``; an existing pair is kept."""
    if secret_path(state_dir, name).exists():
        pair = load_secret(secret_path(state_dir, name))
        if not public_path(state_dir, name).exists():
            write_public(state_dir, name, pair.public)
        return pair
    pair = generate()
    write_keypair(state_dir, name, pair)
    return pair


# -- loading -------------------------------------------------------------------------------
def load_keypair(path: str | os.PathLike[str]) -> KeyPair:
    """Read a certificate file (public, or public + secret) and check its keys."""
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{p}: cannot read: {exc}") from None
    found: dict[str, bytes] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key in ("public-key", "secret-key"):
            if key in found:
                raise KeyFileError(f"{p}: {key} appears twice")
            found[key] = value.strip().strip("\"'").encode("ascii")
    if "public-key" not in found:
        raise KeyFileError(f"{p}: no public-key line")
    try:
        return KeyPair(found["public-key"], found.get("secret-key"))
    except ValueError as exc:
        raise KeyFileError(f"{p}: {exc}") from None


def load_secret(path: str | os.PathLike[str]) -> KeyPair:
    """Read a secret certificate; refuse files without a secret or readable by others."""
    pair = load_keypair(path)
    if pair.secret is None:
        raise KeyFileError(f"{path}: holds no secret-key")
    mode = Path(path).stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"{path}: secret key file is readable by others (mode {mode:o})")
    return pair


def load_server_keys(state_dir: str | os.PathLike[str]) -> KeyPair:
    return load_secret(secret_path(state_dir, SERVER_NAME))


def load_server_public(state_dir: str | os.PathLike[str]) -> bytes:
    return load_keypair(public_path(state_dir, SERVER_NAME)).public


def load_account_keys(state_dir: str | os.PathLike[str], account: int) -> KeyPair:
    return load_secret(secret_path(state_dir, account_name(account)))


def account_public_keys(state_dir: str | os.PathLike[str]) -> dict[int, bytes]:
    """Every ``account-<id>.key.pub`` under ``STATE_DIR/keys``: account id -> public key."""
    d = keys_dir(state_dir)
    result: dict[int, bytes] = {}
    if not d.is_dir():
        return result
    for entry in sorted(d.iterdir()):
        m = _ACCOUNT_RE.match(entry.name)
        if m:
            result[int(m.group(1))] = load_keypair(entry).public
    return result
