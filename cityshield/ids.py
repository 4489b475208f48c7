"""Community ID v1 (https://github.com/corelight/community-id-spec) and deterministic record ids.

Community ID is computed for whole arrays of flows at once: the sensor ends thousands of flows per
batch, and building one small object per flow through the reference library costs more than the
flow tracking itself. ``tests/unit/cityshield/test_ids.py`` checks this implementation against the
reference library (``communityid`` on PyPI) on random tuples.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import struct

import numpy as np
import numpy.typing as npt

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMP6 = 58
PROTO_SCTP = 132

#: Protocols whose Community ID includes ports (ICMP types and codes count as ports).
PORT_PROTOS = frozenset({PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMP6, PROTO_SCTP})

# ICMP message types that have a counterpart (request and reply): the counterpart type stands in for
# the destination port so that both directions hash alike (the table Zeek and the spec share).
ICMP4_COUNTERPART = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_COUNTERPART = {
    128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133,
    135: 136, 136: 135, 139: 140, 140: 139, 144: 145, 145: 144,
}  # fmt: skip


def _counterpart_table(mapping: dict[int, int]) -> npt.NDArray[np.int32]:
    table = np.full(256, -1, dtype=np.int32)
    for k, v in mapping.items():
        table[k] = v
    return table


ICMP4_COUNTERPART_TABLE = _counterpart_table(ICMP4_COUNTERPART)
ICMP6_COUNTERPART_TABLE = _counterpart_table(ICMP6_COUNTERPART)

_MAPPED_V4_HI = np.uint64(0)
_MAPPED_V4_LO_TAG = np.uint64(0x0000FFFF00000000)


def icmp_ports(icmp_type: int, icmp_code: int, *, v6: bool) -> tuple[int, int, bool]:
    """Port equivalents of an ICMP message: (sport, dport, one_way)."""
    mapping = ICMP6_COUNTERPART if v6 else ICMP4_COUNTERPART
    if icmp_type in mapping:
        return icmp_type, mapping[icmp_type], False
    return icmp_type, icmp_code, True


def community_id(
    saddr: str,
    daddr: str,
    proto: int,
    sport: int = 0,
    dport: int = 0,
    *,
    seed: int = 0,
    one_way: bool = False,
) -> str:
    """Community ID of one flow given as text addresses; ICMP ports are already port equivalents."""
    s = ipaddress.ip_address(saddr).packed
    d = ipaddress.ip_address(daddr).packed
    ports = proto in PORT_PROTOS
    if not one_way and (s, sport) > (d, dport) if ports else s > d:
        s, d, sport, dport = d, s, dport, sport
    data = struct.pack("!H", seed) + s + d + struct.pack("!BB", proto, 0)
    if ports:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()


def community_ids(
    src_hi: npt.NDArray[np.uint64],
    src_lo: npt.NDArray[np.uint64],
    dst_hi: npt.NDArray[np.uint64],
    dst_lo: npt.NDArray[np.uint64],
    is_v6: npt.NDArray[np.bool_],
    proto: npt.NDArray[np.uint8],
    sport: npt.NDArray[np.uint16],
    dport: npt.NDArray[np.uint16],
    *,
    seed: int = 0,
) -> list[str]:
    """Community IDs of many flows.

    Addresses are 128-bit values split in two big-endian halves; IPv4 addresses are IPv4-mapped
    (``::ffff:a.b.c.d``) with ``is_v6`` false. ICMP ports are the flow's port equivalents: the
    originator's type as ``sport``; a type without counterpart makes the flow one-way (not
    reordered).
    """
    n = len(proto)
    out: list[str] = [""] * n
    if n == 0:
        return out
    proto_i = proto.astype(np.int32)
    sport_i = sport.astype(np.int32)
    one_way = np.zeros(n, dtype=bool)
    for p, table in ((PROTO_ICMP, ICMP4_COUNTERPART_TABLE), (PROTO_ICMP6, ICMP6_COUNTERPART_TABLE)):
        m = proto_i == p
        if m.any():
            one_way[m] = table[np.minimum(sport_i[m], 255)] < 0
    has_ports = np.isin(proto_i, list(PORT_PROTOS))
    # Order endpoints: the smaller address (then port) first, unless one-way.
    src_gt = (src_hi > dst_hi) | ((src_hi == dst_hi) & (src_lo > dst_lo))
    same = (src_hi == dst_hi) & (src_lo == dst_lo)
    swap = ~one_way & (src_gt | (same & has_ports & (sport > dport)))
    a_hi = np.where(swap, dst_hi, src_hi)
    a_lo = np.where(swap, dst_lo, src_lo)
    b_hi = np.where(swap, src_hi, dst_hi)
    b_lo = np.where(swap, src_lo, dst_lo)
    pa = np.where(swap, dport, sport)
    pb = np.where(swap, sport, dport)
    for v6 in (False, True):
        for with_ports in (False, True):
            idx = np.flatnonzero((is_v6 == v6) & (has_ports == with_ports))
            if len(idx) == 0:
                continue
            rows = _hash_input(
                a_hi[idx], a_lo[idx], b_hi[idx], b_lo[idx], proto[idx], pa[idx], pb[idx],
                v6=v6, with_ports=with_ports, seed=seed,
            )  # fmt: skip
            size = rows.dtype.itemsize
            raw = rows.tobytes()
            sha1 = hashlib.sha1
            b64 = base64.b64encode
            for j, i in enumerate(idx.tolist()):
                digest = sha1(raw[j * size : (j + 1) * size], usedforsecurity=False).digest()
                out[i] = "1:" + b64(digest).decode()
    return out


def _hash_input(
    a_hi: npt.NDArray[np.uint64],
    a_lo: npt.NDArray[np.uint64],
    b_hi: npt.NDArray[np.uint64],
    b_lo: npt.NDArray[np.uint64],
    proto: npt.NDArray[np.uint8],
    pa: npt.NDArray[np.uint16],
    pb: npt.NDArray[np.uint16],
    *,
    v6: bool,
    with_ports: bool,
    seed: int,
) -> npt.NDArray[np.void]:
    fields: list[tuple[str, str]] = [("seed", ">u2")]
    fields += [("a_hi", ">u8"), ("a_lo", ">u8"), ("b_hi", ">u8"), ("b_lo", ">u8")] if v6 else [
        ("a", ">u4"), ("b", ">u4")]  # fmt: skip
    fields += [("proto", "u1"), ("pad", "u1")]
    if with_ports:
        fields += [("pa", ">u2"), ("pb", ">u2")]
    rows = np.zeros(len(proto), dtype=np.dtype(fields))
    rows["seed"] = seed
    if v6:
        rows["a_hi"], rows["a_lo"], rows["b_hi"], rows["b_lo"] = a_hi, a_lo, b_hi, b_lo
    else:
        rows["a"] = a_lo & np.uint64(0xFFFFFFFF)
        rows["b"] = b_lo & np.uint64(0xFFFFFFFF)
    rows["proto"] = proto
    if with_ports:
        rows["pa"], rows["pb"] = pa, pb
    return rows


def record_id(*parts: object, size: int = 10) -> str:
    """A deterministic id (hex, ``2*size`` characters) for a record made of these parts."""
    return record_id_state(*parts, size=size).hexdigest()


def record_id_state(*parts: object, size: int = 10) -> hashlib.blake2b:
    """The hash state after ``parts``: callers that make many ids with a common prefix copy it
    and add the rest (``repr`` of each part, then ``0x1f``) instead of hashing the prefix again."""
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\x1f")
    return h
