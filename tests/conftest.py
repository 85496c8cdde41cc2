"""Suite-wide test settings.

Under CI (``CI`` set, as ``.ci/run`` runs) hypothesis is derandomized: every run explores
the same examples, so a green CI stays green and a red one reproduces. Locally it keeps
exploring new examples on every run.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
