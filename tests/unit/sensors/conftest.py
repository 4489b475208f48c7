"""Fixtures for the sensor tests. Builders live in ``sensorkit.py`` next to this file; this conftest
puts the directory on ``sys.path`` so that tests in any subdirectory can ``import sensorkit``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture
def write_capture(tmp_path: Path) -> Callable[..., Path]:
    """Write capture bytes to a file in ``tmp_path`` and return its path."""

    def write(data: bytes, name: str = "capture.pcap") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write
