"""Community ID v1 against the spec's published baseline and the reference library, and record ids.

The baseline vectors are corelight/community-id-spec ``baseline/baseline_deflt.json`` and
``baseline_seed1.json`` (made from the spec's pcaps): (proto, saddr, daddr, sport, dport), where
ICMP ports are already the port equivalents (type, then counterpart type or code).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import communityid
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cityshield.ids import (
    ICMP4_COUNTERPART,
    ICMP6_COUNTERPART,
    PORT_PROTOS,
    community_id,
    community_ids,
    icmp_ports,
    record_id,
)

Tuple = tuple[int, str, str, int | None, int | None]

BASELINE: list[Tuple] = [
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136),
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135),
    (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0),
    (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4),
    (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129),
    (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128),
    (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134),
    (58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133),
    (1, "192.168.0.89", "192.168.0.1", 8, 0),
    (1, "192.168.0.1", "192.168.0.89", 0, 8),
    (1, "10.0.0.1", "10.0.0.2", 11, 0),
    (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25),
    (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943),
    (132, "192.168.170.8", "192.168.170.56", 7, 7),
    (132, "192.168.170.56", "192.168.170.8", 7, 7),
    (6, "128.232.110.120", "66.35.250.204", 34855, 80),
    (6, "66.35.250.204", "128.232.110.120", 80, 34855),
    (17, "192.168.1.52", "8.8.8.8", 54585, 53),
    (17, "8.8.8.8", "192.168.1.52", 53, 54585),
    (46, "10.1.12.1", "10.1.12.2", None, None),
    (46, "10.1.12.2", "10.1.12.1", None, None),
]
EXPECTED = {
    0: [
        "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
        "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:zavyT/cezQr1fmImYCwYnMXbgck=",
        "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:hLZd0XGWojozrvxqE0dWB1iM6R0=",
        "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
        "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:pkvHqCL88/tg1k4cPigmZXUtL00=",
        "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
        "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=",
        "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
        "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=",
        "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=",
    ],
    1: [
        "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=",
        "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=",
        "1:lVEtCZpYu84Xqaa++3lXFyuu2n4=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8=",
        "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=",
        "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc=",
        "1:03g6IloqVBdcZlPyX8r0hgoE7kA=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=",
        "1:XjUibYHaafLQ3pxQeiMI8g25q20=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw=",
        "1:eJYTW6AOzFLlSUoESovMjnu7rMw=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=",
        "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=",
        "1:3V71V58M3Ksw/yuFALMcW0LAHvc=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=",
        "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=", "1:rYir8gphR31noO9iDRQmF/BteEI=",
        "1:rYir8gphR31noO9iDRQmF/BteEI=",
    ],
}  # fmt: skip


def _halves(addr: str) -> tuple[int, int, bool]:
    """(hi, lo, is_v6) as the decoder stores addresses (IPv4 as ::ffff:a.b.c.d)."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        return 0, 0xFFFF00000000 | int(ip), False
    value = int(ip)
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF, True


def _vectorised(tuples: list[Tuple], seed: int = 0) -> list[str]:
    src = [_halves(t[1]) for t in tuples]
    dst = [_halves(t[2]) for t in tuples]
    return community_ids(
        np.array([s[0] for s in src], dtype=np.uint64),
        np.array([s[1] for s in src], dtype=np.uint64),
        np.array([d[0] for d in dst], dtype=np.uint64),
        np.array([d[1] for d in dst], dtype=np.uint64),
        np.array([s[2] for s in src], dtype=bool),
        np.array([t[0] for t in tuples], dtype=np.uint8),
        np.array([t[3] or 0 for t in tuples], dtype=np.uint16),
        np.array([t[4] or 0 for t in tuples], dtype=np.uint16),
        seed=seed,
    )


def _scalar(t: Tuple, seed: int = 0) -> str:
    proto, saddr, daddr, sport, dport = t
    one_way = False
    if proto in (1, 58):
        assert sport is not None
        _, _, one_way = icmp_ports(sport, dport or 0, v6=proto == 58)
    return community_id(saddr, daddr, proto, sport or 0, dport or 0, seed=seed, one_way=one_way)


@pytest.mark.parametrize("seed", [0, 1])
def test_spec_baseline_scalar(seed: int) -> None:
    assert [_scalar(t, seed) for t in BASELINE] == EXPECTED[seed]


@pytest.mark.parametrize("seed", [0, 1])
def test_spec_baseline_vectorised(seed: int) -> None:
    assert _vectorised(BASELINE, seed) == EXPECTED[seed]


def test_vectorised_keeps_input_order_across_families_and_protocols() -> None:
    mixed = [BASELINE[i] for i in (21, 0, 13, 10, 5, 17, 22, 19)]
    assert _vectorised(mixed) == [EXPECTED[0][i] for i in (21, 0, 13, 10, 5, 17, 22, 19)]


