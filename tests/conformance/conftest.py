"""Conformance tests against external suites in ``../shared/corpus`` (skipped when it is absent).

This conftest puts the directory on ``sys.path`` so that the tests can ``import zeeklog``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
