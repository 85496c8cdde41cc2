"""Key files and demo accounts: two clients of one state directory get two accounts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clients.sdk.keyfiles import (
    NoFreeAccount,
    claim_demo_key,
    demo_accounts,
    load_client_keys,
)
from gateway import keys
from gateway.keys import KeyFileError


@pytest.fixture
def state(tmp_path: Path) -> Path:
    keys.create_keypair(tmp_path, keys.SERVER_NAME)
    for acct in (3, 1, 2):
        keys.create_keypair(tmp_path, keys.account_name(acct))
    return tmp_path


def test_load_key_file_takes_server_key_beside_it(state: Path) -> None:
    k = load_client_keys(keys.secret_path(state, "account-2"))
    assert k.account == 2
    assert k.server_public == keys.load_server_public(state)
    assert k.pair == keys.load_account_keys(state, 2)


def test_missing_server_key_is_a_clear_error(tmp_path: Path) -> None:
    keys.create_keypair(tmp_path, "account-1")
    with pytest.raises(KeyFileError, match="server public key"):
        load_client_keys(keys.secret_path(tmp_path, "account-1"))


def test_claims_are_exclusive_and_released(state: Path) -> None:
    assert [a for a, _ in demo_accounts(state)] == [1, 2, 3]
    a = claim_demo_key(state)
    b = claim_demo_key(state)
    c = claim_demo_key(state)
    assert (a.account, b.account, c.account) == (1, 2, 3)
    with pytest.raises(NoFreeAccount):
        claim_demo_key(state)
    b.release()
    assert claim_demo_key(state).account == 2


def test_another_process_holding_an_account_is_skipped(state: Path) -> None:
    code = (
        "import sys, time; from clients.sdk.keyfiles import claim_demo_key; "
        f"k = claim_demo_key({str(state)!r}); print(k.account, flush=True); time.sleep(30)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "1"
        assert claim_demo_key(state).account == 2
    finally:
        proc.kill()
        proc.wait()
    assert claim_demo_key(state).account == 1  # freed by the process's exit


def test_empty_state_dir_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="crossbook serve"):
        claim_demo_key(tmp_path)
