"""What a benchmark ran on: written into every result file next to the numbers."""

from __future__ import annotations

import os
import platform
import sys


def describe() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
    }
