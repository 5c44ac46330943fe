"""`python -m tests.reliability [pytest options]`: run the reliability suite alone; it ends with its
summary line. `-m "not integration"` leaves out the real-model cases (seconds instead of minutes)."""

import sys
from pathlib import Path

import pytest

raise SystemExit(pytest.main([str(Path(__file__).parent), "-q", *sys.argv[1:]]))
