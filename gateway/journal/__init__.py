"""The input journal: the sequencer's append-only, CRC-checked, gapless record of batches.

The clearing role (the sequencer) appends each drained batch as ONE record before any
output of that batch leaves the process; recovery is the newest verified snapshot plus
``read_records(after_seq=snapshot_seq)``. Payloads are opaque bytes here. The byte layout
and the rules are in docs/journal.md; each module's docstring holds its own rules:

- ``layout``: names, headers, structs, errors;       ``scan``: checking one segment;
- ``writer``: ``JournalWriter``;                      ``reader``: ``read_records``, ``repair_tail``;
- ``retention``: ``prune``;                           ``verify``: whole-journal check, links;
- ``snapshots``: the snapshot-seq hook;               ``cli``: ``crossbook journal verify``.

Opening for service, in order: ``repair_tail(d)``, load the snapshot at seq S,
``for seq, payload in read_records(d, after_seq=S)``, then
``JournalWriter(d, next_seq=last + 1, durability=...)``.
"""

from gateway.journal.layout import JournalCorrupt, JournalError
from gateway.journal.reader import read_records, repair_tail
from gateway.journal.retention import prune
from gateway.journal.scan import TornTail
from gateway.journal.snapshots import snapshot_journal_seqs
from gateway.journal.verify import (
    JournalLinkError,
    JournalSummary,
    VerifyReport,
    check_snapshot_links,
    verify_journal,
    verify_path,
)
from gateway.journal.writer import JournalWriter

__all__ = [
    "JournalCorrupt",
    "JournalError",
    "JournalLinkError",
    "JournalSummary",
    "JournalWriter",
    "TornTail",
    "VerifyReport",
    "check_snapshot_links",
    "prune",
    "read_records",
    "repair_tail",
    "snapshot_journal_seqs",
    "verify_journal",
    "verify_path",
]
