"""The sensor fleet: enrolment (each sensor gets its own credential), heartbeats and health, and
the ingest endpoint where sensors push batches of flows and alerts."""
