"""Offline replay of a state directory: snapshot + journal -> state hash and a report.

``crossbook journal replay DIR [--to SEQ]`` and ``crossbook replay --format journal DIR``
re-run what a server journaled, with nothing running: the newest snapshot at or before
``SEQ`` (or the configuration, when there is none) plus the journal records after it,
through the same core the server runs (``gateway.recovery``). The state hash it prints is
the one the server logged for that sequence (``snapshot at journal seq N state hash H``,
``stopped at ...``, ``recovered ...``). Read-only: a torn tail is reported, not cut.

The configuration is the one the server recorded in ``DIR/config.toml`` (``--config``
overrides it; without either, the embedded default as of today, which matches only if the
journal was written on a default chain picked the same quarter).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearing.core import reports as rp
from gateway.exchange_config import ExchangeConfig, load_exchange_config, state_dir_config
from gateway.reasons import Reason
from gateway.recovery import recover


def state_dir_of(path: str | Path) -> Path:
    """The state directory of ``path`` (a state directory or its ``journal/``)."""
    p = Path(path)
    return p.parent if p.name == "journal" and not (p / "journal").is_dir() else p


def config_for(state_dir: Path, config_file: Path | None = None) -> ExchangeConfig:
    """``--config``, else what the server recorded in the state dir, else the default."""
    if config_file is None:
        return state_dir_config(state_dir)
    return replace(load_exchange_config(config_file), state_dir=state_dir)


class Tally:
    """What the replayed batches held: inputs by type, refusals by reason, trades."""

    def __init__(self) -> None:
        self.inputs: Counter = Counter()
        self.rejects: Counter = Counter()
        self.trades = 0
        self.traded_qty = 0

    def __call__(self, inputs: list, result: Any) -> None:
        self.inputs.update(type(i).__name__ for i in inputs)
        for reply in result.replies:
            report = reply[5]
            kind = report[0]
            if kind == rp.EXEC:
                if report[3] == rp.X_TRADE and report[2] % 2 == 0:  # one per fill
                    self.trades += 1
                    self.traded_qty += report[17][0]
                elif report[3] == rp.X_REJECTED:
                    self._reject(report[17][0])
            elif kind == rp.CANCEL_REJECT:
                self._reject(report[7])
            elif kind == rp.REJECT:
                self._reject(report[2])

    def _reject(self, code: int) -> None:
        try:
            self.rejects[Reason(code).name] += 1
        except ValueError:
            self.rejects[str(code)] += 1


def replay(config: ExchangeConfig, to_seq: int | None = None,
           earliest: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run the replay; the report (``journal_seq`` and ``state_hash`` first). ``earliest``
    re-runs all the journal holds (from the configuration when it starts at record 1),
    else it starts from the newest snapshot at or before ``to_seq``."""
    tally = Tally()
    start = time.perf_counter()
    rec = recover(config, to_seq=to_seq, repair=False, on_batch=tally, earliest=earliest)
    elapsed = time.perf_counter() - start
    n = sum(tally.inputs.values())
    return {
        "journal_seq": rec.core.seq,
        "state_hash": rec.state_hash(),
        "snapshot": str(rec.snapshot) if rec.snapshot else None,
        "snapshot_seq": rec.snapshot_seq,
        "records": rec.replayed,
        "inputs": dict(sorted(tally.inputs.items())),
        "orders": tally.inputs.get("PlaceOrder", 0),
        "cancels": tally.inputs.get("CancelOrderRequest", 0),
        "amends": tally.inputs.get("AmendOrderRequest", 0),
        "trades": tally.trades,
        "traded_qty": tally.traded_qty,
        "rejects": dict(sorted(tally.rejects.items())),
        "messages_per_s": round(n / elapsed) if elapsed > 0 else None,
        "elapsed_s": round(elapsed, 3),
    }
