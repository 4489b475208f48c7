"""pcapng: interfaces with their own link types and clocks, sections, block kinds, corruption."""

from __future__ import annotations

import struct
from contextlib import closing

import pytest
from sensorkit import (
    WriteCapture,
    column,
    frames_of,
    ng_block,
    ng_epb,
    ng_idb,
    ng_pb,
    ng_shb,
    ng_spb,
    read_capture,
)

from cityshield.errors import CaptureError
from sensors.sources import CaptureSettings, open_capture
from sensors.sources import linktype as lt
from sensors.sources.pcapng import PcapngReader

ETH = b"\xee" * 60
RAW4 = b"\x45" + b"\x00" * 19


@pytest.mark.parametrize("endian", ["<", ">"])
def test_interfaces_with_own_link_type_resolution_and_offset(
    write_capture: WriteCapture, endian: str
) -> None:
    raw = (
        ng_shb(endian=endian)
        + ng_idb(lt.ETHERNET, endian=endian)  # default resolution: microseconds
        + ng_idb(lt.RAW, tsresol=9, endian=endian)  # nanoseconds
        + ng_idb(lt.LINUX_SLL, tsresol=3, tsoffset=1_000, endian=endian)  # ms, +1000 s
        + ng_epb(0, 1_700_000_000_123_456, ETH, endian=endian)
        + ng_epb(1, 1_700_000_000_123_456_789, RAW4, endian=endian)
        + ng_epb(2, 42_001, b"\x00" * 16, wirelen=100, endian=endian)
    )
    path = write_capture(raw, "x.pcapng")
    with closing(open_capture(path)) as reader:
        assert isinstance(reader, PcapngReader)
        batches = list(reader.batches())
    assert column(batches, "ts_ns") == [
        1_700_000_000_123_456_000,
        1_700_000_000_123_456_789,
        (1_000 + 42) * 10**9 + 1_000_000,
    ]
    assert column(batches, "linktype") == [lt.ETHERNET, lt.RAW, lt.LINUX_SLL]
    assert column(batches, "caplen") == [60, 20, 16]
    assert column(batches, "wirelen") == [60, 20, 100]
    assert column(batches, "frames") == [1, 2, 3]
    assert frames_of(batches) == [ETH, RAW4, b"\x00" * 16]
    assert reader.problems == []


@pytest.mark.parametrize(
    ("k", "ticks"),
    [
        (10, 5 * 1024 + 512),  # 5.5 s
        (20, 1_700_000_000 * 2**20 + 1),  # one tick past a realistic epoch second
        (20, 1_700_000_000 * 2**20 + 2**20 - 1),
        (30, 1_700_000_000 * 2**30 + 123_456_789),
        (32, 1_700_000_000 * 2**32 + 2**31 + 3),
    ],
)
def test_power_of_two_resolution_is_exact(write_capture: WriteCapture, k: int, ticks: int) -> None:
    raw = ng_shb() + ng_idb(lt.RAW, tsresol=0x80 | k) + ng_epb(0, ticks, RAW4)
    batches, _ = read_capture(write_capture(raw, "p.pcapng"))
    # Truncated to the nanosecond, like the decimal resolutions finer than nanoseconds.
    assert column(batches, "ts_ns") == [ticks * 10**9 >> k]


def test_decimal_resolution_finer_than_nanoseconds_truncates(write_capture: WriteCapture) -> None:
    raw = ng_shb() + ng_idb(lt.RAW, tsresol=12) + ng_epb(0, 1_700_000_123_456_789_999, RAW4)
    batches, _ = read_capture(write_capture(raw, "ps.pcapng"))
    assert column(batches, "ts_ns") == [1_700_000_123_456_789]


def test_negative_tsoffset(write_capture: WriteCapture) -> None:
    raw = ng_shb() + ng_idb(lt.RAW, tsresol=0, tsoffset=-10) + ng_epb(0, 100, RAW4)
    batches, _ = read_capture(write_capture(raw, "o.pcapng"))
    assert column(batches, "ts_ns") == [90 * 10**9]


def test_sections_restart_interface_numbering_and_may_change_byte_order(
    write_capture: WriteCapture,
) -> None:
    raw = (
        ng_shb()
        + ng_idb(lt.ETHERNET, tsresol=9)
        + ng_epb(0, 1, ETH)
        + ng_shb(endian=">")
        + ng_idb(lt.RAW, tsresol=9, endian=">")
        + ng_idb(lt.ETHERNET, tsresol=0, endian=">")
        + ng_epb(0, 2, RAW4, endian=">")
        + ng_epb(1, 3, ETH, endian=">")
        + ng_shb()
        + ng_idb(lt.NULL, tsresol=6)
        + ng_epb(0, 4, b"\x02\x00\x00\x00" + RAW4)
    )
    batches, problems = read_capture(write_capture(raw, "s.pcapng"))
    assert problems == []
    assert column(batches, "linktype") == [lt.ETHERNET, lt.RAW, lt.ETHERNET, lt.NULL]
    assert column(batches, "ts_ns") == [1, 2, 3 * 10**9, 4_000]
    assert frames_of(batches) == [ETH, RAW4, ETH, b"\x02\x00\x00\x00" + RAW4]


