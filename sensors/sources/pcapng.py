"""pcapng files: several sections and interfaces, each with its own link type and time resolution.

Format: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/ . Enhanced, Simple and obsolete
Packet Blocks carry packets; Interface Description Blocks give link type, snap length and the
``if_tsresol``/``if_tsoffset`` options; other blocks are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from cityshield.errors import CaptureError
from sensors.gather import be16, be32, le16, le32
from sensors.sources import linktype as lt
from sensors.sources.batch import PacketBatch
from sensors.sources.reader import CaptureReader

SHB = 0x0A0D0D0A
IDB = 1
PB = 2  # obsolete Packet Block
SPB = 3
EPB = 6
MAGIC = b"\x0a\x0d\x0d\x0a"
_BOM_LE = b"\x4d\x3c\x2b\x1a"
_BOM_BE = b"\x1a\x2b\x3c\x4d"
_PACKET_BLOCKS = (EPB, PB, SPB)


@dataclass(frozen=True, slots=True)
class Interface:
    linktype: int
    snaplen: int
    tsresol: int = 6  # exponent; negative base-10 unless ``pow2``
    pow2: bool = False
    tsoffset_s: int = 0

    def to_ns(self, ticks: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        if self.pow2:
            # Integer arithmetic: float64 loses up to ~128 ns at present-day epoch times.
            k = self.tsresol
            shift = max(k - 34, 0)  # keep frac * 10**9 within 64 bits
            frac = (ticks & np.uint64((1 << k) - 1)) >> np.uint64(shift)
            frac_ns = (frac * np.uint64(1_000_000_000)) >> np.uint64(k - shift)
            out = (ticks >> np.uint64(k)).astype(np.int64) * 1_000_000_000
            out += frac_ns.astype(np.int64)
        elif self.tsresol <= 9:
            out = ticks.astype(np.int64) * (10 ** (9 - self.tsresol))
        else:
            out = (ticks // np.uint64(10 ** (self.tsresol - 9))).astype(np.int64)
        return out + self.tsoffset_s * 1_000_000_000


class PcapngReader(CaptureReader):
    def __init__(
        self, stream: BinaryIO, name: str, *, chunk_bytes: int, max_record_bytes: int
    ) -> None:
        super().__init__(stream, name, chunk_bytes=chunk_bytes, max_record_bytes=max_record_bytes)
        self.interfaces: list[Interface] = []
        self._section_base = 0  # index in ``interfaces`` of this section's interface 0
        self._big = False

    def batches(self) -> Iterator[PacketBatch]:
        leftover: bytes | memoryview = b""
        frame = 1
        base = 0
        while True:
            buf, valid = self._fill(leftover)
            if valid == len(leftover):
                break
            blocks, pos, error = self._walk(buf, valid, frame, base)
            if blocks[0]:
                batch, error2 = self._batch(buf, blocks, frame, base)
                if len(batch):
                    frame += len(batch)
                    self.packets += len(batch)
                    yield batch
                error = error2 or error
            if error is not None:
                raise error
            leftover = memoryview(buf)[pos:valid]
            base += pos
        if leftover:
            self.problems.append(
                f"capture ends inside a block after frame {frame - 1} "
                f"({len(leftover)} bytes ignored)"
            )

    # -- block walk ---------------------------------------------------------------------------
    def _walk(
        self, buf: bytearray, n: int, first_frame: int, base: int
    ) -> tuple[tuple[list[int], list[int], list[int], list[int]], int, CaptureError | None]:
        """Positions, kinds, section bases and byte orders of the complete packet blocks."""
        positions: list[int] = []
        kinds: list[int] = []
        bases: list[int] = []
        bigs: list[int] = []
        pos = 0
        limit = self.max_record_bytes + 65536  # room for options
        while pos + 12 <= n:
            if buf[pos : pos + 4] == MAGIC:
                bom = buf[pos + 8 : pos + 12]
                if bom not in (_BOM_LE, _BOM_BE):
                    return (
                        (positions, kinds, bases, bigs),
                        pos,
                        self._error(
                            "section header block with a bad byte-order magic",
                            offset=base + pos,
                        ),
                    )
                self._big = bom == _BOM_BE
            endian = ">" if self._big else "<"
            btype, blen = struct.unpack_from(endian + "II", buf, pos)
            if blen < 12 or blen % 4 or (blen > limit and btype != SHB and btype != IDB):
                return (
                    (positions, kinds, bases, bigs),
                    pos,
                    self._error(
                        f"corrupt block: type {btype:#x} claims {blen} bytes",
                        frame=first_frame + len(positions),
                        offset=base + pos,
                    ),
                )
            if pos + blen > n:
                if btype in (SHB, IDB) and blen > 1024 * 1024:
                    return (
                        (positions, kinds, bases, bigs),
                        pos,
                        self._error(
                            f"corrupt block: type {btype:#x} claims {blen} bytes", offset=base + pos
                        ),
                    )
                break
            if btype in _PACKET_BLOCKS:
                positions.append(pos)
                kinds.append(btype)
                bases.append(self._section_base)
                bigs.append(self._big)
            elif btype == SHB:
                self._section_base = len(self.interfaces)
            elif btype == IDB:
                try:
                    self.interfaces.append(self._interface(buf, pos, blen, endian))
                except CaptureError as exc:
                    return (positions, kinds, bases, bigs), pos, exc
            pos += blen
        return (positions, kinds, bases, bigs), pos, None

    def _interface(self, buf: bytearray, pos: int, blen: int, endian: str) -> Interface:
        linktype, _, snaplen = struct.unpack_from(endian + "HHI", buf, pos + 8)
        if linktype not in lt.SUPPORTED:
            # Other interfaces of the file may still be readable: count this one's packets as
            # undecodable instead of refusing the whole capture.
            self.problems.append(
                f"interface {len(self.interfaces) - self._section_base} has unsupported "
                f"link type {lt.describe(linktype)}; its packets are counted, not decoded"
            )
        tsresol, pow2, tsoffset = 6, False, 0
        opt = pos + 16
        end = pos + blen - 4
        while opt + 4 <= end:
            code, length = struct.unpack_from(endian + "HH", buf, opt)
            value = buf[opt + 4 : opt + 4 + length]
            if code == 0:
                break
            if code == 9 and length >= 1:
                pow2, tsresol = bool(value[0] & 0x80), value[0] & 0x7F
            elif code == 14 and length >= 8:
                tsoffset = struct.unpack(endian + "q", value[:8])[0]
            opt += 4 + length + (-length % 4)
        if (not pow2 and tsresol > 18) or (pow2 and tsresol > 63):
            raise CaptureError(
                f"interface time resolution {tsresol} is out of range", where=self.name
            )
        return Interface(linktype, snaplen, tsresol, pow2, tsoffset)

    # -- batch --------------------------------------------------------------------------------
    def _batch(
        self,
        buf: bytearray,
        blocks: tuple[list[int], list[int], list[int], list[int]],
        first_frame: int,
        base: int,
    ) -> tuple[PacketBatch, CaptureError | None]:
        data = np.frombuffer(buf, dtype=np.uint8)
        pos = np.asarray(blocks[0], dtype=np.int64)
        kind = np.asarray(blocks[1], dtype=np.int64)
        section_base = np.asarray(blocks[2], dtype=np.int64)
        big = np.asarray(blocks[3], dtype=bool)

        def r32(at: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
            return np.where(big, be32(data, at), le32(data, at)).astype(np.int64)

        def r16(at: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
            return np.where(big, be16(data, at), le16(data, at)).astype(np.int64)

        blen = r32(pos + 4)
        is_epb, is_pb, is_spb = kind == EPB, kind == PB, kind == SPB
        iface = np.where(is_epb, r32(pos + 8), np.where(is_pb, r16(pos + 8), 0)) + section_base
        ts = (r32(pos + 12).astype(np.uint64) << np.uint64(32)) | r32(pos + 16).astype(np.uint64)
        caplen = np.where(is_spb, 0, r32(pos + 20))
        wirelen = np.where(is_spb, r32(pos + 8), r32(pos + 24))
        offset = np.where(is_spb, pos + 12, pos + 28)

        bad = (iface >= len(self.interfaces)) | (iface < 0)
        nif = max(len(self.interfaces), 1)
        iface_c = np.clip(iface, 0, nif - 1)
        if is_spb.any():
            snaplens = np.array([i.snaplen or 2**31 for i in self.interfaces] or [0])
            caplen = np.where(
                is_spb, np.minimum(np.minimum(wirelen, snaplens[iface_c]), blen - 16), caplen
            )
        bad |= caplen > (blen - (offset - pos) - 4)
        bad |= caplen < 0
        error = None
        n = len(pos)
        if bad.any():
            n = int(np.argmax(bad))
            why = "unknown interface" if iface[n] >= len(self.interfaces) else "captured length"
            error = self._error(
                f"corrupt packet block ({why})", frame=first_frame + n, offset=base + int(pos[n])
            )
        linktypes = np.array([i.linktype for i in self.interfaces] or [0], dtype=np.int32)
        ts_ns = np.zeros(n, dtype=np.int64)
        for k in np.unique(iface_c[:n]).tolist():
            m = (iface_c[:n] == k) & ~is_spb[:n]
            ts_ns[m] = self.interfaces[k].to_ns(ts[:n][m])
        batch = PacketBatch(
            data=data,
            offset=offset[:n],
            caplen=caplen[:n],
            wirelen=wirelen[:n],
            ts_ns=ts_ns,
            linktype=linktypes[iface_c[:n]],
            first_frame=first_frame,
            capture=self.name,
        )
        return batch, error
