"""The snapshot signing key (``gateway.snapshot_signing``): made once per state dir with a
0600 secret file, recorded ``unsigned-head`` for a state dir from before signing, the
``--pubkey`` forms, the three ways a signature can be wrong, and the by-hand check that
docs/snapshots.md shows."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import msgpack
import pytest

from clearing.snapshot import canonical_pack, header_digest, load_snapshot, signed_message
from gateway import snapshot_signing as sig
from gateway.snapshot_store import SnapshotWriter, read_snapshot_bytes
from tests.gateway.test_snapshot_cli import make_state


def test_the_key_is_made_once_with_a_private_secret_file(tmp_path: Path) -> None:
    key = sig.ensure_signing_key(tmp_path)
    sec, pub = sig.secret_path(tmp_path), sig.public_path(tmp_path)
    assert stat.S_IMODE(sec.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    assert key.unsigned_head is None  # no snapshot before it: every one must be signed
    assert sig.ensure_signing_key(tmp_path) == key  # kept, not remade
    assert sig.parse_public_key(str(pub)) == key.public
    assert key.seed.hex() not in pub.read_text() and key.seed.hex() not in repr(key)
    pub.unlink()  # a lost public file is written again from the secret one
    assert sig.ensure_signing_key(tmp_path) == key and pub.exists()


def test_a_state_dir_from_before_signing_records_its_newest_snapshot(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path)  # no key: unsigned, as before this feature
    writer.write(make_state(10, 690))
    newest = writer.write(make_state(20, 680))
    key = sig.ensure_signing_key(tmp_path)
    head = load_snapshot(read_snapshot_bytes(newest)).header
    assert key.unsigned_head == header_digest(head)
    assert sig.load_state_key(tmp_path) == key  # survives the file round trip


def test_a_secret_file_readable_by_others_or_broken_is_refused(tmp_path: Path) -> None:
    sig.ensure_signing_key(tmp_path)
    sec = sig.secret_path(tmp_path)
    sec.chmod(0o644)
    with pytest.raises(sig.SigningKeyError, match="readable by others"):
        sig.load_state_key(tmp_path)
    sec.chmod(0o600)
    text = sec.read_text()
    other = sig.generate(None)
    sec.write_text(text.replace(sig.load_key(sec).public.hex(), other.public.hex()))
    with pytest.raises(sig.SigningKeyError, match="does not belong"):
        sig.load_state_key(tmp_path)
    sec.write_text("public-key = nonsense\n")
    with pytest.raises(sig.SigningKeyError, match="64 hex"):
        sig.load_state_key(tmp_path)


def test_pubkey_is_hex_text_or_a_file(tmp_path: Path) -> None:
    key = sig.generate(None)
    assert sig.parse_public_key(key.public.hex()) == key.public
    assert sig.parse_public_key(key.public.hex().upper()) == key.public
    bare = tmp_path / "bare.txt"
    bare.write_text(key.public.hex() + "\n")
    assert sig.parse_public_key(str(bare)) == key.public
    for bad in ("abc", str(tmp_path / "absent.pub")):
        with pytest.raises(sig.SigningKeyError):
            sig.parse_public_key(bad)


def test_signature_problems_name_what_is_wrong(tmp_path: Path) -> None:
    key, other = sig.generate(None), sig.generate(None)
    path = SnapshotWriter(tmp_path, sign=key).write(make_state(10, 690))
    snap = load_snapshot(read_snapshot_bytes(path))
    assert snap.signature is not None and snap.signature.key == key.public
    assert sig.signature_problem(snap.header, snap.signature, key.public) is None
    assert sig.signature_problem(snap.header, None, key.public) == "not signed"
    assert "signed by another key" in sig.signature_problem(
        snap.header, other(signed_message(snap.header)), key.public
    )
    later = load_snapshot(read_snapshot_bytes(
        SnapshotWriter(tmp_path, sign=key).write(make_state(20, 680))))  # fmt: skip
    assert "does not verify" in sig.signature_problem(later.header, snap.signature, key.public)


def test_the_docs_standalone_check_agrees(tmp_path: Path) -> None:
    """docs/snapshots.md shows how to check a signature without crossbook: it must work."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "snapshots.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", doc, flags=re.S)
                 if "def signed_by" in b)  # fmt: skip
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/snapshots.md", "exec"), namespace)
    signed_by = namespace["signed_by"]
    key = sig.ensure_signing_key(tmp_path)
    good = SnapshotWriter(tmp_path, sign=key).write(make_state(10, 690))
    unsigned = SnapshotWriter(tmp_path / "old").write(make_state(10, 690))
    assert signed_by(str(good), key.public.hex())
    assert not signed_by(str(good), sig.generate(None).public.hex())
    assert not signed_by(str(unsigned), key.public.hex())
    raw = msgpack.unpackb(good.read_bytes(), raw=False, strict_map_key=False)
    raw["header"]["ts"] += 1
    good.write_bytes(canonical_pack(raw))
    assert not signed_by(str(good), key.public.hex())
