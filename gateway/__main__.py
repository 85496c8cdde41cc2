"""``python -m gateway`` runs the crossbook command line."""

import sys

from gateway.cli import main

sys.exit(main())
