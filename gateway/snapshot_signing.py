"""Ed25519 signatures on settlement snapshots: the state dir's signing key, signing, checking.

A snapshot's hashes (``clearing.snapshot``) show that nothing changed *unless every hash was
recomputed*: anyone who can write the files can edit a balance and rebuild the root, the
header and the chain. A signature by a key only the server holds closes that: an edited
snapshot no longer verifies with the server's public key. This module owns that key::

    STATE_DIR/keys/snapshot-signing.key       secret + public key, mode 0600
    STATE_DIR/keys/snapshot-signing.key.pub   public key: give this to verifiers

Both are text files (``name = "value"`` lines, ``#`` comments) with keys in lowercase hex:
``public-key`` (32 bytes, 64 characters); the secret file adds ``secret-key`` (the 32-byte
Ed25519 seed) and ``unsigned-head``. Rules:

1. The key is made on the first start of a state dir (``ensure_signing_key``, by the
   process that writes snapshots, under the key-directory lock of ``gateway.keys``) and kept
   afterwards. The secret file is created with mode 0600 from its first byte; loading
   refuses one readable by others, or whose secret does not belong to its public key.
2. What is signed is ``clearing.snapshot.signed_message(header)``: the fixed ASCII prefix
   ``crossbook-snapshot-v1 header digest:`` followed by the 32-byte SHA-256 header digest
   (the one ``crossbook snapshot verify`` prints as ``digest``). PyNaCl (libsodium) signs and
   verifies; nothing here is hand-written crypto.
3. Compatibility: snapshots written before the key existed are unsigned. When the key is
   made, the header digest of the newest snapshot then on disk is recorded in the secret
   file as ``unsigned-head`` ("none" when there was none). A restart (``gateway.state_trust``)
   accepts an unsigned snapshot only if it is that one or older than it in the chain (the
   recorded digest pins it, and its ``prev_digest`` links pin the ones before it); every
   snapshot after it must carry a signature that verifies with the key.
4. A verifier trusts the key it is given, never the ``key`` a file names: that only makes the
   refusal say "signed by another key".
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

from clearing.snapshot import (
    PUBLIC_KEY_SIZE,
    SnapshotError,
    SnapshotHeader,
    SnapshotSignature,
    header_digest,
    load_snapshot,
    signed_message,
)
from gateway import keys as keyfiles
from gateway import snapshot_store

log = logging.getLogger("crossbook.snapshots")

NAME = "snapshot-signing"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_LINE = re.compile(r"""^\s*([a-z-]+)\s*=\s*["']?([^"'\s]*)["']?\s*$""")


class SigningKeyError(keyfiles.KeyFileError):
    """The signing key file (or a --pubkey value) is missing, unreadable or not a key."""


def secret_path(state_dir: str | os.PathLike[str]) -> Path:
    return keyfiles.secret_path(state_dir, NAME)


def public_path(state_dir: str | os.PathLike[str]) -> Path:
    return keyfiles.public_path(state_dir, NAME)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The state dir's Ed25519 key: ``seed`` (32 bytes, secret), ``public`` (32 bytes), and
    ``unsigned_head``, the header digest of the newest snapshot written before the key
    existed (None: there was none, so every snapshot must be signed)."""

    seed: bytes
    public: bytes
    unsigned_head: bytes | None

    def __post_init__(self) -> None:
        if nacl.signing.SigningKey(self.seed).verify_key.encode() != self.public:
            raise ValueError("secret-key does not belong to public-key")

    def __repr__(self) -> str:  # never print a secret
        return f"SigningKey(public={self.public.hex()!r}, seed=<hidden>)"

    def __call__(self, message: bytes) -> SnapshotSignature:
        """Sign ``message``: a ``clearing.snapshot.Signer``."""
        sig = nacl.signing.SigningKey(self.seed).sign(message).signature
        return SnapshotSignature(self.public, sig)


def generate(unsigned_head: bytes | None) -> SigningKey:
    sk = nacl.signing.SigningKey.generate()
    return SigningKey(sk.encode(), sk.verify_key.encode(), unsigned_head)


# -- files ---------------------------------------------------------------------------------
def _public_text(public: bytes) -> str:
    return (
        "#   crossbook snapshot signing public key (Ed25519, hex).\n"
        "#   Verify snapshots with: crossbook snapshot verify FILE... --pubkey THIS_FILE\n"
        "#   (or --pubkey with the 64 hex characters below).\n\n"
        f'public-key = "{public.hex()}"\n'
    )


