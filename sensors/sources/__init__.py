"""Capture sources: files (pcap, pcapng; plain, gzip, bzip2, xz) and stdin, read in batches.

A source never builds one Python object per packet: it walks record headers and hands out
``PacketBatch`` objects (one byte buffer plus arrays of offsets, lengths, timestamps and link
types) that the vectorised decoder works on.
"""

from sensors.sources.batch import PacketBatch
from sensors.sources.open import CaptureSettings, open_capture
from sensors.sources.reader import CaptureReader

__all__ = ["CaptureReader", "CaptureSettings", "PacketBatch", "open_capture"]