def test_vectorised_empty() -> None:
    assert _vectorised([]) == []


# -- random tuples against the reference library ----------------------------------------------

v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)
port = st.integers(0, 65535)
byte = st.integers(0, 255)
other_proto = st.integers(0, 255).filter(lambda p: p not in PORT_PROTOS)


def _reference(proto: int, saddr: str, daddr: str, a: int | None, b: int | None, seed: int) -> str:
    algo = communityid.CommunityID(seed=seed)
    make: dict[int, Any] = {
        6: communityid.FlowTuple.make_tcp,
        17: communityid.FlowTuple.make_udp,
        132: communityid.FlowTuple.make_sctp,
        1: communityid.FlowTuple.make_icmp,
        58: communityid.FlowTuple.make_icmp6,
    }
    if proto in make:
        tpl = make[proto](saddr, daddr, a, b)
    else:
        tpl = communityid.FlowTuple.make_ip(saddr, daddr, proto)
    out = algo.calc(tpl)
    assert out is not None, algo.get_error()
    return str(out)


@st.composite
def flow_tuples(draw: st.DrawFn) -> tuple[int, str, str, int | None, int | None]:
    family = draw(st.sampled_from([4, 6]))
    addr = v4 if family == 4 else v6
    saddr = draw(addr)
    daddr = draw(st.one_of(addr, st.just(saddr)))  # equal addresses: ports decide the order
    kind = draw(st.sampled_from(["tcp", "udp", "sctp", "icmp", "other"]))
    if kind == "icmp":
        proto = 1 if family == 4 else 58
        mtype = draw(st.one_of(byte, st.sampled_from(
            sorted(ICMP4_COUNTERPART if family == 4 else ICMP6_COUNTERPART))))  # fmt: skip
        return proto, saddr, daddr, mtype, draw(byte)
    if kind == "other":
        return draw(other_proto), saddr, daddr, None, None
    proto = {"tcp": 6, "udp": 17, "sctp": 132}[kind]
    sport = draw(port)
    return proto, saddr, daddr, sport, draw(st.one_of(port, st.just(sport)))


@settings(max_examples=300, deadline=None)
@given(st.lists(flow_tuples(), min_size=1, max_size=20), st.integers(0, 65535))
def test_matches_the_reference_library(tuples: list[Tuple], seed: int) -> None:
    expected = [_reference(*t, seed) for t in tuples]
    # The sensor hands over ICMP type and code as port equivalents (see sensors.decode).
    as_ports: list[Tuple] = []
    for proto, saddr, daddr, a, b in tuples:
        if proto in (1, 58):
            assert a is not None and b is not None
            sp, dp, _ = icmp_ports(a, b, v6=proto == 58)
            as_ports.append((proto, saddr, daddr, sp, dp))
        else:
            as_ports.append((proto, saddr, daddr, a, b))
    assert [_scalar(t, seed) for t in as_ports] == expected
    assert _vectorised(as_ports, seed) == expected


@settings(max_examples=100, deadline=None)
@given(flow_tuples())
def test_both_directions_agree_unless_one_way(t: Tuple) -> None:
    proto, saddr, daddr, a, b = t
    assume(proto not in (1, 58))
    assert _scalar((proto, saddr, daddr, a, b)) == _scalar((proto, daddr, saddr, b, a))


# -- ICMP port equivalents --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mtype", "code", "v6", "expected"),
    [
        (8, 0, False, (8, 0, False)),
        (0, 0, False, (0, 8, False)),
        (13, 3, False, (13, 14, False)),
        (3, 1, False, (3, 1, True)),
        (11, 0, False, (11, 0, True)),
        (128, 0, True, (128, 129, False)),
        (135, 0, True, (135, 136, False)),
        (1, 4, True, (1, 4, True)),
        (8, 0, True, (8, 0, True)),  # 8 is not an ICMPv6 request
    ],
)
def test_icmp_ports(mtype: int, code: int, v6: bool, expected: tuple[int, int, bool]) -> None:
    assert icmp_ports(mtype, code, v6=v6) == expected


def test_counterpart_tables_are_symmetric() -> None:
    for table in (ICMP4_COUNTERPART, ICMP6_COUNTERPART):
        assert all(table[v] == k for k, v in table.items())


# -- record ids -------------------------------------------------------------------------------


def test_record_id_is_deterministic_and_sized() -> None:
    a = record_id("sensor", "1:abc=", 123, 0)
    assert a == record_id("sensor", "1:abc=", 123, 0)
    assert len(a) == 20
    assert int(a, 16) >= 0
    assert len(record_id("x", size=16)) == 32


def test_record_id_separates_its_parts() -> None:
    assert record_id("ab", "c") != record_id("a", "bc")
    assert record_id(1) != record_id("1")
    assert record_id("s", 1, 2) != record_id("s", 2, 1)