def write_key(state_dir: str | os.PathLike[str], key: SigningKey) -> tuple[Path, Path]:
    """Write the secret file (0600) and the public file (0644); return both paths."""
    keyfiles.ensure_keys_dir(state_dir)
    sec, pub = secret_path(state_dir), public_path(state_dir)
    head = key.unsigned_head.hex() if key.unsigned_head is not None else "none"
    keyfiles.write_atomic(sec, (
        "#   crossbook snapshot signing key (Ed25519, hex): keep private (mode 0600).\n"
        "#   unsigned-head: header digest of the newest snapshot written before this key;\n"
        "#   it and the snapshots before it may be unsigned, every later one must be signed.\n\n"
        f'public-key = "{key.public.hex()}"\n'
        f'secret-key = "{key.seed.hex()}"\n'
        f'unsigned-head = "{head}"\n'), 0o600)  # fmt: skip
    keyfiles.write_atomic(pub, _public_text(key.public), 0o644)
    return sec, pub


def _fields(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"{path}: cannot read: {exc}") from None
    found: dict[str, str] = {}
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        m = _LINE.match(raw)
        if m is None:
            raise SigningKeyError(f"{path}: not a signing key file (line {raw.strip()[:40]!r})")
        if m.group(1) in found:
            raise SigningKeyError(f"{path}: {m.group(1)} appears twice")
        found[m.group(1)] = m.group(2)
    return found


def _hex32(path: Path, name: str, value: str | None) -> bytes:
    if value is None:
        raise SigningKeyError(f"{path}: no {name} line")
    if not _HEX64.match(value):
        raise SigningKeyError(f"{path}: {name} must be 64 hex characters")
    return bytes.fromhex(value)


def load_key(path: str | os.PathLike[str]) -> SigningKey:
    """Read and check a secret signing key file (refused when readable by others)."""
    p = Path(path)
    found = _fields(p)
    public = _hex32(p, "public-key", found.get("public-key"))
    seed = _hex32(p, "secret-key", found.get("secret-key"))
    head_text = found.get("unsigned-head", "none")
    head = None if head_text == "none" else _hex32(p, "unsigned-head", head_text)
    mode = p.stat().st_mode & 0o777
    if mode & 0o077:
        raise SigningKeyError(f"{p}: secret key file is readable by others (mode {mode:o})")
    try:
        return SigningKey(seed, public, head)
    except ValueError as exc:
        raise SigningKeyError(f"{p}: {exc}") from None


def load_state_key(state_dir: str | os.PathLike[str]) -> SigningKey | None:
    """The state dir's signing key, or None when it has none yet."""
    path = secret_path(state_dir)
    if not path.exists():
        return None
    return load_key(path)


def _newest_digest(state_dir: Path) -> bytes | None:
    newest = snapshot_store.latest_snapshot(snapshot_store.snapshot_dir(state_dir))
    if newest is None:
        return None
    try:
        return header_digest(load_snapshot(snapshot_store.read_snapshot_bytes(newest)).header)
    except (OSError, SnapshotError) as exc:  # the restart's chain check names the file
        log.warning("snapshot signing key: newest snapshot %s unreadable: %s", newest, exc)
        return None


def ensure_signing_key(state_dir: str | os.PathLike[str]) -> SigningKey:
    """The state dir's signing key, made on first use (rule 1), with ``unsigned-head`` the
    digest of the newest snapshot on disk at that moment (rule 3)."""
    from gateway.exchange_config import _keys_lock

    sd = Path(state_dir)
    with _keys_lock(sd):
        key = load_state_key(sd)
        if key is not None:
            if not public_path(sd).exists():
                keyfiles.write_atomic(public_path(sd), _public_text(key.public), 0o644)
            return key
        key = generate(_newest_digest(sd))
        _sec, pub = write_key(sd, key)
    log.warning("snapshot signing key made: public key %s (%s)", pub, key.public.hex())
    return key


# -- checking ------------------------------------------------------------------------------
def parse_public_key(value: str) -> bytes:
    """A ``--pubkey`` value: 64 hex characters are the key itself; anything else is a file
    path, holding either a ``public-key = "..."`` line (``snapshot-signing.key.pub``) or only
    the 64 hex characters."""
    text = value.strip()
    if _HEX64.match(text):
        return bytes.fromhex(text)
    path = Path(value)
    if not path.is_file():
        raise SigningKeyError(f"{value}: neither 64 hex characters nor a readable key file")
    try:
        content = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"{path}: cannot read: {exc}") from None
    if _HEX64.match(content):
        return bytes.fromhex(content)
    return _hex32(path, "public-key", _fields(path).get("public-key"))


def signature_problem(
    header: SnapshotHeader, signature: SnapshotSignature | None, public: bytes
) -> str | None:
    """Why ``signature`` is not a valid signature of ``header`` by ``public``; None if it is."""
    assert len(public) == PUBLIC_KEY_SIZE
    if signature is None:
        return "not signed"
    try:
        nacl.signing.VerifyKey(public).verify(signed_message(header), signature.sig)
    except (nacl.exceptions.CryptoError, ValueError):  # BadSignatureError, a non-point key
        if signature.key != public:
            return (f"signed by another key ({signature.key.hex()}), "
                    f"not by {public.hex()}")  # fmt: skip
        return f"the signature does not verify with key {public.hex()} (edited after signing?)"
    return None
