"""The whole order path in one place, in-process: pre-trade -> match -> settle -> follow-ups.

Pure wiring of a ``ClearingEngine`` and a ``MatchingEngine`` for replay and tests (the
server does the same across sockets). Read ``Pipeline.submit`` to see the path of every
command; nothing else here has logic.
"""

from __future__ import annotations

from clearing.commands import MatcherEvents
from clearing.config import ClearingConfig
from clearing.engine import ClearingEngine
from matching import commands as mc
from matching.engine import MatchingEngine

MATCHER_COMMANDS = (
    mc.NewOrder,
    mc.CancelOrder,
    mc.AmendOrder,
    mc.MassCancel,
    mc.Halt,
    mc.OpenAuction,
    mc.Resume,
    mc.SetBand,
    mc.AdvanceTime,
    mc.AddInstrument,
)

MAX_ROUNDS = 10_000
"""A follow-up chain longer than this is a bug (liquidation steps are bounded anyway)."""


class Pipeline:
    """A clearing engine in front of and behind a matcher."""

    def __init__(self, clearing: ClearingEngine, matcher: MatchingEngine) -> None:
        self.clearing = clearing
        self.matcher = matcher
        self.matcher_events: list = []

    @classmethod
    def from_config(cls, config: ClearingConfig) -> Pipeline:
        clearing = ClearingEngine(config)
        specs = [s for _, s in sorted(config.instruments.items())]
        matcher = MatchingEngine([s.matcher_instrument() for s in specs])
        return cls(clearing, matcher)

    def submit(self, cmd: object) -> list:
        """Run one command through the whole path; return clearing's outputs in order."""
        outputs: list = []
        # 1. pre-trade (or any other clearing command): holds taken, order ids assigned
        pending = self.clearing.apply(cmd)
        for _ in range(MAX_ROUNDS):
            outputs.extend(pending)
            # 2. every output that is a matcher command goes to the matcher, in order
            to_matcher = [o for o in pending if isinstance(o, MATCHER_COMMANDS)]
            if not to_matcher:
                return outputs
            events: list = []
            for mcmd in to_matcher:
                events.extend(self.matcher.apply(mcmd))
            self.matcher_events.extend(events)
            # 3. settle: the matcher's sequenced events go back to clearing
            ts = max(getattr(c, "ts", 0) for c in to_matcher)
            # 4. follow-ups (risk cancels, liquidation orders, bands, halts) loop to 2
            pending = self.clearing.apply(MatcherEvents(ts, events))
        raise RuntimeError("follow-up chain did not settle")
