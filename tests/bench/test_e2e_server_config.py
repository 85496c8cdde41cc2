"""The bench's exchange configuration: the embedded default with ports, state dir and the
journal's durability replaced, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.e2e_server import bench_config_toml
from gateway.exchange_config import Endpoints, default_config, parse_exchange_text


@pytest.mark.parametrize("durability", ["write", "fsync"])
def test_bench_config_sets_ports_state_and_durability(tmp_path: Path, durability: str) -> None:
    ports = {name: 40_000 + i for i, name in enumerate(Endpoints.__dataclass_fields__)}
    cfg = parse_exchange_text(bench_config_toml(tmp_path, ports, durability))
    assert cfg.durability == durability and cfg.state_dir == tmp_path
    assert cfg.endpoints.order_entry == f"tcp://127.0.0.1:{ports['order_entry']}"
    assert cfg.clearing == default_config().clearing
