"""Our flows against Zeek's own regression baselines (conn.log), and our readers against capinfos.

Zeek conformance: every btest baseline in ``../shared/corpus/pcaps/zeek`` that has a conn.log and
whose trace is in the corpus is replayed through ``SensorEngine``; the multiset of (transport,
5-tuple, packets and IP bytes per direction) must equal the baseline's. Our transports other than
TCP, UDP and ICMP map to Zeek's ``unknown_transport`` with ports 0, ``ipv6-icmp`` to ``icmp``. At
least 95% of the comparable baselines must match; every one that differs is listed with why.

* Baselines cut with ``zeek-cut`` to columns other than these are not comparable (counted apart).
* Bare-mode tests (``zeek -b``) load only the scripts they name, so Zeek's ``likely_server_ports``
  (which decide who originated a connection seen without its SYN) are unknown: those traces run
  with our default server ports and with the tunnel ports alone (what bare mode always loads),
  and match when either matches exactly.
* A capture filter given with ``-f "port N"`` is applied to our flows (BPF ``port`` selects whole
  TCP/UDP/SCTP connections); other filter expressions would make a baseline not comparable.
* ``EXPECTED_DIFFERENCES`` lists the differences we know and explain. They count as not matching,
  except those marked not comparable (Zeek analysed another packet stream than the trace's).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from zeeklog import Baseline, ConnTuple, conn_baselines, conn_tuples

from cityshield.errors import CaptureError
from sensors.engine import SensorEngine, SensorSettings
from sensors.events import FlowEnded
from sensors.flows import FlowBatch, FlowSettings
from sensors.sources import open_capture

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
PCAPS = CORPUS / "pcaps"
ZEEK = PCAPS / "zeek"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not ZEEK.is_dir(), reason=f"corpus not found at {CORPUS}"),
]

MIN_MATCH_RATE = 0.95

#: Ports of the packet analyzers that even bare mode loads (base/packet-protocols): Teredo,
#: AYIYA, VXLAN, Geneve, GTPv1 (user and control plane), GRE in UDP.
TUNNEL_PORTS = (3544, 5072, 4789, 6081, 2152, 2123, 4754)

ZEEK_TRANSPORT = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}


@dataclass(frozen=True, slots=True)
class Known:
    reason: str
    comparable: bool = True  # False: Zeek saw another packet stream, the baseline says nothing


EXPECTED_DIFFERENCES: dict[str, Known] = {
    "core.pcap.dynamic-filter": Known(
        "the test script installs BPF filters at run time (Pcap::install_pcap_filter after its "
        "1st and 2nd packets), so Zeek analysed only part of the trace",
        comparable=False,
    ),
    "scripts.base.frameworks.netcontrol.packetfilter": Known(
        "NetControl's packet-filter plugin drops each originator's traffic once its connection "
        "is established, so Zeek analysed only part of the trace",
        comparable=False,
    ),
    "scripts.base.protocols.ftp.gridftp": Known(
        "the test lowers GridFTP::size_threshold to 2 bytes, so gridftp.zeek calls "
        "skip_further_processing on the data channel and Zeek stops counting its packets after "
        "the TLS handshake (7/6 packets logged, 9/9 in the trace)"
    ),
    "scripts.base.protocols.ntp.misordered-ntp": Known(
        "Zeek's NTP analyzer flips roles from the message mode (a server reply came first) and "
        "counts the flipping packet on the stale side (2/0 logged for 1 packet each way); we "
        "choose roles from ports and the first packet"
    ),
    "core.tunnels.vxlan-unknown-internal-packet": Known(
        "the outer UDP checksums are wrong: Zeek drops those packets (a connection with 0 packets, "
        "no inner flows); we do not verify checksums, as Zeek with -C"
    ),
    "core.vntag-in-vlan": Known(
        "the snap length cuts the TCP options: Zeek logs the connection with 0 packets; we count "
        "the packet"
    ),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    baseline: Baseline
    status: str  # "match", "differs", "not comparable", "no columns"
    detail: str = ""


def as_conn(f: FlowEnded) -> ConnTuple:
    transport = ZEEK_TRANSPORT.get(f.proto, "unknown_transport")
    op, rp = (f.orig_port, f.resp_port) if transport != "unknown_transport" else (0, 0)
    return (transport, f.orig_ip, op, f.resp_ip, rp,
            f.orig_pkts, f.orig_bytes, f.resp_pkts, f.resp_bytes)  # fmt: skip


def our_flows(trace: Path, server_ports: tuple[int, ...] | None) -> list[FlowEnded]:
    flows = FlowSettings()
    if server_ports is not None:
        flows = FlowSettings(likely_server_ports=server_ports)
    engine = SensorEngine(SensorSettings(flows=flows), seed=1)
    batches = [r.flows for r in engine.read(trace)]
    batches.append(engine.finish().flows)
    return FlowBatch.concat(batches).rows()


def flow_filter(expression: str) -> Callable[[FlowEnded], bool] | None:
    """The flows a BPF capture filter keeps whole; None if we cannot tell from flows."""
    m = re.fullmatch(r"\s*port\s+(\d+)\s*", expression)
    if m is None:
        return None
    port = int(m.group(1))
    return lambda f: f.proto in (6, 17, 132) and port in (f.orig_port, f.resp_port)


def diff_text(missing: Counter[ConnTuple], extra: Counter[ConnTuple], limit: int = 3) -> str:
    parts = []
    for label, items in (("zeek only", missing), ("ours only", extra)):
        if items:
            shown = sorted(items.elements())[:limit]
            more = f" (+{items.total() - len(shown)} more)" if items.total() > len(shown) else ""
            parts.append(f"{label}: {shown}{more}")
    return "; ".join(parts)


def compare(b: Baseline) -> Outcome:
    theirs = conn_tuples(b.conn_log)
    if theirs is None:
        return Outcome(b, "no columns", "zeek-cut baseline without 5-tuple/count columns")
    known = EXPECTED_DIFFERENCES.get(b.name)
    if known is not None and not known.comparable:
        return Outcome(b, "not comparable", known.reason)
    keep: Callable[[FlowEnded], bool] = lambda f: True  # noqa: E731
    if b.capture_filter is not None:
        by_filter = flow_filter(b.capture_filter)
        if by_filter is None:
            return Outcome(b, "not comparable", f"capture filter {b.capture_filter!r}")
        keep = by_filter
    best = ""
    for ports in (None, TUNNEL_PORTS) if b.bare_mode else (None,):
        try:
            ours = Counter(as_conn(f) for f in our_flows(b.trace, ports) if keep(f))
        except CaptureError as exc:
            return Outcome(b, "differs", f"cannot read the trace: {exc}")
        missing, extra = theirs - ours, ours - theirs
        if not missing and not extra:
            return Outcome(b, "match")
        text = diff_text(missing, extra)
        if not best or len(text) < len(best):
            best = text
    why = f"expected: {known.reason} | " if known else "UNEXPECTED | "
    return Outcome(b, "differs", why + best)


@dataclass(frozen=True, slots=True)
class Summary:
    outcomes: list[Outcome]

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def comparable(self) -> int:
        return len(self.of("match")) + len(self.of("differs"))

    @property
    def rate(self) -> float:
        return len(self.of("match")) / self.comparable if self.comparable else 0.0

    def table(self) -> str:
        lines = [
            f"Zeek conn.log conformance: {len(self.of('match'))} of {self.comparable} comparable "
            f"baselines match ({self.rate:.1%}, at least {MIN_MATCH_RATE:.0%} required); "
            f"{len(self.of('not comparable'))} not comparable, {len(self.of('no columns'))} "
            "without 5-tuple/count columns",
        ]
        for status in ("differs", "not comparable"):
            for o in self.of(status):
                lines.append(f"  {status:<14} {o.baseline.name:<52} {o.detail}")
        return "\n".join(lines)


@pytest.fixture(scope="module")
def summary() -> Summary:
    return Summary([compare(b) for b in conn_baselines(ZEEK)])


def test_flows_match_zeek_conn_logs(summary: Summary) -> None:
    table = summary.table()
    print(table)
    assert summary.comparable >= 90, table  # the corpus holds about a hundred
    assert summary.rate >= MIN_MATCH_RATE, table


def test_expected_differences_are_current(summary: Summary) -> None:
    """Every listed difference names a baseline that exists and still differs (else: delete it)."""
    by_name = {o.baseline.name: o for o in summary.outcomes}
    stale = [
        name
        for name, known in EXPECTED_DIFFERENCES.items()
        if name not in by_name or (known.comparable and by_name[name].status != "differs")
    ]
    assert stale == [], f"no longer differing or gone: {stale}\n{summary.table()}"


# -- readers against capinfos ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountedCapture:
    path: Path
    file_type: str
    link_type: str
    packets: int


def counted_captures() -> Iterator[CountedCapture]:
    """Captures in PACKET_COUNTS.tsv that exist and have a count (capinfos 4.0.17)."""
    lines = (PCAPS / "PACKET_COUNTS.tsv").read_text().splitlines()
    for line in lines[1:]:
        rel, file_type, link_type, packets, *_ = line.split("\t")
        path = PCAPS / rel
        if packets.isdigit() and path.is_file():
            yield CountedCapture(path, file_type, link_type, int(packets))


def test_readers_count_the_packets_capinfos_counts() -> None:
    mismatches, unsupported, checked = [], [], 0
    for c in counted_captures():
        checked += 1
        try:
            reader = open_capture(c.path)
            try:
                n = sum(len(batch) for batch in reader.batches())
            finally:
                reader.close()
        except CaptureError as exc:
            # A classic pcap has one link type for the file: one we cannot decode is refused.
            if c.file_type == "pcap" and "link type" in str(exc):
                unsupported.append(f"{c.path.relative_to(PCAPS)} ({c.link_type})")
                continue
            mismatches.append(f"{c.path.relative_to(PCAPS)}: {exc}")
            continue
        if n != c.packets:
            mismatches.append(f"{c.path.relative_to(PCAPS)}: {n} packets, capinfos {c.packets}")
    print(f"{checked} captures, {len(unsupported)} refused for their link type: {unsupported}")
    assert checked > 1000
    assert mismatches == [], "\n".join(mismatches)
