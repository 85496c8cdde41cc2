"""The exchange core and a matcher in one process: the in-process driver of ``Core``.

``Pipeline.submit(cmd)`` runs one clearing command (or any core input) as a batch of one
through ``clearing.core.Core.batch`` with a ``MatchingEngine`` in this process, and
returns clearing's outputs in order (holds, matcher commands, settlements, follow-ups).
Replay and the clearing tests drive the exchange this way; the server runs the same
``Core.batch`` with the matcher behind a ZeroMQ link. Nothing here has logic of its own.
"""

from __future__ import annotations

from typing import Any

from clearing.config import ClearingConfig
from clearing.core import BatchResult, Core
from clearing.core.core import MATCHER_COMMANDS
from matching.engine import MatchingEngine

__all__ = ["MATCHER_COMMANDS", "Pipeline"]


class Pipeline:
    """A clearing engine in front of and behind a matcher, through the core."""

    def __init__(self, core: Core, matcher: MatchingEngine) -> None:
        self.core = core
        self.clearing = core.engine
        self.matcher = matcher
        self.matcher_events: list = []
        self.last: BatchResult | None = None
        core.record_outputs = True

    @classmethod
    def from_config(cls, config: ClearingConfig, **core_options: Any) -> Pipeline:
        core = Core(config, **core_options)
        specs = [s for _, s in sorted(config.instruments.items())]
        return cls(core, MatchingEngine([s.matcher_instrument() for s in specs]))

    def submit(self, cmd: object) -> list:
        """Run one input through the whole path; return clearing's outputs in order."""
        return self.run([cmd]).outputs

    def run(self, inputs: list) -> BatchResult:
        """Run a batch of inputs; the result carries replies, market data and outputs."""
        gen = self.core.batch(inputs)
        apply = self.matcher.apply
        log = self.matcher_events
        try:
            cmds = next(gen)
            while True:
                results = [apply(c) for c in cmds]
                for evs in results:
                    log.extend(evs)
                cmds = gen.send(results)
        except StopIteration as stop:
            self.last = stop.value
            return stop.value
