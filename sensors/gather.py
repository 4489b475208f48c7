"""Vectorised reads of integers at many offsets of one byte buffer.

The decoder reads header fields of thousands of packets at once: ``be16(data, off + 12)`` is the
EtherType of every frame in a batch. Buffers carry ``PAD`` spare zero bytes at their end so that a
read just past a short packet never leaves the buffer; callers check lengths before trusting values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

#: Spare zero bytes at the end of every batch buffer.
PAD = 128


def padded(raw: bytes | bytearray | memoryview) -> U8:
    """A read-only byte array of ``raw`` followed by ``PAD`` zero bytes."""
    out = np.zeros(len(raw) + PAD, dtype=np.uint8)
    out[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    out.flags.writeable = False
    return out


def u8(data: U8, idx: I64) -> npt.NDArray[np.uint8]:
    return data[idx]


def be16(data: U8, idx: I64) -> npt.NDArray[Any]:
    return (data[idx].astype(np.uint32) << 8) | data[idx + 1]


def le16(data: U8, idx: I64) -> npt.NDArray[Any]:
    return data[idx].astype(np.uint32) | (data[idx + 1].astype(np.uint32) << 8)


def be32(data: U8, idx: I64) -> npt.NDArray[Any]:
    return (
        (data[idx].astype(np.uint32) << 24)
        | (data[idx + 1].astype(np.uint32) << 16)
        | (data[idx + 2].astype(np.uint32) << 8)
        | data[idx + 3]
    )


def le32(data: U8, idx: I64) -> npt.NDArray[Any]:
    return (
        data[idx].astype(np.uint32)
        | (data[idx + 1].astype(np.uint32) << 8)
        | (data[idx + 2].astype(np.uint32) << 16)
        | (data[idx + 3].astype(np.uint32) << 24)
    )


def be64(data: U8, idx: I64) -> npt.NDArray[Any]:
    hi = be32(data, idx).astype(np.uint64)
    lo = be32(data, idx + 4).astype(np.uint64)
    return (hi << np.uint64(32)) | lo
