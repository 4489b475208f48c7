"""Packet evidence on the sensor: a rolling, size-bounded, time-indexed ring of pcap segments,
and the packets of given flows (Community IDs) in a time window taken out of it as a pcap."""

from sensors.evidence.extract import EvidenceResult, extract_flows
from sensors.evidence.ring import EvidenceSettings, PcapRing, Segment

__all__ = ["EvidenceResult", "EvidenceSettings", "PcapRing", "Segment", "extract_flows"]
