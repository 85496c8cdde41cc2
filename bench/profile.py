"""Sampling profiles of the exchange's processes during a bench step (py-spy, optional).

``crossbook bench e2e --profile DIR`` attaches ``py-spy record`` to every exchange process
for the length of each rate step and writes one collapsed-stack file per process and step
(``DIR/<process>-<rate>.txt``, the format flame-graph tools read). ``top`` condenses such
a file into the functions holding the CPU: *self* (the sampled frame itself) and *total*
(the frame anywhere on the stack), as shares of the samples, so the JSON can say what
stands in the way in each role. Rules: the profiler never pauses the target
(``--nonblocking``); idle threads are not sampled, so the shares are of busy time; a missing
py-spy is reported, never fatal.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

SAMPLE_HZ = 250
_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def available() -> str | None:
    """Path of the py-spy executable, or None."""
    return shutil.which("py-spy") or _venv_py_spy()


def _venv_py_spy() -> str | None:
    import sys

    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else None


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    exe = available()
    if exe is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
           "--rate", str(SAMPLE_HZ), "--format", "raw", "--nonblocking",
           "--output", str(out)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def top(collapsed: str, n: int = 12) -> dict[str, object]:
    """``{"samples", "self": [[frame, share]...], "total": [[frame, share]...]}``."""
    self_c: Counter[str] = Counter()
    total_c: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        count = int(m.group("count"))
        frames = [_short(f) for f in m.group("stack").split(";") if f]
        if not frames:
            continue
        samples += count
        self_c[frames[-1]] += count
        for f in set(frames):
            total_c[f] += count
    if not samples:
        return {"samples": 0, "self": [], "total": []}

    def share(c: Counter[str]) -> list[list[object]]:
        return [[f, round(v / samples, 3)] for f, v in c.most_common(n)]

    return {"samples": samples, "self": share(self_c), "total": share(total_c)}


def finish(proc: subprocess.Popen | None, out: Path, timeout_s: float = 30.0) -> dict | None:
    """Wait for a recording and summarise it (None when there is nothing to read)."""
    if proc is None:
        return None
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait()
    try:
        return top(out.read_text(errors="replace"))
    except OSError:
        return None
