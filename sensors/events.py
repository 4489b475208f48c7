"""Facts the sensors report. Facts, not verdicts: detectors decide what is an attack.

Flows end in batches (``sensors.flows.FlowBatch``, a batch of ``FlowEnded`` facts as columns);
detectors that want one object per flow call ``FlowBatch.rows()``. Content facts (reassembled
stream chunks, DNS, HTTP, TLS, certificates, SSH, files) refer to their flow with a ``FlowRef``
and are handed to detectors in lists, one list per kind and batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["orig", "resp"]


@dataclass(frozen=True, slots=True)
class WeirdSeen:
    """A packet that could not be decoded as it claims to be (Zeek's weird.log)."""

    name: str
    capture: str
    frame: int


@dataclass(frozen=True, slots=True)
class FlowEnded:
    """One ended bidirectional flow, originator first. Times are nanoseconds since the epoch."""

    flow_id: str
    community_id: str
    transport: str
    proto: int
    orig_ip: str
    orig_port: int
    resp_ip: str
    resp_port: int
    vlan: int
    start_ns: int
    end_ns: int
    orig_pkts: int
    resp_pkts: int
    orig_bytes: int  # IP-level bytes, like Zeek's orig_ip_bytes
    resp_bytes: int
    orig_payload: int  # transport payload bytes
    resp_payload: int
    conn_state: str
    history: str
    end_reason: str
    capture: str
    first_frame: int
    last_frame: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class SensorStats:
    """What a sensor has done so far; published with every heartbeat and at the end of a run."""

    packets: int = 0
    bytes: int = 0
    decoded: int = 0
    flows_created: int = 0
    flows_ended: Counter[str] = field(default_factory=Counter)
    flows_active: int = 0
    flows_peak: int = 0
    flows_evicted: int = 0
    weird: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    fragments_reassembled: int = 0
    capture_problems: list[str] = field(default_factory=list)


# -- content facts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowRef:
    """The flow a content fact belongs to; its flow record comes when the flow ends.

    ``flow_id`` is the id the flow record will carry (``event.id``), so alerts raised on content
    link to the flow before it ends. Originator first, as in flow records.
    """

    flow_id: str
    community_id: str
    transport: str
    orig_ip: str
    orig_port: int
    resp_ip: str
    resp_port: int
    vlan: int
    start_ns: int
    capture: str


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """Reassembled bytes of one direction of a TCP connection, in stream order.

    ``offset`` is where ``data`` starts in the direction's stream (0 = first payload byte);
    ``gap_before`` counts bytes never seen before it. Consecutive chunks of a direction overlap by
    a few bytes (``overlap``) so that patterns across a chunk boundary are still found.
    ``final`` marks the last chunk (FIN, RST, timeout, or the reassembly budget reached).
    """

    flow: FlowRef
    direction: Direction
    offset: int
    data: bytes
    ts_ns: int
    first_frame: int
    last_frame: int
    protocol: str | None = None
    gap_before: int = 0
    overlap: int = 0
    final: bool = False


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    name: str
    type: str  # "A", "AAAA", "CNAME", ... (the numeric type as text when unknown: "TYPE65280")
    ttl: int
    data: str  # presentation format (RFC 1035 master-file syntax)
    section: Literal["answer", "authority", "additional"] = "answer"


@dataclass(frozen=True, slots=True)
class DnsSeen:
    """One DNS query and its response (either may be missing), like a line of Zeek's dns.log."""

    flow: FlowRef
    ts_ns: int
    transaction_id: int
    query: str | None
    qtype: str | None
    qclass: str | None
    rcode: str | None = None  # None: no response seen
    answers: tuple[DnsAnswer, ...] = ()
    flags: frozenset[str] = frozenset()  # AA, TC, RD, RA, AD, CD
    rtt_ns: int | None = None
    edns_udp_size: int | None = None
    edns_do: bool = False
    edns_options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpSeen:
    """One HTTP/1.x request and its response (either may be missing), like Zeek's http.log."""

    flow: FlowRef
    ts_ns: int
    trans_depth: int  # 1 for the first request of the connection
    method: str | None
    uri: str | None
    version: str | None
    host: str | None
    user_agent: str | None
    referrer: str | None
    request_headers: tuple[tuple[str, str], ...]
    status: int | None
    reason: str | None
    response_headers: tuple[tuple[str, str], ...]
    request_body_len: int
    response_body_len: int
    request_files: tuple[str, ...] = ()  # file ids (FileSeen.file_id)
    response_files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # e.g. "chunked_encoding_error", "gzip_bomb", "header_too_long"


@dataclass(frozen=True, slots=True)
class FileSeen:
    """A file carried by a protocol (an HTTP body or upload part), decoded as the endpoint saw it.

    ``data`` holds the file's first ``len(data)`` bytes (bounded by the file budget) for detectors;
    ``truncated`` says there was more. ``extracted`` is where the bytes were written, if extraction
    is on.
    """

    flow: FlowRef
    ts_ns: int
    file_id: str
    source: str  # "HTTP"
    direction: Direction
    name: str | None
    mime_type: str | None
    size: int
    md5: str
    sha1: str
    sha256: str
    data: bytes
    truncated: bool = False
    extracted: str | None = None
    missing_bytes: int = 0  # bytes of the file never seen (gaps in the capture)


@dataclass(frozen=True, slots=True)
class TlsSeen:
    """A TLS handshake (client and server hello), like Zeek's ssl.log plus fingerprints."""

    flow: FlowRef
    ts_ns: int
    version: str | None  # negotiated: "TLSv12", "TLSv13", ...
    client_version: str | None
    server_name: str | None
    alpn: tuple[str, ...]
    cipher: str | None
    ja3: str | None
    ja3s: str | None
    ja4: str | None
    certificate_sha256: tuple[str, ...] = ()  # the server's chain as sent, leaf first
    established: bool = False
    alpn_selected: str | None = None  # the server's choice (ServerHello ALPN)
    resumed: bool = False  # an abbreviated handshake (session id or ticket) or a TLS 1.3 PSK
    last_alert: str | None = None  # the last alert seen in clear ("handshake_failure", ...)
    client_certificate_sha256: tuple[str, ...] = ()  # mutual TLS: the client's chain
    problems: tuple[str, ...] = ()  # e.g. "sslv2_client_hello", "too_many_certificates", "gap"


@dataclass(frozen=True, slots=True)
class CertificateSeen:
    """One certificate of a chain sent in a TLS handshake (TLS 1.2 and older; 1.3 encrypts it)."""

    flow: FlowRef
    ts_ns: int
    der: bytes
    sha256: str
    position: int  # 0: the leaf
    chain_length: int
    server_name: str | None
    #: Who sent the chain: the TLS server, or the client in mutual TLS (a client certificate).
    role: Literal["server", "client"] = "server"


@dataclass(frozen=True, slots=True)
class SshSeen:
    """The identification banners of an SSH connection (RFC 4253 section 4.2)."""

    flow: FlowRef
    ts_ns: int
    client_banner: str | None
    server_banner: str | None


ContentFact = StreamChunk | DnsSeen | HttpSeen | FileSeen | TlsSeen | CertificateSeen | SshSeen


@dataclass(slots=True)
class ContentFacts:
    """The content facts of one batch, by kind (the order of each list is capture order)."""

    stream_chunks: list[StreamChunk] = field(default_factory=list)
    dns: list[DnsSeen] = field(default_factory=list)
    http: list[HttpSeen] = field(default_factory=list)
    files: list[FileSeen] = field(default_factory=list)
    tls: list[TlsSeen] = field(default_factory=list)
    certificates: list[CertificateSeen] = field(default_factory=list)
    ssh: list[SshSeen] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(getattr(self, f)) for f in ContentFacts.__slots__)

    def extend(self, other: ContentFacts) -> ContentFacts:
        for f in ContentFacts.__slots__:
            getattr(self, f).extend(getattr(other, f))
        return self
