"""DNS over UDP and TCP: queries paired with their responses, one ``DnsSeen`` per pair.

Like Zeek's dns.log, a record is written when the response arrives (with the round-trip time), or
for a query never answered when the flow ends. A response without its query is logged alone.
"""

from __future__ import annotations

from collections import OrderedDict

from sensors.events import ContentFacts, Direction, DnsAnswer, DnsSeen, FlowRef
from sensors.protocols.base import DatagramParser, ParserError, ParserLimits, StreamParser
from sensors.protocols.dnswire import CLASSES, RCODES, Message, parse, type_name

MAX_PENDING_QUERIES = 1024


class _Pairing:
    """Queries waiting for their response, by transaction id (bounded: oldest reported alone)."""

    def __init__(self, flow: FlowRef) -> None:
        self.flow = flow
        self.pending: OrderedDict[int, tuple[int, Message]] = OrderedDict()

    def message(self, msg: Message, ts_ns: int, facts: ContentFacts) -> None:
        if not msg.response:
            if msg.id in self.pending:  # a retransmitted query: report the first one alone
                facts.dns.append(self._record(*self.pending.pop(msg.id), None))
            self.pending[msg.id] = (ts_ns, msg)
            if len(self.pending) > MAX_PENDING_QUERIES:
                facts.dns.append(self._record(*self.pending.popitem(last=False)[1], None))
            return
        query = self.pending.pop(msg.id, None)
        if query is None:
            facts.dns.append(self._record(ts_ns, msg, msg))
        else:
            facts.dns.append(self._record(query[0], query[1], msg, rtt=ts_ns - query[0]))

    def flush(self, facts: ContentFacts) -> None:
        while self.pending:
            facts.dns.append(self._record(*self.pending.popitem(last=False)[1], None))

    def _record(
        self, ts_ns: int, query: Message, response: Message | None, rtt: int | None = None
    ) -> DnsSeen:
        ask = query if query.qname is not None or response is None else response
        flags = set(query.flags)
        answers: tuple[DnsAnswer, ...] = ()
        if response is not None:
            flags = set(response.flags)
            answers = tuple(
                DnsAnswer(r.name, type_name(r.type), r.ttl, r.data, r.section)  # type: ignore[arg-type]
                for r in response.records
            )
        if query is not response and "RD" in query.flags:
            flags.add("RD")
        edns = query if query.edns_udp_size is not None else response
        return DnsSeen(
            flow=self.flow,
            ts_ns=ts_ns,
            transaction_id=query.id,
            query=ask.qname,
            qtype=type_name(ask.qtype) if ask.qtype is not None else None,
            qclass=CLASSES.get(ask.qclass or 0, str(ask.qclass)) if ask.qclass else None,
            rcode=RCODES.get(response.rcode, str(response.rcode)) if response else None,
            answers=answers,
            flags=frozenset(flags),
            rtt_ns=rtt,
            edns_udp_size=edns.edns_udp_size if edns else None,
            edns_do=bool(edns and edns.edns_do),
            edns_options=edns.edns_options if edns else (),
        )


class DnsDatagramParser(DatagramParser):
    id = "dns"

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        super().__init__(flow, limits)
        self._pairing = _Pairing(flow)

    def datagram(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        self._pairing.message(parse(data), ts_ns, facts)

    def close(self, ts_ns: int, facts: ContentFacts) -> None:
        self._pairing.flush(facts)


class DnsStreamParser(StreamParser):
    """DNS over TCP (RFC 7766): each message after a two-byte length."""

    id = "dns"

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        super().__init__(flow, limits)
        self._pairing = _Pairing(flow)
        self._buf: dict[str, bytearray] = {"orig": bytearray(), "resp": bytearray()}

    def feed(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        buf = self._buf[direction]
        buf += data
        while len(buf) >= 2:
            size = int.from_bytes(buf[:2], "big")
            if size < 12:
                raise ParserError(f"DNS over TCP message of {size} bytes")
            if len(buf) < 2 + size:
                return
            self._pairing.message(parse(bytes(buf[2 : 2 + size])), ts_ns, facts)
            del buf[: 2 + size]

    def close(self, ts_ns: int, facts: ContentFacts) -> None:
        self._pairing.flush(facts)
