"""Live capture through libpcap (pcapy-ng): a capture thread fills a bounded ring of raw chunks,
the sensor takes them out as ``PacketBatch`` objects; kernel, libpcap and ring drops are counted."""

from sensors.live.capture import CaptureCounters, LiveCapture
from sensors.live.ring import ChunkRing
from sensors.live.settings import LiveSettings

__all__ = ["CaptureCounters", "ChunkRing", "LiveCapture", "LiveSettings"]
