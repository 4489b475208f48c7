"""Open a capture by sniffing its bytes: compression first, then the file format."""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys
from pathlib import Path
from typing import BinaryIO, cast

from pydantic import Field

from cityshield.errors import CaptureError
from cityshield.settings import Section
from sensors.sources import pcap, pcapng
from sensors.sources.reader import DECOMPRESS_ERRORS, CaptureReader, PrefixedStream

STDIN = "-"


class CaptureSettings(Section):
    """How capture files are read."""

    chunk_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    #: Largest packet record accepted; libpcap's own limit (MAXIMUM_SNAPLEN) is 262144 bytes.
    max_record_bytes: int = Field(262_144, ge=1514, le=16 * 1024 * 1024)


def open_capture(path: str | Path, settings: CaptureSettings | None = None) -> CaptureReader:
    """A reader for a capture file, or for stdin when ``path`` is ``-``."""
    settings = settings or CaptureSettings()
    name = str(path)
    raw: BinaryIO
    if name == STDIN:
        raw, name = sys.stdin.buffer, "<stdin>"
    else:
        p = Path(path)
        if p.is_dir():
            raise CaptureError("is a directory, not a capture file", where=name)
        try:
            raw = p.open("rb")
        except FileNotFoundError:
            raise CaptureError("no such file", where=name) from None
        except OSError as exc:
            raise CaptureError(f"cannot open: {exc.strerror}", where=name) from None
    try:
        return _reader(raw, name, settings)
    except BaseException:
        raw.close()
        raise


def _reader(raw: BinaryIO, name: str, settings: CaptureSettings) -> CaptureReader:
    head = raw.read(6)
    stream: BinaryIO = cast(BinaryIO, PrefixedStream(head, raw))
    if head[:2] == b"\x1f\x8b":
        stream = cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
    elif head[:3] == b"BZh":
        stream = cast(BinaryIO, bz2.BZ2File(stream, mode="rb"))
    elif head[:6] == b"\xfd7zXZ\x00":
        stream = cast(BinaryIO, lzma.LZMAFile(stream, mode="rb"))  # noqa: SIM115 (reader closes)
    try:
        magic = stream.read(4)
    except DECOMPRESS_ERRORS as exc:
        raise CaptureError(f"cannot decompress: {exc}", where=name) from None
    if not magic:
        raise CaptureError("empty file, not a capture", where=name)
    options = {
        "chunk_bytes": settings.chunk_bytes,
        "max_record_bytes": settings.max_record_bytes,
    }
    body = cast(BinaryIO, PrefixedStream(magic, stream, owner=raw))
    if magic in pcap.MAGIC:
        return pcap.PcapReader(body, name, **options)
    if magic == pcapng.MAGIC:
        return pcapng.PcapngReader(body, name, **options)
    raise CaptureError(f"not a pcap or pcapng capture (starts with {magic.hex()})", where=name)
