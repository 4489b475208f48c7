"""Fuzz tests: Hypothesis against every parser entry point and the flow table.

Builders live in ``fuzzkit.py`` next to this file; this conftest puts the directory on ``sys.path``
so that the tests can ``import fuzzkit``. Example counts are bounded so that the whole suite runs
in well under a minute; raise them for a long local run with ``FUZZ_EXAMPLES=5000``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
