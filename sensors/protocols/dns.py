"""DNS over UDP and TCP: queries paired with their responses, one ``DnsSeen`` per pair.

Like Zeek's dns.log, a record is written when the response arrives (with the round-trip time), or
for a query never answered when the flow ends. A response without its query is logged alone.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from sensors.events import ContentFacts, Direction, DnsAnswer, DnsSeen, FlowRef
from sensors.protocols.base import DatagramParser, ParserError, ParserLimits, StreamParser
from sensors.protocols.dnswire import CLASSES, RCODES, Message, parse, type_name

MAX_PENDING_QUERIES = 1024
MDNS_PORT = 5353
OPCODE_UPDATE = 5
#: Transaction meta-records (TKEY, RFC 2930; TSIG, RFC 8945) sign or key a message; they are not
#: answers to the question.
META_TYPES = frozenset({249, 250})
NBNS_PORT = 137


def netbios_name(name: str) -> str:
    """NetBIOS name service encodes each byte of a 16-byte name as two letters (RFC 1001
    section 14.1); decoded like Zeek does it: the 16th byte (the service suffix) and padding
    dropped."""
    label, _, rest = name.partition(".")
    if len(label) != 32 or not all("A" <= c <= "P" for c in label.upper()):
        return name
    raw = bytes(
        ((ord(label[i].upper()) - 65) << 4) | (ord(label[i + 1].upper()) - 65)
        for i in range(0, 32, 2)
    )
    decoded = raw[:15].rstrip(b" \x00").decode("latin-1")
    return f"{decoded}.{rest}" if rest else decoded


class _Pairing:
    """Queries waiting for their response, by transaction id (bounded: oldest reported alone).

    Multicast DNS (RFC 6762) is not paired: its transaction ids are zero and answers go to
    everyone, so every message is its own record, as Zeek logs it.
    """

    def __init__(self, flow: FlowRef) -> None:
        self.flow = flow
        #: Queries by transaction id, oldest first: a response answers the oldest (Zeek keeps a
        #: queue per id too; retransmitted queries left over are logged unanswered).
        self.pending: OrderedDict[int, deque[tuple[int, Message]]] = OrderedDict()
        self.count = 0
        self.pair = MDNS_PORT not in (flow.orig_port, flow.resp_port)
        self.netbios = NBNS_PORT in (flow.orig_port, flow.resp_port)

    def message(self, msg: Message, ts_ns: int, facts: ContentFacts) -> None:
        if not self.pair:
            facts.dns.append(self._record(ts_ns, msg, msg if msg.response else None))
            return
        if not msg.response:
            self.pending.setdefault(msg.id, deque()).append((ts_ns, msg))
            self.count += 1
            if self.count > MAX_PENDING_QUERIES:
                self._pop_oldest(facts)
            return
        queue = self.pending.get(msg.id)
        if not queue:
            facts.dns.append(self._record(ts_ns, msg, msg))
            return
        sent, query = queue.popleft()
        self.count -= 1
        if not queue:
            del self.pending[msg.id]
        facts.dns.append(self._record(sent, query, msg, rtt=ts_ns - sent))

    def _pop_oldest(self, facts: ContentFacts) -> None:
        ident, queue = next(iter(self.pending.items()))
        facts.dns.append(self._record(*queue.popleft(), None))
        self.count -= 1
        if not queue:
            del self.pending[ident]

    def flush(self, facts: ContentFacts) -> None:
        while self.pending:
            self._pop_oldest(facts)

    def _record(
        self, ts_ns: int, query: Message, response: Message | None, rtt: int | None = None
    ) -> DnsSeen:
        ask = query if query.qname is not None or response is None else response
        qname = ask.qname
        if qname is None and response is not None and response.records:
            qname = response.records[0].name  # no question: name what the answer is about
        if self.netbios and qname is not None:
            qname = netbios_name(qname)
        qtype = ask.qtype
        flags = set(query.flags)
        answers: tuple[DnsAnswer, ...] = ()
        if response is not None:
            flags = set(response.flags)
            answers = tuple(
                DnsAnswer(r.name, type_name(r.type), r.ttl, r.data, r.section)  # type: ignore[arg-type]
                for r in response.records
                if r.type not in META_TYPES
            )
        if query.opcode == OPCODE_UPDATE and query is not response:
            # RFC 2136: the question is the zone; what matters is the name being changed and the
            # prerequisites and updates (the request's answer and authority sections).
            changes = [r for r in query.records if r.section != "additional"]
            if changes:
                qname, qtype = changes[0].name, None
                answers = tuple(
                    DnsAnswer(r.name, type_name(r.type), r.ttl, r.data, "answer") for r in changes
                )
        if query is not response and "RD" in query.flags:
            flags.add("RD")
        edns = query if query.edns_udp_size is not None else response
        return DnsSeen(
            flow=self.flow,
            ts_ns=ts_ns,
            transaction_id=query.id,
            query=qname,
            qtype=type_name(qtype) if qtype is not None else None,
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
