"""The sensor agent: live capture -> sensor engine -> detectors -> batches in the disk spool ->
the central service's ingest, with heartbeats and packet evidence uploads.

It lives in ``api`` because it is composition (it wires ``sensors`` to ``detectors`` and
``alerts``, which ``sensors`` may not import); the transport parts it uses (spool, HTTP client,
capture, pcap ring) are in ``sensors.agent``, ``sensors.live`` and ``sensors.evidence``.
"""

from api.sensor_agent.agent import SensorAgent

__all__ = ["SensorAgent"]
