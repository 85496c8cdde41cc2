"""Smoke tests: ``crossbook bench e2e`` against a real embedded exchange (and the echo floor
before it), a few hundred orders; and ``--sink``, the generator alone.

Checks the shape of the result, not the speed (numbers come from the harness, not tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main

KEYS = ("rate", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "achieved_orders_per_s",
        "requests", "unanswered", "fill", "ack_uncorrected", "hop_medians_us", "held")  # fmt: skip


@pytest.mark.timeout(90)
def test_bench_e2e_smoke(tmp_path: Path) -> None:
    out, plot = tmp_path / "e2e.json", tmp_path / "e2e.png"
    code = main(["bench", "e2e", "--json", str(out), "--plot", str(plot), "--duration", "1",
                 "--rates", "200", "--floor-rates", "200", "--refine", "0"])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["harness"] == "e2e" and result["mode"] == "embedded"
    assert isinstance(result["sustained_orders_per_s"], int | float)
    assert result["environment"]["cores"] and "shared_cores" in result["environment"]
    assert result["exit_codes"] == {"serve": 0}  # the exchange stopped cleanly
    (step,) = result["rates"]
    for key in KEYS:
        assert key in step, key
    assert step["rate"] == 200
    assert step["requests"] >= 150  # 200/s for 1 s after the warm-up, fillers excluded
    assert step["answered"] > 0
    assert 0 < step["p50_us"] <= step["p90_us"] <= step["p99_us"] <= step["p999_us"]
    assert step["p999_us"] <= step["max_us"]
    assert step["taker_fills"] > 0  # the flow trades
    assert 0 < step["fill"]["p50_us"] <= step["fill"]["p99_us"] <= step["fill"]["max_us"]
    assert set(step["hop_medians_us"]) >= {"gw_in_to_clr_in", "me_in_to_me_out"}
    # CPU per counted request of the exchange's process tree, over the measured window
    assert step["server_cpu_us_per_order"] > 0 and step["generator_cpu_us_per_request"] > 0
    assert step["cpu_window_s"] >= 1.0
    held = step["held"]
    assert result["server_cpu_us_per_order"] == (step["server_cpu_us_per_order"] if held else None)
    # the floor: the echo, run with the same client and rules before the exchange
    floor = result["floor"]
    (echo,) = floor["rates"]
    assert echo["rate"] == 200 and echo["answered"] == echo["requests"] >= 150
    assert echo["taker_fills"] == 0 and "hop_medians_us" not in echo  # acks only, no hops
    assert echo["server_cpu_us_per_order"] > 0
    assert floor["exit_code"] == 0 and 300 <= floor["reply_bytes"] <= 400
    assert result["floor_rtt_rate"] == 200
    assert 0 < result["floor_rtt_p50_us"] == echo["p50_us"]
    assert result["floor_echo_per_s"] == (200 if echo["held"] else 0)
    if result["floor_echo_per_s"]:
        ratio = result["sustained_orders_per_s"] / 200
        assert result["sustained_to_floor_ratio"] == round(ratio, 3)
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.timeout(60)
def test_bench_e2e_sink_smoke(tmp_path: Path) -> None:
    out = tmp_path / "sink.json"
    code = main(["bench", "e2e", "--json", str(out), "--sink", "--duration", "1",
                 "--rates", "500", "--refine", "0"])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["mode"] == "sink" and result["exit_codes"] == {"sink": 0}
    assert result["floor"] is None and result["floor_echo_per_s"] is None  # no floor here
    (step,) = result["rates"]
    assert step["answered"] == step["requests"] >= 400
    assert step["taker_fills"] == step["taker_orders"] > 0  # the sink fills every IOC
    assert step["replies"]["F"] >= step["taker_fills"]
