"""Replay of recorded order flow through the matcher (``crossbook replay``).

Readers turn files into typed integer rows and know nothing of engines (``lobster``,
``csvflow``, ``rows``); drivers feed those rows to an in-process ``MatchingEngine`` and
count what happened (``lobster_replay``, ``csv_replay``); ``cli`` wires them to the
command line. See docs/csv-flow.md for crossbook's own flow format and
../shared/data/lobster/README.md (or the ``lobster_replay`` docstring) for the LOBSTER
replay rules.

``BUILD`` says which build of the LOBSTER replay's hot modules (``lobster``,
``lobster_bulk``, ``lobster_replay``) runs: ``"compiled"`` (Cython, from the same ``.py``
files) or ``"pure: <why>"``; ``COMPILED`` is the same as a bool. See
``clients.replay._compiled``.
"""

from clients.replay._compiled import select as _select

BUILD = _select()
COMPILED = BUILD == "compiled"
