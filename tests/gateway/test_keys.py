"""Key files: layout under the state directory, modes, round trips, and refusals."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import zmq.auth

from gateway import keys


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_and_load_round_trip_with_layout_and_modes(tmp_path: Path) -> None:
    server = keys.create_keypair(tmp_path, keys.SERVER_NAME)
    acct = keys.create_keypair(tmp_path, keys.account_name(7))
    d = tmp_path / "keys"
    assert sorted(p.name for p in d.iterdir()) == [
        "account-7.key",
        "account-7.key.pub",
        "server.key",
        "server.key.pub",
    ]
    assert _mode(d) == 0o700
    assert _mode(d / "server.key") == 0o600 and _mode(d / "account-7.key") == 0o600
    assert _mode(d / "server.key.pub") == 0o644
    assert keys.load_server_keys(tmp_path) == server
    assert keys.load_server_public(tmp_path) == server.public
    assert keys.load_account_keys(tmp_path, 7) == acct
    assert keys.account_public_keys(tmp_path) == {7: acct.public}
    # the public file holds no secret
    assert b"secret-key" not in (d / "account-7.key.pub").read_bytes()
    assert acct.secret is not None and acct.secret not in (d / "account-7.key.pub").read_bytes()


def test_files_are_readable_by_pyzmq_certificate_loader(tmp_path: Path) -> None:
    pair = keys.create_keypair(tmp_path, "account-3")
    assert zmq.auth.load_certificate(keys.secret_path(tmp_path, "account-3")) == (
        pair.public,
        pair.secret,
    )
    assert zmq.auth.load_certificate(keys.public_path(tmp_path, "account-3")) == (
        pair.public,
        None,
    )


def test_create_keeps_an_existing_pair(tmp_path: Path) -> None:
    first = keys.create_keypair(tmp_path, "server")
    assert keys.create_keypair(tmp_path, "server") == first
    keys.public_path(tmp_path, "server").unlink()  # a lost public file is written again
    assert keys.create_keypair(tmp_path, "server") == first
    assert keys.load_server_public(tmp_path) == first.public


def test_account_listing_ignores_other_files(tmp_path: Path) -> None:
    keys.create_keypair(tmp_path, keys.account_name(12))
    keys.write_public(tmp_path, keys.account_name(0), keys.generate().public)
    keys.create_keypair(tmp_path, "server")
    (tmp_path / "keys" / "account-x.key.pub").write_text("junk")
    (tmp_path / "keys" / "account-01.key.pub").write_text("junk")
    assert sorted(keys.account_public_keys(tmp_path)) == [0, 12]
    assert keys.account_public_keys(tmp_path / "nowhere") == {}


def test_loading_refuses_broken_or_exposed_files(tmp_path: Path) -> None:
    keys.create_keypair(tmp_path, "account-1")
    sec = keys.secret_path(tmp_path, "account-1")
    sec.chmod(0o644)
    with pytest.raises(keys.KeyFileError, match="readable by others"):
        keys.load_account_keys(tmp_path, 1)
    with pytest.raises(keys.KeyFileError, match="holds no secret-key"):
        keys.load_secret(keys.public_path(tmp_path, "account-1"))
    bad = tmp_path / "bad.key"
    bad.write_text('curve\n    public-key = "not a key"\n')
    with pytest.raises(keys.KeyFileError, match="40 Z85 characters"):
        keys.load_keypair(bad)
    bad.write_text("metadata\n")
    with pytest.raises(keys.KeyFileError, match="no public-key"):
        keys.load_keypair(bad)
    other = keys.generate()
    mine = keys.generate()
    assert other.secret is not None
    bad.write_text(
        f'curve\n    public-key = "{mine.public.decode()}"\n'
        f'    secret-key = "{other.secret.decode()}"\n'
    )
    with pytest.raises(keys.KeyFileError, match="does not belong"):
        keys.load_keypair(bad)
    with pytest.raises(keys.KeyFileError, match="cannot read"):
        keys.load_keypair(tmp_path / "missing.key")


def test_key_checks_and_names() -> None:
    assert keys.check_z85_key(keys.generate().public) is None
    assert keys.check_z85_key("x" * 40) == "must be bytes, was str"
    assert keys.check_z85_key(b"~" * 40) == "is not valid Z85 text"
    with pytest.raises(ValueError, match="non-negative"):
        keys.account_name(-3)
    with pytest.raises(ValueError, match="non-negative"):
        keys.account_name(True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a secret"):
        keys.write_keypair(".", "x", keys.KeyPair(keys.generate().public))
    assert "<hidden>" in repr(keys.generate())
