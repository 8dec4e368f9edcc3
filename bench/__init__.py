"""Benchmarks: qbfailover measured beside the limit qBittorrent sets and beside the spec's naive flow.

Run with ``./scripts/bench`` (``--quick`` for the CI form). Every baseline is measured in the same
run as our figure, interleaved with it, so the ratios hold on a shared machine where absolute times
drift. Nothing here is asserted by the tests; see the README's Performance section for the figures.
"""

import sys
from pathlib import Path

# The bench starts its instances with the test harness (tests/harness.py), like the test suite does.
_TESTS = str(Path(__file__).resolve().parent.parent / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