def test_interface_of_an_earlier_section_is_unknown_in_a_later_one(
    write_capture: WriteCapture,
) -> None:
    raw = ng_shb() + ng_idb(lt.ETHERNET) + ng_idb(lt.RAW) + ng_shb() + ng_idb(lt.RAW)
    second_epb = len(raw)
    raw += ng_epb(0, 1, RAW4) + ng_epb(1, 2, RAW4)
    second_epb += len(ng_epb(0, 1, RAW4))
    path = write_capture(raw, "u.pcapng")
    delivered = 0
    with closing(open_capture(path)) as reader, pytest.raises(CaptureError) as info:
        for b in reader.batches():
            delivered += len(b)
    assert delivered == 1
    assert info.value.where == f"{path}, frame 2, byte {second_epb}"
    assert "unknown interface" in info.value.message


def test_simple_packet_blocks_use_interface_zero_snaplen_and_have_no_time(
    write_capture: WriteCapture,
) -> None:
    raw = (
        ng_shb()
        + ng_idb(lt.ETHERNET, snaplen=64)
        + ng_spb(ETH, wirelen=60)
        + ng_spb(b"\x11" * 64, wirelen=1514)  # captured up to the snap length
        + ng_spb(b"\x22" * 30, wirelen=30)
    )
    batches, problems = read_capture(write_capture(raw, "spb.pcapng"))
    assert problems == []
    assert column(batches, "caplen") == [60, 64, 30]
    assert column(batches, "wirelen") == [60, 1514, 30]
    assert column(batches, "linktype") == [lt.ETHERNET] * 3
    # An SPB carries no timestamp (pcapng section 4.4); libpcap reports zero, so do we.
    assert column(batches, "ts_ns") == [0, 0, 0]
    assert frames_of(batches) == [ETH, b"\x11" * 64, b"\x22" * 30]


def test_simple_packet_block_without_snaplen_uses_its_length(write_capture: WriteCapture) -> None:
    # snaplen 0 means "no limit"; the captured length is the original length, here padded to 4.
    raw = ng_shb() + ng_idb(lt.RAW) + ng_spb(RAW4 + b"\x01", wirelen=21)
    batches, _ = read_capture(write_capture(raw, "spb0.pcapng"))
    assert column(batches, "caplen") == [21]
    assert frames_of(batches) == [RAW4 + b"\x01"]


def test_obsolete_packet_block(write_capture: WriteCapture) -> None:
    raw = ng_shb() + ng_idb(lt.ETHERNET) + ng_idb(lt.RAW, tsresol=9) + ng_pb(1, 77, RAW4)
    batches, _ = read_capture(write_capture(raw, "pb.pcapng"))
    assert column(batches, "linktype") == [lt.RAW]
    assert column(batches, "ts_ns") == [77]
    assert frames_of(batches) == [RAW4]


def test_other_blocks_are_skipped(write_capture: WriteCapture) -> None:
    nrb = ng_block(4, b"\x00\x00\x00\x00")  # Name Resolution Block, empty
    isb = ng_block(5, struct.pack("<III", 0, 0, 0))  # Interface Statistics Block
    custom = ng_block(0x00000BAD, b"\x00\x00\x7e\x4f" + b"payload")
    raw = ng_shb() + ng_idb(lt.RAW) + nrb + ng_epb(0, 1, RAW4) + isb + custom + ng_epb(0, 2, RAW4)
    batches, problems = read_capture(write_capture(raw, "other.pcapng"))
    assert column(batches, "frames") == [1, 2]
    assert column(batches, "ts_ns") == [1000, 2000]
    assert problems == []


def test_unsupported_interface_link_type_is_a_problem(write_capture: WriteCapture) -> None:
    raw = ng_shb() + ng_idb(147) + ng_idb(lt.RAW) + ng_epb(0, 1, b"?" * 8) + ng_epb(1, 2, RAW4)
    batches, problems = read_capture(write_capture(raw, "lt.pcapng"))
    assert column(batches, "linktype") == [147, lt.RAW]
    assert problems == [
        "interface 0 has unsupported link type unknown (147); its packets are counted, not decoded"
    ]


def test_records_straddling_chunks(write_capture: WriteCapture) -> None:
    payloads = [bytes([i % 256]) * (900 + 7 * i) for i in range(200)]
    raw = ng_shb() + ng_idb(lt.RAW, tsresol=9)
    raw += b"".join(ng_epb(0, i, p) for i, p in enumerate(payloads))
    assert len(raw) > 4 * 65536
    batches, problems = read_capture(
        write_capture(raw, "c.pcapng"), CaptureSettings(chunk_bytes=65536)
    )
    assert len(batches) >= 4
    assert problems == []
    assert frames_of(batches) == payloads
    assert column(batches, "frames") == list(range(1, 201))
    assert column(batches, "ts_ns") == list(range(200))


