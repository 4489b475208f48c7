"""Fixtures for the Elasticsearch store's end-to-end tests (see ``esserver``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from esserver import ES_URL, start_osmem, stop_osmem


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    if ES_URL:
        yield ES_URL
        return
    server = start_osmem()
    yield server.url
    stop_osmem(server)
