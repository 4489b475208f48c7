"""Classic pcap: the four magic numbers, timestamps to the nanosecond, chunking and corruption."""

from __future__ import annotations

import struct
from contextlib import closing

import pytest
from sensorkit import (
    Record,
    WriteCapture,
    frames_of,
    pcap_file,
    pcap_header,
    pcap_record,
    read_capture,
)

from cityshield.errors import CaptureError
from sensors.sources import CaptureSettings, open_capture
from sensors.sources import linktype as lt
from sensors.sources.pcap import PcapReader

RECORDS = [
    Record(1_700_000_000, 123_456, b"\x01" * 60),
    Record(1_700_000_001, 999_999, b"\x02" * 70, wirelen=1514),
    Record(0, 0, b"\x03" * 14),
]


@pytest.mark.parametrize("endian", ["<", ">"])
def test_microsecond_files_in_both_byte_orders(write_capture: WriteCapture, endian: str) -> None:
    path = write_capture(pcap_file(RECORDS, endian=endian, linktype=lt.ETHERNET))
    with closing(open_capture(path)) as reader:
        assert isinstance(reader, PcapReader)
        assert reader.nanoseconds is False
        batches = list(reader.batches())
    assert len(batches) == 1
    b = batches[0]
    assert b.ts_ns.tolist() == [1_700_000_000_123_456_000, 1_700_000_001_999_999_000, 0]
    assert b.caplen.tolist() == [60, 70, 14]
    assert b.wirelen.tolist() == [60, 1514, 14]
    assert b.linktype.tolist() == [1, 1, 1]
    assert b.frames.tolist() == [1, 2, 3]
    assert b.capture == str(path)
    assert frames_of(batches) == [r.data for r in RECORDS]
    assert reader.packets == 3
    assert reader.problems == []


@pytest.mark.parametrize("endian", ["<", ">"])
def test_nanosecond_files_in_both_byte_orders(write_capture: WriteCapture, endian: str) -> None:
    records = [Record(1_700_000_000, 123_456_789, b"\xaa" * 40), Record(5, 999_999_999, b"\xbb")]
    path = write_capture(pcap_file(records, endian=endian, nano=True, linktype=lt.RAW))
    with closing(open_capture(path)) as reader:
        assert isinstance(reader, PcapReader)
        assert reader.nanoseconds is True
        (b,) = list(reader.batches())
    assert b.ts_ns.tolist() == [1_700_000_000_123_456_789, 5_999_999_999]
    assert b.linktype.tolist() == [lt.RAW, lt.RAW]
    assert frames_of([b]) == [r.data for r in records]


def test_magic_bytes_on_disk_match_the_four_variants() -> None:
    # The header builder must produce the four magics the reader knows (byte literals both ways).
    assert pcap_header(endian="<")[:4] == b"\xd4\xc3\xb2\xa1"
    assert pcap_header(endian=">")[:4] == b"\xa1\xb2\xc3\xd4"
    assert pcap_header(endian="<", nano=True)[:4] == b"\x4d\x3c\xb2\xa1"
    assert pcap_header(endian=">", nano=True)[:4] == b"\xa1\xb2\x3c\x4d"


def test_link_type_upper_bits_carry_fcs_length_and_are_ignored(write_capture: WriteCapture) -> None:
    # Bits 26-31 of the link type field: the FCS length and its flag (draft-ietf-opsawg-pcap).
    path = write_capture(pcap_file(RECORDS[:1], linktype=lt.ETHERNET | 0x1000_0000 | 0x0400_0000))
    (b,), _ = read_capture(path)
    assert b.linktype.tolist() == [lt.ETHERNET]


def test_header_only_file_gives_no_batches(write_capture: WriteCapture) -> None:
    batches, problems = read_capture(write_capture(pcap_file([])))
    assert batches == []
    assert problems == []


def test_records_straddling_chunks_are_all_delivered(write_capture: WriteCapture) -> None:
    # 300 records of 16 + 1000..1299 bytes: ~345 KiB, more than five 64 KiB chunks, and record
    # boundaries fall at every kind of offset relative to the chunks.
    records = [Record(i, i, bytes([i % 251]) * (1000 + i)) for i in range(300)]
    raw = pcap_file(records)
    assert len(raw) > 5 * 65536
    batches, problems = read_capture(write_capture(raw), CaptureSettings(chunk_bytes=65536))
    assert len(batches) >= 5
    assert problems == []
    assert frames_of(batches) == [r.data for r in records]
    frames = [f for b in batches for f in b.frames.tolist()]
    assert frames == list(range(1, 301))
    ts = [t for b in batches for t in b.ts_ns.tolist()]
    assert ts == [i * 1_000_000_000 + i * 1000 for i in range(300)]


