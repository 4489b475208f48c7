"""schemathesis against our OpenAPI document: generated requests (valid and invalid) to every
operation, as an admin and as a sensor; no answer may be a 5xx or break the documented schema.

Bounded for CI: ``SCHEMATHESIS_EXAMPLES`` examples per operation and mode (default 6). The
schemathesis pytest plugin does not run under pytest 9 (it reads ``Function._nodeid``), so the
operations are driven with their Hypothesis strategies directly."""

from __future__ import annotations

import os
from pathlib import Path

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
from tests.api.httpkit import NOW, alert, api_settings, credentials, flow

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Logging out would revoke the token every later request is made with.
SKIPPED = {"POST /api/v1/auth/logout"}
#: PKI checks connect out (endpoints, CRL and OCSP URLs from the certificates): generated hosts
#: and URLs must never become traffic off this machine. Their tests are the PKI package's.
SKIPPED_PREFIXES = ("/api/v1/pki/",)


def test_no_server_errors_and_no_schema_violations(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    store = SqliteAlertStore(tmp_path / "alerts.db", clock)
    store.upsert_alerts([alert(), alert("brute_force.ssh", src="192.0.2.66")])
    store.add_flows([flow("f1")])
    app = create_app(api_settings(tmp_path), store, clock=clock)
    failures: list[str] = []
    operations = 0
    with TestClient(app):  # runs the lifespan: the ingest writer
        tokens = credentials(app.state.services).tokens
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.label in SKIPPED or operation.path.startswith(SKIPPED_PREFIXES):
                continue
            operations += 1
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
                # As the admin and as the sensor: between them they may call every route.
                for role in ("admin", "sensor"):
                    headers = {"Authorization": f"Bearer {tokens[role]}"}
                    case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                exercise()
            except (Exception, BaseExceptionGroup) as exc:  # every operation's, not the first only
                failures.append(f"{operation.label}: {exc}")
        # Had a generated request revoked or locked out the credentials, every later answer would
        # have been a harmless 401 or 429 and the run would prove little.
        with TestClient(app) as client:
            for role in ("admin", "sensor"):
                me = client.get(
                    "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens[role]}"}
                )
                assert me.status_code == 200, f"the {role} token stopped working: {me.text}"
    store.close()
    assert operations >= 38
    assert not failures, "\n\n".join(failures)
