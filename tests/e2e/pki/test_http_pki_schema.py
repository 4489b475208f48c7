"""schemathesis against the PKI routes of our OpenAPI document (the service's own schemathesis test
leaves them out): generated requests, valid and invalid, as an admin; no answer may be a 5xx or
break the documented schema.

The app runs with offline PKI components (``api.app.pki.service.offline_components``): nothing is
probed or fetched, so generated host names and the URLs in generated certificates never become
traffic; the last test shows that an endpoint check of such an app connects nowhere.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alerts.stores import SqliteAlertStore
from api.app.factory import create_app
from cityshield.clock import FixedClock
from tests.api.httpkit import NOW, api_settings, credentials

pytestmark = pytest.mark.e2e
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_pki_routes_give_no_server_errors_and_keep_their_schema(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    store = SqliteAlertStore(tmp_path / "alerts.db", clock)
    app = create_app(api_settings(tmp_path), store, clock=clock)
    failures: list[str] = []
    operations = []
    with TestClient(app):
        headers = {"Authorization": f"Bearer {credentials(app.state.services).tokens['admin']}"}
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith("/api/v1/pki/"):
                continue
            operations.append(operation.label)
            cases = st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )

            @given(case=cases)
            @settings(
                max_examples=2 * EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                exercise()
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label}: {exc}")
    store.close()
    assert len(operations) == 9, operations
    assert not failures, "\n\n".join(failures)


def test_an_app_without_pki_components_connects_nowhere(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    with (
        SqliteAlertStore(tmp_path / "alerts.db", clock) as store,
        socket.create_server(("127.0.0.1", 0)) as listener,
    ):
        app = create_app(api_settings(tmp_path), store, clock=clock)
        with TestClient(app) as client:
            creds = credentials(app.state.services)
            body = {"host": "127.0.0.1", "port": listener.getsockname()[1]}
            answer = client.post(
                "/api/v1/pki/checks/endpoint", json=body, headers=creds.headers("analyst")
            )
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert answer.status_code == 422
    assert "nothing is fetched or probed" in answer.json()["detail"]