def test_section_and_interface_blocks_after_a_chunk_boundary(write_capture: WriteCapture) -> None:
    filler = b"".join(ng_epb(0, i, b"f" * 1000) for i in range(80))
    raw = ng_shb() + ng_idb(lt.ETHERNET) + filler + ng_shb(endian=">")
    raw += ng_idb(lt.RAW, tsresol=9, endian=">") + ng_epb(0, 5, RAW4, endian=">")
    batches, _ = read_capture(write_capture(raw, "b.pcapng"), CaptureSettings(chunk_bytes=65536))
    assert column(batches, "linktype")[-1] == lt.RAW
    assert column(batches, "ts_ns")[-1] == 5
    assert frames_of(batches)[-1] == RAW4
    assert len(frames_of(batches)) == 81


def test_truncated_last_block_is_a_problem(write_capture: WriteCapture) -> None:
    raw = ng_shb() + ng_idb(lt.RAW) + ng_epb(0, 1, RAW4) + ng_epb(0, 2, RAW4)
    batches, problems = read_capture(write_capture(raw[:-6], "t.pcapng"))
    assert column(batches, "frames") == [1]
    assert problems == ["capture ends inside a block after frame 1 (46 bytes ignored)"]


@pytest.mark.parametrize("bad_length", [8, 13, 0xFFFFFFF0])
def test_corrupt_block_length(write_capture: WriteCapture, bad_length: int) -> None:
    head = ng_shb() + ng_idb(lt.RAW) + ng_epb(0, 1, RAW4)
    bad = bytearray(ng_epb(0, 2, RAW4))
    bad[4:8] = struct.pack("<I", bad_length)
    path = write_capture(head + bytes(bad) + ng_epb(0, 3, RAW4), "bl.pcapng")
    delivered = 0
    with closing(open_capture(path)) as reader, pytest.raises(CaptureError) as info:
        for b in reader.batches():
            delivered += len(b)
    assert delivered == 1
    assert info.value.where == f"{path}, frame 2, byte {len(head)}"


def test_captured_length_beyond_its_block(write_capture: WriteCapture) -> None:
    head = ng_shb() + ng_idb(lt.RAW) + ng_epb(0, 1, RAW4)
    bad = bytearray(ng_epb(0, 2, RAW4))
    bad[20:24] = struct.pack("<I", 400)  # captured length: more than the block holds
    path = write_capture(head + bytes(bad), "cl.pcapng")
    with pytest.raises(CaptureError) as info:
        read_capture(path)
    assert info.value.where == f"{path}, frame 2, byte {len(head)}"
    assert "captured length" in info.value.message


def test_bad_byte_order_magic(write_capture: WriteCapture) -> None:
    shb = bytearray(ng_shb())
    shb[8:12] = b"\x00\x11\x22\x33"
    path = write_capture(bytes(shb) + ng_idb(lt.RAW), "bom.pcapng")
    with pytest.raises(CaptureError, match="bad byte-order magic") as info:
        read_capture(path)
    assert info.value.where == f"{path}, byte 0"


@pytest.mark.parametrize("resol", [19, 0x80 | 64])
def test_time_resolution_out_of_range(write_capture: WriteCapture, resol: int) -> None:
    raw = ng_shb() + ng_idb(lt.RAW, tsresol=resol) + ng_epb(0, 1, RAW4)
    with pytest.raises(CaptureError, match="time resolution"):
        read_capture(write_capture(raw, "r.pcapng"))


def test_builders_match_the_format() -> None:
    # Byte literals for the SHB and an EPB (pcapng draft, sections 4.1 and 4.3), little-endian.
    assert ng_shb() == (
        b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00"
        b"\xff\xff\xff\xff\xff\xff\xff\xff\x1c\x00\x00\x00"
    )
    assert ng_epb(1, 0x1_0000_0002, b"\xab") == (
        b"\x06\x00\x00\x00\x24\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"
        b"\x01\x00\x00\x00\x01\x00\x00\x00\xab\x00\x00\x00\x24\x00\x00\x00"
    )


def test_section_header_claiming_megabytes_is_corrupt(write_capture: WriteCapture) -> None:
    head = ng_shb() + ng_idb(lt.RAW) + ng_epb(0, 1, RAW4)
    bad = bytearray(ng_shb())
    bad[4:8] = struct.pack("<I", 8 * 1024 * 1024)
    path = write_capture(head + bytes(bad), "big-shb.pcapng")
    delivered = 0
    with closing(open_capture(path)) as reader, pytest.raises(CaptureError) as info:
        for b in reader.batches():
            delivered += len(b)
    assert delivered == 1
    assert info.value.where == f"{path}, byte {len(head)}"
    assert "claims 8388608 bytes" in info.value.message
