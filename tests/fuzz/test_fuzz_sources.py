"""Fuzz the capture readers: random files, and valid pcap/pcapng files with bytes changed or cut.

A reader may refuse a file (``CaptureError``) or report problems; it must never raise anything
else, and every packet it hands out must lie inside its batch's buffer.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
from contextlib import closing
from pathlib import Path

import pytest
from fuzzkit import FUZZ, edits, mutate, pcap_bytes, pcapng_bytes
from hypothesis import given
from hypothesis import strategies as st

from cityshield.errors import CaptureError
from sensors.sources import CaptureSettings, open_capture
from sensors.sources import linktype as lt

FRAMES = [bytes([i]) * (20 + 13 * i) for i in range(12)]
PCAP_SEEDS = [
    pcap_bytes(FRAMES, lt.ETHERNET),
    pcap_bytes(FRAMES, lt.RAW, endian=">"),
    pcap_bytes(FRAMES[:2], 147),
]
PCAPNG_SEEDS = [pcapng_bytes(FRAMES, [lt.ETHERNET, lt.RAW]), pcapng_bytes(FRAMES[:3], [lt.NULL])]
SMALL_CHUNKS = CaptureSettings(chunk_bytes=65536, max_record_bytes=4096)
_names = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-sources")


def _read(workdir: Path, data: bytes, settings: CaptureSettings | None = None) -> None:
    path = workdir / f"f{next(_names)}"
    path.write_bytes(data)
    try:
        with closing(open_capture(path, settings)) as reader:
            frames = 0
            for b in reader.batches():
                assert len(b) > 0
                assert (b.offset >= 0).all()
                assert (b.caplen >= 0).all()
                assert (b.offset + b.caplen <= len(b.data)).all()
                assert b.first_frame == frames + 1
                frames += len(b)
            assert reader.packets == frames
            assert all(isinstance(p, str) for p in reader.problems)
    except CaptureError as exc:
        assert exc.where is not None
        assert exc.where.startswith(str(path))
    finally:
        path.unlink()


@FUZZ
@given(st.binary(max_size=600))
def test_random_files(workdir: Path, data: bytes) -> None:
    _read(workdir, data)


MAGICS = [b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b", b"BZh",
          b"\xfd7zXZ\x00"]  # fmt: skip


@FUZZ
@given(st.sampled_from(MAGICS), st.binary(max_size=400))
def test_random_bodies_after_a_real_magic(workdir: Path, magic: bytes, body: bytes) -> None:
    _read(workdir, magic + body)


@FUZZ
@given(st.sampled_from(PCAP_SEEDS + PCAPNG_SEEDS), edits, st.one_of(st.none(), st.integers(0, 900)))
def test_mutated_captures(
    workdir: Path, seed: bytes, changes: list[tuple[int, int]], cut: int | None
) -> None:
    _read(workdir, mutate(seed, changes, cut))


@FUZZ
@given(st.sampled_from(PCAP_SEEDS + PCAPNG_SEEDS), edits, st.sampled_from(["gzip", "bzip2"]))
def test_mutated_compressed_captures(
    workdir: Path, seed: bytes, changes: list[tuple[int, int]], kind: str
) -> None:
    packed = gzip.compress(seed) if kind == "gzip" else bz2.compress(seed)
    _read(workdir, mutate(packed, changes, None))


@FUZZ
@given(st.sampled_from(PCAPNG_SEEDS + PCAP_SEEDS), edits, st.integers(0, 70_000))
def test_mutated_captures_with_small_chunks(
    workdir: Path, seed: bytes, changes: list[tuple[int, int]], filler: int
) -> None:
    # Enough packets to cross a 64 KiB chunk boundary somewhere in the file.
    big = seed + seed[24:] * (1 + filler // max(len(seed), 1)) if seed[:1] != b"\x0a" else seed
    _read(workdir, mutate(big, changes, None), SMALL_CHUNKS)
