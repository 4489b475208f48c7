"""Settings of live capture (``[sensor.live]``)."""

from __future__ import annotations

from pydantic import Field

from cityshield.settings import Section


class LiveSettings(Section):
    """How an interface is captured. The defaults suit a 1 Gbit/s tap on a small machine."""

    #: Bytes kept of each packet (libpcap's own maximum is 262144).
    snaplen: int = Field(65_535, ge=96, le=262_144)
    promiscuous: bool = True
    #: The kernel's capture buffer (libpcap ``set_buffer_size``): absorbs bursts before we read.
    kernel_buffer_mib: int = Field(32, ge=1, le=4096)
    #: Our ring between the capture thread and the engine; beyond it whole chunks are dropped
    #: (and counted) rather than memory growing without end.
    ring_mib: int = Field(64, ge=1, le=16_384)
    #: Packets read from libpcap in one call (one chunk of the ring).
    read_packets: int = Field(4096, ge=1, le=65_536)
    #: Largest batch handed to the engine.
    batch_packets: int = Field(65_536, ge=1, le=1_048_576)
    #: How long a batch waits for more packets before it goes to the engine anyway.
    batch_wait_seconds: float = Field(0.2, gt=0, le=10)
