"""``crossbook snapshot verify|proof``: check settlement snapshot files, print inclusion proofs.

- ``crossbook snapshot verify FILE... [--prev FILE] [--pubkey KEY]`` recomputes the Merkle
  root from the account leaves, checks every header field, exact conservation per asset and
  the hash chain: against ``--prev`` when given (one FILE only), otherwise against the
  snapshot just before FILE in its directory when there is one. With ``--pubkey`` (the
  server's Ed25519 public key: 64 hex characters, or a file holding them such as
  ``STATE_DIR/keys/snapshot-signing.key.pub``) every FILE must also carry a signature that
  verifies with that key; without it the signature is shown, not checked (a key found
  beside the files proves no more than the files). It prints what it checked. Exit 0 when
  every FILE is valid, 1 when one is invalid (the reason code and its figures are
  printed), 2 when a FILE cannot be read at all or the key is not a key.
- ``crossbook snapshot proof FILE ACCOUNT`` prints the account's inclusion proof as JSON
  (hex strings), which ``clearing.merkle.verify_inclusion`` checks against the root. Exit 1
  with a message for an account that is not in the snapshot or a snapshot whose root does
  not match its leaves.

The file format and a by-hand verification are in docs/snapshots.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "verify settlement snapshots, print inclusion proofs"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="snapshot_action", metavar="ACTION")
    sub.required = True
    verify = sub.add_parser(
        "verify",
        help="recompute the root, check header, conservation and chain",
        description="Recompute the Merkle root from the leaves and check the header, exact "
        "conservation and the hash chain; with --pubkey, the Ed25519 signature too. "
        "Exit 0 valid, 1 invalid.",
    )
    verify.add_argument("files", nargs="+", metavar="FILE", help="snapshot file(s) (.msgpack)")
    verify.add_argument(
        "--prev",
        metavar="FILE",
        default=None,
        help="previous snapshot to check the chain against, with one FILE "
        "(default: the one before FILE in its directory, if any)",
    )
    verify.add_argument(
        "--pubkey",
        metavar="KEY",
        default=None,
        help="the server's Ed25519 public key: 64 hex characters, or a file holding them "
        "(STATE_DIR/keys/snapshot-signing.key.pub); every FILE must be signed with it",
    )
    proof = sub.add_parser(
        "proof",
        help="print an account's inclusion proof as JSON",
        description="Print the inclusion proof of ACCOUNT in FILE as JSON (hex strings).",
    )
    proof.add_argument("file", metavar="FILE", help="snapshot file (.msgpack)")
    proof.add_argument("account", metavar="ACCOUNT", type=int, help="account id (an integer)")


def run(args: argparse.Namespace) -> int:
    if args.snapshot_action == "verify":
        return _verify_all(args)
    return _proof(Path(args.file), args.account)


def _verify_all(args: argparse.Namespace) -> int:
    from gateway.cli import CliError
    from gateway.snapshot_signing import SigningKeyError, parse_public_key

    if args.prev and len(args.files) > 1:
        raise CliError("--prev goes with one FILE only")
    pubkey = None
    if args.pubkey is not None:
        try:
            pubkey = parse_public_key(args.pubkey)
        except SigningKeyError as exc:
            raise CliError(f"--pubkey: {exc}") from None
    prev = Path(args.prev) if args.prev else None
    return max(_verify(Path(f), prev, pubkey) for f in args.files)


def _read(path: Path) -> bytes:
    from clearing.snapshot import SnapshotError
    from gateway.cli import CliError
    from gateway.snapshot_store import read_snapshot_bytes

    try:
        return read_snapshot_bytes(path)
    except SnapshotError:
        raise
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _verify(path: Path, prev_path: Path | None, pubkey: bytes | None = None) -> int:
    from clearing.snapshot import (
        ZERO_ROOT,
        SnapshotError,
        header_digest,
        load_snapshot,
        verify_snapshot,
    )
    from gateway.snapshot_signing import signature_problem
    from gateway.snapshot_store import predecessor

    try:
        content = _read(path)
    except SnapshotError as exc:
        print(f"{path}: INVALID ({exc.fault}): {exc}")
        return 1
    chain_note = ""
    if prev_path is None:
        prev_path = predecessor(path)
        if prev_path is None:
            chain_note = f"chain: not checked (no earlier snapshot in {path.parent})"
    prev_content = None
    if prev_path is not None:
        try:
            prev_content = _read(prev_path)
        except SnapshotError as exc:
            print(f"{path}: INVALID (previous_invalid): {prev_path}: {exc.fault}: {exc}")
            return 1
    result = verify_snapshot(content, prev_content)
    if not result.ok:
        print(f"{path}: INVALID ({result.reason}): {result.detail}")
        if prev_path is not None:
            print(f"  previous snapshot: {prev_path}")
        if result.checked:
            print(f"  passed before that: {'; '.join(result.checked)}")
        return 1
    snap = load_snapshot(content)
    header, signature = snap.header, snap.signature
    if pubkey is not None:
        problem = signature_problem(header, signature, pubkey)
        if problem is not None:
            code = "unsigned" if signature is None else "bad_signature"
            print(f"{path}: INVALID ({code}): {problem} (--pubkey {pubkey.hex()})")
            return 1
    if chain_note and header.prev_root == ZERO_ROOT and header.prev_digest == ZERO_ROOT:
        chain_note += "; prev_root and prev_digest are zero: first snapshot of its chain"
    elif chain_note:
        chain_note += "; pass --prev FILE to check prev_root against its predecessor"
    checked = list(result.checked)
    if prev_path is not None:
        checked[-1] = f"{checked[-1]} ({prev_path})"
    if chain_note:
        checked.append(chain_note)
    if pubkey is not None:
        checked.append("signature: Ed25519, verifies with the --pubkey key")
    else:
        checked.append("signature: not checked (pass --pubkey KEY)")
    print(f"{path}: valid")
    print(
        f"  last_fill_seq {header.last_fill_seq}  ts {header.ts}  accounts {header.account_count}"
    )
    print(f"  root         {header.root.hex()}")
    print(f"  digest       {header_digest(header).hex()}")
    print(f"  prev_root    {header.prev_root.hex()}")
    print(f"  prev_digest  {header.prev_digest.hex()}")
    print(f"  signer key   {signature.key.hex() if signature else '(not signed)'}")
    for item in checked:
        print(f"  checked: {item}")
    return 0


def _proof(path: Path, account: int) -> int:
    from clearing.snapshot import SnapshotError, UnknownAccount, inclusion_proof

    try:
        proof = inclusion_proof(_read(path), account)
    except UnknownAccount as exc:
        print(f"crossbook snapshot proof: {path}: {exc.args[0]}", file=sys.stderr)
        return 1
    except SnapshotError as exc:
        print(
            f"crossbook snapshot proof: {path} is not a valid snapshot ({exc.fault}): {exc}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(proof, indent=2))
    return 0
