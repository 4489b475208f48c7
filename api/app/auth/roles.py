"""The roles and which groups of them the routes allow.

Every route names its roles with one of these tuples (see ``api.app.deps.allow``); the role matrix
test reads them back from the OpenAPI document and tries every role against every route.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    RESPONDER = "responder"
    SENSOR = "sensor"
    AUDITOR = "auditor"


ADMIN, ANALYST, RESPONDER, SENSOR, AUDITOR = (
    Role.ADMIN,
    Role.ANALYST,
    Role.RESPONDER,
    Role.SENSOR,
    Role.AUDITOR,
)

#: Anyone of the SOC may read alerts, cases and the fleet; auditors only read.
READERS = (ADMIN, ANALYST, RESPONDER, AUDITOR)
#: Triage of alerts and noise control are analysts' work.
ANALYSTS = (ADMIN, ANALYST)
#: Cases are worked by analysts and responders together.
CASE_WORKERS = (ADMIN, ANALYST, RESPONDER)
#: Users, tokens of others, sensor enrolment.
ADMINS = (ADMIN,)
#: The audit log and metrics.
OVERSEERS = (ADMIN, AUDITOR)
#: What a sensor's credential may do: heartbeats and ingest, nothing else.
SENSORS = (SENSOR,)
#: Every role that belongs to a person (their own tokens, who am I).
PEOPLE = (ADMIN, ANALYST, RESPONDER, AUDITOR)
