"""``[sensor.agent]``: where the central service is and how batches travel to it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from cityshield.settings import Section
from sensors.evidence.ring import EvidenceSettings
from sensors.live.settings import LiveSettings


class AgentSettings(Section):
    """``[agent]`` with ``[agent.capture]`` (libpcap) and ``[agent.evidence]`` (the pcap ring)."""

    capture: LiveSettings = LiveSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    #: Where the agent writes ``status.json`` for ``cityshield sensor status``.
    state_dir: str = "."
    #: The central service, e.g. ``https://soc.city.example:8443``.
    central_url: str = ""
    #: The sensor's credential from its enrolment (or ``token_file``, written by ``sensor enrol``).
    token: SecretStr | None = None
    token_file: str = "sensor.token"  # noqa: S105 - a file name, not a secret
    #: CA bundle for the central service's TLS certificate (default: the system's).
    ca_file: str | None = None
    spool_dir: str = "spool"
    spool_max_mib: int = Field(1024, ge=1, le=1_000_000)
    spool_segment_mib: int = Field(16, ge=1, le=1024)
    #: ``always``: fsync every batch (nothing acknowledged by the disk is lost on power loss);
    #: ``segment``: fsync when a segment closes; ``never``: leave it to the OS.
    spool_fsync: Literal["always", "segment", "never"] = "always"
    #: A batch goes out when it holds this many items or is this old, whichever comes first.
    batch_max_items: int = Field(5000, ge=1, le=100_000)
    batch_max_seconds: float = Field(2.0, gt=0, le=300)
    heartbeat_seconds: float = Field(10.0, gt=0, le=3600)
    #: How often the detection configuration set centrally (per-rule aggregation keys) is read.
    config_poll_seconds: float = Field(30.0, gt=0, le=86_400)
    request_timeout_seconds: float = Field(30.0, gt=0, le=600)
    #: Longest wait between retries while the central service is unreachable.
    max_backoff_seconds: float = Field(30.0, gt=0, le=3600)
    #: On shutdown, how long to keep trying to send what is spooled before leaving it on disk.
    shutdown_flush_seconds: float = Field(30.0, ge=0, le=3600)
    #: Seconds of packets kept around an alert's flows when its evidence is uploaded.
    evidence_margin_seconds: float = Field(2.0, ge=0, le=3600)
    #: Largest pcap uploaded for one alert.
    evidence_max_mib: int = Field(16, ge=1, le=1024)
