"""The HTTP API (FastAPI): ``create_app(settings, store)`` in :mod:`api.app.factory`.

* :mod:`api.app.auth`: users, tokens (argon2 hashes), roles, failed-login limits.
* :mod:`api.app.triage`: alert search, evidence, triage changes and bulk changes.
* :mod:`api.app.cases`: cases with observables, comments, severity, TLP and history.
* :mod:`api.app.noise`: suppressions and thresholds, and ``SuppressionFilter`` for new alerts.
* :mod:`api.app.fleet`: sensor enrolment, heartbeats, the fleet view and ingest.
* :mod:`api.app.audit`: the append-only audit log.
* :mod:`api.app.db`: the service database (SQLite, versioned migrations).
* :mod:`api.app.problems`: every error as ``application/problem+json``.

Nothing here is built at import time: importing the package starts no app.
"""