def test_record_larger_than_a_chunk(write_capture: WriteCapture) -> None:
    big = bytes(range(256)) * 400  # 102,400 bytes, more than the 65,536-byte chunk
    records = [Record(1, 0, b"a" * 10), Record(2, 0, big), Record(3, 0, b"z" * 10)]
    batches, problems = read_capture(
        write_capture(pcap_file(records)), CaptureSettings(chunk_bytes=65536)
    )
    assert frames_of(batches) == [b"a" * 10, big, b"z" * 10]
    assert problems == []


def test_truncated_last_record_is_a_problem_not_an_error(write_capture: WriteCapture) -> None:
    records = [Record(1, i, bytes([i]) * 60) for i in range(5)]
    raw = pcap_file(records)
    batches, problems = read_capture(write_capture(raw[:-10]))
    assert frames_of(batches) == [r.data for r in records[:4]]
    assert problems == ["capture ends inside the record of frame 5 (66 bytes ignored)"]


def test_truncated_record_header_is_a_problem(write_capture: WriteCapture) -> None:
    raw = pcap_file([Record(1, 0, b"x" * 20)]) + b"\x01\x02\x03"
    batches, problems = read_capture(write_capture(raw))
    assert frames_of(batches) == [b"x" * 20]
    assert problems == ["capture ends inside the record of frame 2 (3 bytes ignored)"]


@pytest.mark.parametrize("endian", ["<", ">"])
def test_corrupt_record_length_names_file_frame_and_offset(
    write_capture: WriteCapture, endian: str
) -> None:
    records = [Record(1, i, bytes([i]) * 60) for i in range(5)]
    raw = bytearray(pcap_file(records, endian=endian))
    third = 24 + 2 * (16 + 60)
    raw[third + 8 : third + 12] = struct.pack(endian + "I", 10_000_000)
    path = write_capture(bytes(raw))
    got: list[bytes] = []
    with closing(open_capture(path)) as reader, pytest.raises(CaptureError) as info:
        for b in reader.batches():
            got += [b.frame_bytes(i) for i in range(len(b))]
    assert got == [records[0].data, records[1].data]
    assert info.value.where == f"{path}, frame 3, byte {third}"
    assert "10000000 captured bytes" in info.value.message


def test_corrupt_length_after_a_chunk_boundary_has_file_offset(write_capture: WriteCapture) -> None:
    records = [Record(1, i, b"p" * 1000) for i in range(200)]
    raw = bytearray(pcap_file(records))
    at = 24 + 150 * 1016  # frame 151, well past the first 64 KiB chunk
    raw[at + 8 : at + 12] = struct.pack("<I", 0xFFFFFFFF)
    settings = CaptureSettings(chunk_bytes=65536)
    delivered = 0
    with (
        closing(open_capture(write_capture(bytes(raw)), settings)) as reader,
        pytest.raises(CaptureError) as info,
    ):
        for b in reader.batches():
            delivered += len(b)
    assert delivered == 150
    assert info.value.where is not None
    assert info.value.where.endswith(f"frame 151, byte {at}")


def test_snaplen_above_the_default_limit_raises_the_limit(write_capture: WriteCapture) -> None:
    big = b"j" * 300_000  # a jumbo record, allowed because the file's snap length says so
    path = write_capture(pcap_file([Record(1, 0, big)], snaplen=400_000))
    batches, problems = read_capture(path)
    assert frames_of(batches) == [big]
    assert problems == []


def test_record_above_limit_without_snaplen_is_corrupt(write_capture: WriteCapture) -> None:
    path = write_capture(pcap_file([Record(1, 0, b"k" * 300_000)], snaplen=65535))
    with pytest.raises(CaptureError, match="frame 1, byte 24"):
        read_capture(path)


def test_unknown_link_type_is_refused_at_open(write_capture: WriteCapture) -> None:
    path = write_capture(pcap_file(RECORDS, linktype=147))  # LINKTYPE_USER0
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert info.value.where == str(path)
    assert "unsupported link type unknown (147)" in info.value.message


def test_header_cut_short(write_capture: WriteCapture) -> None:
    with pytest.raises(CaptureError, match="file ends inside the pcap file header"):
        open_capture(write_capture(pcap_header()[:20]))


def test_bytes_read_counts_the_whole_file(write_capture: WriteCapture) -> None:
    raw = pcap_file(RECORDS)
    with closing(open_capture(write_capture(raw))) as reader:
        list(reader.batches())
    assert reader.bytes_read == len(raw)


def test_record_builder_round_trip() -> None:
    rec = Record(2, 3, b"\xde\xad", wirelen=9)
    assert pcap_record(rec, endian=">") == (
        b"\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x09\xde\xad"
    )
