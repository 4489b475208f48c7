"""The packets of some flows, by Community ID and time window, out of the pcap ring.

Packets are matched with the same decoder and Community ID as the flows the alerts name, so a
tunnelled or VLAN-tagged packet matches exactly when its flow does (a BPF filter would not see
through tunnels). Bounded: at most ``max_bytes`` of pcap, ``truncated`` past it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from cityshield.errors import CaptureError
from cityshield.ids import community_ids
from sensors.decode import Decoder
from sensors.evidence.ring import PcapRing, _records, file_header
from sensors.sources import PacketBatch, open_capture

Status = Literal["complete", "partial", "aged_out", "not_found"]


@dataclass(frozen=True, slots=True)
class EvidenceResult:
    status: Status
    pcap: bytes
    packets: int
    truncated: bool
    #: Oldest packet still in the ring (ns), to say how far back it reaches.
    oldest_ns: int | None
    detail: str


def extract_flows(
    ring: PcapRing,
    cids: Collection[str],
    start_ns: int,
    end_ns: int,
    *,
    max_bytes: int = 32 * 1024 * 1024,
) -> EvidenceResult:
    wanted = set(cids)
    oldest = ring.oldest_ns
    # Only what the ring deleted counts as aged out: a window that starts before the sensor's
    # first packet (the margin around an alert) is not missing anything.
    aged = start_ns < ring.aged_out_before
    parts: list[bytes] = []
    size = packets = 0
    truncated = False
    linktype: int | None = None
    for seg in ring.covering(start_ns, end_ns):
        if linktype is not None and seg.linktype != linktype:
            continue  # one pcap has one link type; a sensor's interface keeps its own
        try:
            reader = open_capture(seg.path)
        except (CaptureError, OSError):
            continue
        decoder = Decoder()
        try:
            for batch in reader.batches():
                dec = decoder.decode(batch)
                if not len(dec):
                    continue
                ids = community_ids(
                    dec["src_hi"], dec["src_lo"], dec["dst_hi"], dec["dst_lo"], dec["is_v6"],
                    dec["proto"], dec["sport"], dec["dport"],
                )  # fmt: skip
                hit = np.fromiter((c in wanted for c in ids), dtype=bool, count=len(ids))
                rows = np.unique(dec["row"][hit])
                ts = batch.ts_ns[rows]
                rows = rows[(ts >= start_ns) & (ts <= end_ns)]
                if not len(rows):
                    continue
                linktype = seg.linktype
                sub = _select(batch, rows)
                chunk = _records(sub)
                if size + len(chunk) > max_bytes:
                    truncated = True
                    break
                parts.append(chunk)
                size += len(chunk)
                packets += len(rows)
        except (CaptureError, OSError):
            pass  # aged out while read, or a half-written last record: what came before counts
        finally:
            reader.close()
        if truncated:
            break
    return _result(parts, packets, truncated, aged, oldest, linktype)


def _result(
    parts: list[bytes],
    packets: int,
    truncated: bool,
    aged: bool,
    oldest: int | None,
    linktype: int | None,
) -> EvidenceResult:
    if packets == 0:
        if aged:
            return EvidenceResult(
                "aged_out", b"", 0, False, oldest,
                "the packets aged out of the sensor's ring (it reaches back to "
                f"{_iso(oldest)})" if oldest is not None else "the sensor's ring is empty",
            )  # fmt: skip
        return EvidenceResult(
            "not_found", b"", 0, False, oldest, "no packets of these flows in the sensor's ring"
        )
    pcap = file_header(linktype or 1) + b"".join(parts)
    if aged:
        detail = f"{packets} packets; older ones aged out (the ring reaches back to {_iso(oldest)})"
        return EvidenceResult("partial", pcap, packets, truncated, oldest, detail)
    detail = f"{packets} packets" + (" (cut at the size limit)" if truncated else "")
    return EvidenceResult("complete", pcap, packets, truncated, oldest, detail)


def _select(batch: PacketBatch, rows: npt.NDArray[np.int64]) -> PacketBatch:
    return replace(
        batch,
        offset=batch.offset[rows],
        caplen=batch.caplen[rows],
        wirelen=batch.wirelen[rows],
        ts_ns=batch.ts_ns[rows],
        linktype=batch.linktype[rows],
    )


def _iso(ns: int | None) -> str:
    if ns is None:
        return "nothing"
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")
