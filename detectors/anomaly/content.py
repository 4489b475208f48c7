"""Payload entropy of the originator's first bytes, where reassembled content is seen.

Encrypted or compressed payload is close to 8 bits per byte, plain protocols well below; a
channel that is random where the site's traffic on that port is text stands out. Only the first
``sample_bytes`` of each flow count (bounded work), and at most ``max_flows`` flows are tracked
at once (the oldest are dropped, counted), so content can never grow memory without limit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sensors.events import StreamChunk

NOT_SEEN = -1.0


def byte_entropy(counts: npt.NDArray[np.int64]) -> float:
    total = int(counts.sum())
    if total == 0:
        return NOT_SEEN
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


class PayloadEntropy:
    def __init__(self, sample_bytes: int = 4096, max_flows: int = 100_000) -> None:
        self.sample_bytes = sample_bytes
        self.max_flows = max_flows
        self.evicted = 0
        self._flows: OrderedDict[str, tuple[npt.NDArray[np.int64], int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._flows)

    def on_chunks(self, chunks: Sequence[StreamChunk]) -> None:
        for chunk in chunks:
            if chunk.direction != "orig" or not chunk.data:
                continue
            key = chunk.flow.flow_id
            counts, seen = self._flows.get(key) or (np.zeros(256, np.int64), 0)
            if seen >= self.sample_bytes:
                continue
            start = max(chunk.overlap, 0) if seen else 0  # overlap was counted with the last chunk
            data = chunk.data[start : start + self.sample_bytes - seen]
            counts += np.bincount(np.frombuffer(data, np.uint8), minlength=256)
            self._flows[key] = (counts, seen + len(data))
            if len(self._flows) > self.max_flows:
                self._flows.popitem(last=False)
                self.evicted += 1

    def take(self, flow_ids: list[str]) -> npt.NDArray[np.float64]:
        """Entropy per flow (``NOT_SEEN`` for flows without content); forgets those flows."""
        out = np.full(len(flow_ids), NOT_SEEN)
        for i, fid in enumerate(flow_ids):
            entry = self._flows.pop(fid, None)
            if entry is not None:
                out[i] = byte_entropy(entry[0])
        return out
