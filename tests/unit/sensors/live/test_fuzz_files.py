"""Files the sensor reads back after a crash are parsed as hostile: any bytes in a spool segment
or a pcap-ring segment give an index (perhaps empty), never an exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.agent.spool import MAGIC, DiskSpool
from sensors.evidence import EvidenceSettings, PcapRing
from sensors.evidence.ring import file_header


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048), st.booleans())
def test_any_spool_segment_loads(data: bytes, with_magic: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "0000000000000001.spool").write_bytes((MAGIC if with_magic else b"") + data)
        spool = DiskSpool(folder, max_bytes=1 << 20)
        for entry in spool.pending():
            assert len(spool.read(entry)) == entry.length
        assert spool.append(lambda seq: b"next") is not None
        spool.close()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048), st.booleans())
def test_any_ring_segment_indexes(data: bytes, with_header: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        body = (file_header(1) if with_header else b"") + data
        (Path(folder) / "00000000001700000000.pcap").write_bytes(body)
        (Path(folder) / "00000000001700000000.json").write_bytes(data[:64])
        ring = PcapRing(EvidenceSettings(dir=folder))
        assert all(s.packets >= 0 for s in ring.segments)
        ring.close()
