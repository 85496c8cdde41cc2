"""Bad configurations and command lines: ``crossbook serve`` ends with one clear line on
stderr and a non-zero exit, never a traceback and never by starting anyway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clearing.config import ConfigError
from gateway.config_checks import endpoint_problem
from gateway.exchange_config import default_toml, parse_exchange_text

pytestmark = pytest.mark.timeout(60)


def serve(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run ``crossbook serve ARGS``; it must exit by itself (it refuses to start)."""
    proc = subprocess.run([sys.executable, "-m", "gateway", "serve", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=45)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line(code: int, out: str, err: str, *words: str) -> None:
    assert code != 0, (out, err)
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("crossbook serve: "), err
    for w in words:
        assert w in err, err
    assert "crossbook serve:" not in out  # it never got as far as the banner


@pytest.mark.parametrize(
    ("value", "ok"),
    [("tcp://127.0.0.1:5555", True), ("tcp://127.0.0.1:*", True), ("tcp://[::1]:65535", True),
     ("ipc:///tmp/x", True), ("inproc://x", True), ("tcp://127.0.0.1:99999", False),
     ("tcp://127.0.0.1:0", False), ("tcp://127.0.0.1", False), ("tcp://127.0.0.1:5x", False),
     ("udp://127.0.0.1:5", False), ("127.0.0.1:5555", False), (5555, False)],
)  # fmt: skip
def test_endpoint_problem(value: object, ok: bool) -> None:
    assert (endpoint_problem(value) is None) is ok


def test_a_port_out_of_range_is_refused_when_the_file_is_read() -> None:
    default = default_toml()
    text = default.replace('order_entry = "tcp://127.0.0.1:5555"',
                           'order_entry = "tcp://127.0.0.1:99999"')  # fmt: skip
    assert text != default
    with pytest.raises(ConfigError, match=r"exchange.endpoints.order_entry: port '99999'"):
        parse_exchange_text(text)


def test_serve_refuses_port_99999(tmp_path: Path) -> None:
    text = default_toml().replace('order_entry = "tcp://127.0.0.1:5555"',
                                  'order_entry = "tcp://127.0.0.1:99999"')  # fmt: skip
    cfg = tmp_path / "exchange.toml"
    cfg.write_text(text)
    code, out, err = serve("--config", str(cfg), "--state-dir", str(tmp_path / "s"),
                           cwd=tmp_path)  # fmt: skip
    assert_one_line(code, out, err, "99999", "1..65535")
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_serve_refuses_a_state_dir_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "state"
    f.write_text("not a directory")
    code, out, err = serve("--state-dir", str(f), cwd=tmp_path)
    assert_one_line(code, out, err, str(f), "not a directory")
    assert f.read_text() == "not a directory"


def test_serve_refuses_a_state_dir_it_cannot_write(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through file modes: use a directory nobody writes
        d = Path("/sys")
        assert d.is_dir()
    else:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
    code, out, err = serve("--state-dir", str(d), cwd=tmp_path)
    assert_one_line(code, out, err, str(d), "not writable")


def test_serve_refuses_a_state_dir_it_cannot_create(tmp_path: Path) -> None:
    d = tmp_path / "file" / "state"
    (tmp_path / "file").write_text("x")
    code, out, err = serve("--state-dir", str(d), cwd=tmp_path)
    assert_one_line(code, out, err, str(d), "cannot create")


def test_serve_refuses_a_corrupt_server_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    keys = state / "keys"
    keys.mkdir(parents=True)
    key = keys / "server.key"
    key.write_text("garbage\n")
    key.chmod(0o600)
    code, out, err = serve("--state-dir", str(state), cwd=tmp_path)
    assert_one_line(code, out, err, str(key), "no public-key line")
    key.write_text('curve\n    public-key = "short"\n    secret-key = "short"\n')
    code, out, err = serve("--state-dir", str(state), cwd=tmp_path)
    assert_one_line(code, out, err, str(key), "40 Z85 characters")
    assert key.read_text().startswith("curve")  # never replaced by a fresh key


@pytest.mark.parametrize("role", ["gateway", "clearing", "matching"])
def test_role_without_config_is_refused(tmp_path: Path, role: str) -> None:
    code, out, err = serve("--role", role, "--state-dir", str(tmp_path / "s"), cwd=tmp_path)
    assert_one_line(code, out, err, "--role needs --config")
    assert not (tmp_path / "s").exists()
