"""bench.py runs as a script and imports its sibling stuff_rag, so the tests import it the same way."""

import sys

from rag.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
