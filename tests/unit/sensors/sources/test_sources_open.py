"""Opening captures: compression sniffing, stdin, and files that are not captures at all."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from sensorkit import (
    Record,
    WriteCapture,
    frames_of,
    ng_epb,
    ng_idb,
    ng_shb,
    pcap_file,
    read_capture,
)

from cityshield.errors import CaptureError
from sensors.sources import CaptureSettings, PacketBatch, open_capture
from sensors.sources import linktype as lt
from sensors.sources.pcap import PcapReader
from sensors.sources.pcapng import PcapngReader

REPO = Path(__file__).resolve().parents[4]
RECORDS = [Record(1_600_000_000 + i, i * 7, bytes([i]) * (40 + i)) for i in range(50)]
PCAP = pcap_file(RECORDS, linktype=lt.RAW)
PCAPNG = ng_shb() + ng_idb(lt.RAW) + b"".join(ng_epb(0, i, b"\x60" * 48) for i in range(5))

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


def _ts(batches: list[PacketBatch]) -> list[int]:
    return [t for b in batches for t in b.ts_ns.tolist()]


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_pcap(write_capture: WriteCapture, kind: str) -> None:
    batches, problems = read_capture(write_capture(COMPRESSORS[kind](PCAP), "c.pcap.z"))
    assert frames_of(batches) == [r.data for r in RECORDS]
    assert _ts(batches) == [(1_600_000_000 + i) * 10**9 + i * 7_000 for i in range(50)]
    assert problems == []


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_pcapng(write_capture: WriteCapture, kind: str) -> None:
    batches, _ = read_capture(write_capture(COMPRESSORS[kind](PCAPNG), "c.pcapng.z"))
    assert frames_of(batches) == [b"\x60" * 48] * 5
    assert _ts(batches) == [0, 1000, 2000, 3000, 4000]


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_capture_across_chunks(write_capture: WriteCapture, kind: str) -> None:
    records = [Record(i, 0, bytes([i % 256]) * 1200) for i in range(250)]
    raw = COMPRESSORS[kind](pcap_file(records))
    batches, problems = read_capture(
        write_capture(raw, "big.z"), CaptureSettings(chunk_bytes=65536)
    )
    assert len(batches) >= 4
    assert frames_of(batches) == [r.data for r in records]
    assert problems == []


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_stream_cut_short_is_a_capture_error(
    write_capture: WriteCapture, kind: str
) -> None:
    records = [Record(i, 0, bytes([i % 256]) * 1200) for i in range(100)]
    raw = COMPRESSORS[kind](pcap_file(records))
    path = write_capture(raw[: len(raw) // 2], "cut.z")
    with pytest.raises(CaptureError) as info:
        read_capture(path)
    assert info.value.where == str(path)


def test_compressed_garbage_is_a_capture_error(write_capture: WriteCapture) -> None:
    path = write_capture(b"\x1f\x8b\x08\x00" + b"\xff" * 40, "junk.gz")
    with pytest.raises(CaptureError, match="cannot decompress") as info:
        read_capture(path)
    assert info.value.where == str(path)


def test_compressed_empty_file(write_capture: WriteCapture) -> None:
    with pytest.raises(CaptureError, match="empty file"):
        read_capture(write_capture(gzip.compress(b""), "empty.gz"))


def test_reader_kind_follows_the_magic(write_capture: WriteCapture) -> None:
    with closing(open_capture(write_capture(PCAP, "a"))) as r1:
        assert isinstance(r1, PcapReader)
    with closing(open_capture(write_capture(PCAPNG, "b"))) as r2:
        assert isinstance(r2, PcapngReader)


def test_stdin_through_a_real_pipe() -> None:
    script = (
        "from sensors.sources import open_capture\n"
        "r = open_capture('-')\n"
        "n = [len(b) for b in r.batches()]\n"
        "print(r.name, sum(n), r.problems)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=gzip.compress(PCAP),
        capture_output=True,
        cwd=REPO,
        check=True,
    )
    assert done.stdout.decode().strip() == "<stdin> 50 []"


def test_stdin_monkeypatched(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeStdin:
        buffer = io.BytesIO(PCAPNG)

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    batches, problems = read_capture("-")
    assert frames_of(batches) == [b"\x60" * 48] * 5
    assert batches[0].capture == "<stdin>"
    assert problems == []


def test_stdin_not_a_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeStdin:
        buffer = io.BytesIO(b"GET / HTTP/1.1\r\n")

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    with pytest.raises(CaptureError) as info:
        open_capture("-")
    assert info.value.where == "<stdin>"


def test_empty_file(write_capture: WriteCapture) -> None:
    path = write_capture(b"", "empty.pcap")
    with pytest.raises(CaptureError, match="empty file, not a capture") as info:
        open_capture(path)
    assert info.value.where == str(path)


@pytest.mark.parametrize(
    ("content", "shown"),
    [(b"hello world", "68656c6c"), (b"PK\x03\x04zip", "504b0304"), (b"\x00", "00")],
)
def test_not_a_capture(write_capture: WriteCapture, content: bytes, shown: str) -> None:
    path = write_capture(content, "text.pcap")
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert info.value.message == f"not a pcap or pcapng capture (starts with {shown})"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pcap"
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert info.value.where == str(path)
    assert info.value.message == "no such file"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureError) as info:
        open_capture(tmp_path)
    assert info.value.message == "is a directory, not a capture file"
    assert str(info.value) == f"{tmp_path}: is a directory, not a capture file"


def test_settings_bounds() -> None:
    with pytest.raises(ValueError, match="chunk_bytes"):
        CaptureSettings(chunk_bytes=1024)
    with pytest.raises(ValueError, match="extra"):
        CaptureSettings(chunk=65536)  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_stream_corrupted_in_the_middle(write_capture: WriteCapture, kind: str) -> None:
    records = [Record(i, 0, bytes(range(256)) * 5) for i in range(400)]
    raw = bytearray(COMPRESSORS[kind](pcap_file(records)))
    middle = len(raw) // 2
    raw[middle : middle + 64] = bytes(64)
    path = write_capture(bytes(raw), "flip.z")
    with pytest.raises(CaptureError) as info:
        read_capture(path, CaptureSettings(chunk_bytes=65536))
    # Either the decompressor notices, or the garbage it produced is a corrupt record.
    assert info.value.where is not None
    assert info.value.where.startswith(str(path))


@pytest.mark.parametrize("kind", ["plain", *sorted(COMPRESSORS)])
def test_file_is_closed_with_its_reader(
    write_capture: WriteCapture, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    raw = PCAP if kind == "plain" else COMPRESSORS[kind](PCAP)
    path = write_capture(raw, "closed.z")
    opened: list[io.BufferedReader] = []
    real_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        f = real_open(self, *args, **kwargs)  # type: ignore[call-overload]
        opened.append(f)
        return f

    monkeypatch.setattr(Path, "open", spy)
    reader = open_capture(path)
    list(reader.batches())
    reader.close()
    assert len(opened) == 1
    assert opened[0].closed


@pytest.mark.parametrize(
    "content",
    [b"", b"nonsense", gzip.compress(b"nonsense", mtime=0)],
    ids=["empty", "nonsense", "gzip-of-nonsense"],
)
def test_file_is_closed_when_open_fails(
    write_capture: WriteCapture, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    path = write_capture(content, "bad")
    opened: list[io.BufferedReader] = []
    real_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        f = real_open(self, *args, **kwargs)  # type: ignore[call-overload]
        opened.append(f)
        return f

    monkeypatch.setattr(Path, "open", spy)
    with pytest.raises(CaptureError):
        open_capture(path)
    assert [f.closed for f in opened] == [True]
