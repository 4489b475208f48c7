"""The response unit tests' fixtures (a run database, a fixed clock) for the end-to-end tests."""

from tests.unit.response.conftest import clock, run_store

__all__ = ["clock", "run_store"]
