"""Logging set-up. Log records never carry secrets: settings hold them as ``SecretStr``."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "WARNING") -> None:
    """Send CityShield's logs to stderr, once; the CLI keeps stdout for results."""
    root = logging.getLogger()
    if any(getattr(h, "_cityshield", False) for h in root.handlers):
        root.setLevel(level.upper())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._cityshield = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
