"""DNS messages in wire format (RFC 1035 section 4), parsed for the fields a sensor logs.

Written by hand for the common path because dnspython's ``message.from_wire`` costs ~75 us per
message here, ten times a sensor's budget per packet; dnspython still renders the rarer record
types (HTTPS, SVCB, CAA, ...) in presentation format, from the record's own bytes. Names follow
compression pointers with a bound on jumps and length, so a pointer loop cannot hang the sensor.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from sensors.protocols.base import ParserError

MAX_JUMPS = 32
MAX_NAME = 255
MAX_RECORDS = 256

TYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
    28: "AAAA", 32: "NIMLOC", 33: "SRV", 35: "NAPTR", 39: "DNAME", 41: "OPT", 43: "DS",
    46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 64: "SVCB", 65: "HTTPS", 99: "SPF",
    252: "AXFR", 255: "ANY", 257: "CAA",
}  # fmt: skip
CLASSES = {1: "C_INTERNET", 3: "C_CHAOS", 4: "C_HESIOD", 254: "C_NONE", 255: "C_ANY"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
          16: "BADVERS"}  # fmt: skip
EDNS_OPTIONS = {3: "NSID", 5: "DAU", 8: "ECS", 9: "EXPIRE", 10: "COOKIE", 11: "KEEPALIVE",
                12: "PADDING", 15: "EDE"}  # fmt: skip
FLAG_BITS = (("AA", 0x0400), ("TC", 0x0200), ("RD", 0x0100), ("RA", 0x0080), ("AD", 0x0020),
             ("CD", 0x0010))  # fmt: skip
_NAME_TYPES = {2, 5, 12, 39}  # rdata is one domain name


def type_name(t: int) -> str:
    return TYPES.get(t) or dns.rdatatype.to_text(dns.rdatatype.RdataType.make(t))


@dataclass(slots=True)
class Record:
    name: str
    type: int
    cls: int
    ttl: int
    data: str
    section: str


@dataclass(slots=True)
class Message:
    id: int
    response: bool
    opcode: int
    flags: frozenset[str]
    rcode: int
    qname: str | None = None
    qtype: int | None = None
    qclass: int | None = None
    records: list[Record] = field(default_factory=list)
    edns_udp_size: int | None = None
    edns_do: bool = False
    edns_options: tuple[str, ...] = ()


_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


def parse(wire: bytes) -> Message:
    """A DNS message; ``ParserError`` when it is not one (or is truncated in its header)."""
    if len(wire) < 12:
        raise ParserError("shorter than a DNS header")
    ident, bits, qd, an, ns, ar = _HEADER.unpack_from(wire)
    if qd > 16 or an + ns + ar > 4096:
        raise ParserError("implausible record counts")
    msg = Message(
        ident, bool(bits & 0x8000), (bits >> 11) & 0xF,
        frozenset(n for n, b in FLAG_BITS if bits & b), bits & 0xF,
    )  # fmt: skip
    pos = 12
    for i in range(qd):
        name, pos = read_name(wire, pos)
        if pos + 4 > len(wire):
            raise ParserError("question cut short")
        qtype, qclass = struct.unpack_from("!HH", wire, pos)
        pos += 4
        if i == 0:
            msg.qname, msg.qtype, msg.qclass = name, qtype, qclass
    for section, count in (("answer", an), ("authority", ns), ("additional", ar)):
        for _ in range(count):
            if pos >= len(wire) or len(msg.records) >= MAX_RECORDS:
                return msg  # truncated answers still tell what was asked and the rcode
            pos = _record(wire, pos, section, msg)
    return msg


def _record(wire: bytes, pos: int, section: str, msg: Message) -> int:
    name, pos = read_name(wire, pos)
    if pos + 10 > len(wire):
        raise ParserError("record cut short")
    rtype: int
    rclass: int
    ttl: int
    rdlen: int
    rtype, rclass, ttl, rdlen = _RR.unpack_from(wire, pos)
    pos += 10
    end = pos + rdlen
    if end > len(wire):
        raise ParserError("record data cut short")
    if rtype == 41:  # OPT (RFC 6891): the class is the UDP size, the TTL holds flags
        msg.edns_udp_size = rclass
        msg.edns_do = bool(ttl & 0x8000)
        msg.rcode |= (ttl >> 24) << 4
        opts = []
        o = pos
        while o + 4 <= end:
            code, olen = struct.unpack_from("!HH", wire, o)
            opts.append(EDNS_OPTIONS.get(code, str(code)))
            o += 4 + olen
        msg.edns_options = tuple(opts)
        return end
    msg.records.append(Record(name, rtype, rclass, ttl, _rdata(wire, pos, rtype, rdlen), section))
    return end


def _rdata(wire: bytes, pos: int, rtype: int, rdlen: int) -> str:
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntoa(wire[pos : pos + 4])
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, wire[pos : pos + 16])
    if rtype in _NAME_TYPES:
        return read_name(wire, pos)[0]
    if rtype == 15 and rdlen >= 3:
        pref = struct.unpack_from("!H", wire, pos)[0]
        return f"{pref} {read_name(wire, pos + 2)[0]}"
    if rtype == 16:
        return " ".join(_txt(wire, pos, pos + rdlen))
    if rtype == 6:
        mname, o = read_name(wire, pos)
        rname, o = read_name(wire, o)
        if o + 20 <= pos + rdlen:
            numbers = " ".join(map(str, struct.unpack_from("!IIIII", wire, o)))
            return f"{mname} {rname} {numbers}"
    if rtype == 33 and rdlen >= 7:
        prio, weight, port = struct.unpack_from("!HHH", wire, pos)
        return f"{prio} {weight} {port} {read_name(wire, pos + 6)[0]}"
    try:
        rd = dns.rdata.from_wire(
            dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), wire, pos, rdlen
        )
        return str(rd.to_text(relativize=False))
    except (dns.exception.DNSException, ValueError, IndexError, struct.error):
        return "\\# " + str(rdlen) + (" " + wire[pos : pos + rdlen].hex() if rdlen else "")


def _txt(wire: bytes, pos: int, end: int) -> list[str]:
    out = []
    while pos < end:
        n = wire[pos]
        raw = wire[pos + 1 : min(pos + 1 + n, end)]
        out.append('"' + "".join(_TXT_CHAR[b] for b in raw) + '"')
        pos += 1 + n
    return out


_TXT_CHAR = [
    chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else (
        "\\" + chr(b) if b in (0x22, 0x5C) else f"\\{b:03d}")
    for b in range(256)
]  # fmt: skip


def read_name(wire: bytes, pos: int) -> tuple[str, int]:
    """A domain name at ``pos`` in presentation form (no trailing dot; "." for the root), and the
    position after it where it was written (not where compression pointers led)."""
    labels: list[str] = []
    jumps = 0
    length = 0
    after: int | None = None
    n = len(wire)
    while True:
        if pos >= n:
            raise ParserError("name runs past the message")
        b = wire[pos]
        if b == 0:
            pos += 1
            break
        if b & 0xC0 == 0xC0:
            if pos + 1 >= n:
                raise ParserError("name pointer cut short")
            jumps += 1
            if jumps > MAX_JUMPS:
                raise ParserError("name compression loop")
            if after is None:
                after = pos + 2
            pos = ((b & 0x3F) << 8) | wire[pos + 1]
            continue
        if b & 0xC0:
            raise ParserError("unknown label type")
        label = wire[pos + 1 : pos + 1 + b]
        if len(label) < b:
            raise ParserError("label cut short")
        length += b + 1
        if length > MAX_NAME:
            raise ParserError("name longer than 255 bytes")
        labels.append(
            label.decode("ascii") if label.isascii() and label.isalnum() else _label(label)
        )
        pos += 1 + b
    return (".".join(labels) or "."), (after if after is not None else pos)


def _label(raw: bytes) -> str:
    return "".join(
        chr(b) if 0x20 < b < 0x7F and b not in (0x2E, 0x5C) else (
            "\\" + chr(b) if b in (0x2E, 0x5C) else f"\\{b:03d}")
        for b in raw
    )  # fmt: skip
