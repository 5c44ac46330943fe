"""bench.py runs as a script and imports its sibling stuff_rag, so the tests import it the same way."""

import sys

from rag.settings import CHECKOUT

sys.path.insert(0, str(CHECKOUT / "benchmarks"))
