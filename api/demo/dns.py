"""DNS messages (RFC 1035) of the city's name server, built with scapy from a small zone."""

from __future__ import annotations

from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRMX, DNSRROPT, DNSRRSOA

from api.demo.network import BASTION, MAIL, PORTAL, RDP_SERVER, RESOLVER

ZONE = "city.example"
_TTL = 3600
_UDP_LIMIT = 512  # without EDNS (RFC 1035 4.2.1)
_EDNS_SIZE = 1232  # the size DNS Flag Day 2020 recommends

_TXT = [
    b"v=spf1 ip4:198.51.100.25 -all",
    b"google-site-verification=3kq0cZ8r6xY1vVn2bT4uJm9wPzH7sLdE5aFgQoRiKyU",
    b"MS=ms48213377",
    b"apple-domain-verification=Jp2hR8sXv4mQ7tW1",
    b"_globalsign-domain-verification=Yb6nK3pL0cV8xZ2qA5sD9fG7hJ4kM1wE",
    b"city-open-data=https://data.city.example/catalog.json;contact=opendata@city.example",
    b"atlassian-domain-verification=Qm9kZGV2LWNpdHktZXhhbXBsZS0yMDI2LXZlcmlmaWNhdGlvbi10b2tlbg",
    b"docusign=5c8f1b2a-7d3e-4a9b-b6c1-0e2f9d8a7b6c",
    b"stripe-verification=e1c4d7a0b3f6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a5b8c1d4",
]

#: name -> type -> records; a CNAME answers every type.
_RECORDS: dict[str, dict[str, list[Any]]] = {
    f"portal.{ZONE}": {"A": [PORTAL], "AAAA": ["2001:db8:c17::10"]},
    f"www.{ZONE}": {"CNAME": [f"portal.{ZONE}"]},
    f"services.{ZONE}": {"CNAME": [f"www.{ZONE}"]},
    f"mail.{ZONE}": {"A": [MAIL]},
    f"ns1.{ZONE}": {"A": [RESOLVER]},
    f"bastion.{ZONE}": {"A": [BASTION]},
    f"rds01.{ZONE}": {"A": [RDP_SERVER]},
    ZONE: {"MX": [(10, f"mail.{ZONE}")], "TXT": [_TXT], "A": [PORTAL]},
}


def _soa() -> Any:
    return DNSRRSOA(
        rrname=ZONE,
        ttl=_TTL,
        mname=f"ns1.{ZONE}",
        rname=f"hostmaster.{ZONE}",
        serial=2026030101,
        refresh=7200,
        retry=3600,
        expire=1209600,
        minimum=300,
    )


def _rr(name: str, rtype: str, value: Any) -> Any:
    if rtype == "MX":
        return DNSRRMX(rrname=name, ttl=_TTL, preference=value[0], exchange=value[1])
    return DNSRR(rrname=name, type=rtype, ttl=_TTL, rdata=value)


def _resolve(name: str, rtype: str) -> tuple[list[Any], list[Any], list[Any]]:
    """Answers (following CNAMEs inside the zone), authority and additional records."""
    answers: list[Any] = []
    while name in _RECORDS and "CNAME" in _RECORDS[name] and rtype != "CNAME":
        target = _RECORDS[name]["CNAME"][0]
        answers.append(_rr(name, "CNAME", target))
        name = target
    answers += [_rr(name, rtype, v) for v in _RECORDS.get(name, {}).get(rtype, [])]
    additional = [_rr(f"mail.{ZONE}", "A", MAIL)] if rtype == "MX" else []
    authority = [] if answers or name in _RECORDS else [_soa()]
    return answers, authority, additional


def query(txid: int, name: str, rtype: str, *, edns: bool = True, recursion: bool = True) -> bytes:
    opt = [DNSRROPT(rclass=_EDNS_SIZE, z=0)] if edns else []
    return bytes(DNS(id=txid, rd=int(recursion), qd=[DNSQR(qname=name, qtype=rtype)], ar=opt))


def answer(
    txid: int,
    name: str,
    rtype: str,
    *,
    edns: bool = True,
    recursion: bool = True,
    tcp: bool = False,
) -> bytes:
    """The server's response, name-compressed; over UDP without EDNS, truncated at 512 bytes."""
    answers, authority, additional = _resolve(name, rtype)
    rcode = 0 if answers or name in _RECORDS else 3  # NXDOMAIN
    opt = [DNSRROPT(rclass=_EDNS_SIZE, z=0)] if edns else []
    header: dict[str, Any] = {"id": txid, "qr": 1, "aa": 1, "rd": int(recursion)}
    header |= {"ra": int(recursion), "rcode": rcode, "qd": [DNSQR(qname=name, qtype=rtype)]}
    message: Any = DNS(**header, an=answers, ns=authority, ar=additional + opt)
    full = bytes(message.compress())  # Any: scapy's compress() carries no annotations
    if tcp or edns or len(full) <= _UDP_LIMIT:
        return full
    return bytes(DNS(**header, tc=1))  # RFC 2181 9: the client retries over TCP
