"""The sensor agent's transport: its settings, the bounded disk spool of outgoing batches
(replayed in order, deleted when acknowledged) and the client of the central service's ingest,
heartbeat and evidence endpoints. The agent that wires capture, engine and detectors to them is
composition and lives in ``api.sensor_agent`` (``sensors`` may not import ``detectors``)."""

from sensors.agent.client import CentralClient, SendOutcome
from sensors.agent.settings import AgentSettings
from sensors.agent.spool import DiskSpool, SpoolEntry

__all__ = ["AgentSettings", "CentralClient", "DiskSpool", "SendOutcome", "SpoolEntry"]
