"""The unit of work between capture and decode: many packets in one buffer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PacketBatch:
    """Packets read from one capture, in capture order.

    ``data`` holds the raw bytes; packet ``i`` is ``data[offset[i] : offset[i] + caplen[i]]``.
    Frame numbers count from 1 per capture file, like Wireshark's.
    """

    data: npt.NDArray[np.uint8]
    offset: I64
    caplen: I64
    wirelen: I64
    ts_ns: I64
    linktype: npt.NDArray[np.int32]
    first_frame: int
    capture: str

    def __len__(self) -> int:
        return len(self.offset)

    @property
    def frames(self) -> I64:
        return np.arange(self.first_frame, self.first_frame + len(self.offset), dtype=np.int64)

    def frame_bytes(self, i: int) -> bytes:
        """One packet's captured bytes (for slow paths and tests, not the hot loop)."""
        start = int(self.offset[i])
        return self.data[start : start + int(self.caplen[i])].tobytes()
