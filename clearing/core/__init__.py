"""The exchange core: one sans-I/O state machine for the whole order path.

``Core.batch`` (``clearing.core.core``) runs a batch of inputs (``clearing.core.inputs``)
through pre-trade, the matcher, settlement and follow-ups and returns compact execution
reports (``clearing.core.reports``), market-data extras and touched accounts. The server's
clearing role, replay and the tests all run it; ``clearing.core.state`` exports and
restores it whole, books included, for snapshots and recovery.
"""

from clearing.core.core import BatchResult, Core, Origin

__all__ = ["BatchResult", "Core", "Origin"]
