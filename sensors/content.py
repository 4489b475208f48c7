"""Content inspection: TCP streams reassembled, protocols recognised and parsed, facts emitted.

Runs after the flow table on each batch. Only packets that carry payload (and the SYNs, FINs and
RSTs of connections already followed) reach the per-segment Python path; everything else stays
in arrays. A connection's streams and parser live until its flow ends; then what is still pending
is delivered (after gaps), final chunks are emitted and the parser closes.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from cityshield.settings import Section
from sensors.decode import DecodedPackets
from sensors.events import ContentFacts, Direction, FlowRef, StreamChunk
from sensors.extract import FileExtractor, FileSettings
from sensors.flows import FlowBatch, FlowTable
from sensors.protocols import registry
from sensors.protocols.base import (
    DatagramParser,
    ParserError,
    ParserLimits,
    SharedBudget,
    StreamParser,
)
from sensors.sources.batch import PacketBatch
from sensors.streams.settings import StreamSettings
from sensors.streams.stream import SEQ_MOD, Delivery, Stream

log = logging.getLogger(__name__)

SYN, FIN, RST = 0x02, 0x01, 0x04
#: Bytes of a connection's first direction looked at to recognise its protocol.
SNIFF_BYTES = 24


class ContentSettings(Section):
    enabled: bool = True
    streams: StreamSettings = StreamSettings()
    #: Parsers by id to leave out (``http``, ``tls``, ``ssh``, ``dns``).
    disabled_parsers: list[str] = Field(default_factory=list)
    #: Emit reassembled stream chunks for content detectors (YARA).
    stream_chunks: bool = True
    #: Extraction of files seen in traffic (HTTP bodies and uploads) to a folder.
    files: FileSettings = FileSettings()


@dataclass(slots=True)
class _Side:
    stream: Stream
    direction: Direction
    chunk: bytearray = field(default_factory=bytearray)
    chunk_offset: int = 0  # stream offset of chunk[0]
    tail: bytes = b""  # the end of the previous chunk, repeated at the start of the next
    gap: int = 0
    first_frame: int = 0
    last_frame: int = 0
    ts: int = 0


@dataclass(slots=True)
class _Conn:
    flow: FlowRef
    a_is_orig: bool
    sides: list[_Side | None]
    parser: StreamParser | None = None
    protocol: str | None = None
    decided: bool = False
    #: The first bytes of the side that spoke first, kept until they tell the protocol.
    head: bytearray = field(default_factory=bytearray)
    head_direction: Direction | None = None


class ContentStage:
    def __init__(self, settings: ContentSettings | None = None) -> None:
        self.settings = s = settings or ContentSettings()
        self.file_pool = SharedBudget(s.files.kept_max_total)
        self.limits = ParserLimits(file_data=self.file_pool)
        self._conns: dict[int, _Conn] = {}
        self._udp: dict[int, DatagramParser | None] = {}
        self._udp_flows: dict[int, FlowRef] = {}
        self._memory = 0
        self.stats: Counter[str] = Counter()
        self._dns_port = np.zeros(65536, dtype=bool)
        self._dns_port[list(registry.DATAGRAM_PORTS)] = True
        self._chunks = s.stream_chunks
        self._chunk_bytes = s.streams.chunk_bytes
        self._stream_parsers = {
            k: v for k, v in registry.STREAM_PARSERS.items() if k not in s.disabled_parsers
        }
        self._datagram_parsers = {
            k: v for k, v in registry.DATAGRAM_PARSERS.items() if k not in s.disabled_parsers
        }
        self._extractor = FileExtractor(s.files, self.stats) if s.files.extract_dir else None

    @property
    def open_streams(self) -> int:
        return len(self._conns)

    @property
    def memory(self) -> int:
        return self._memory

    # -- per batch --------------------------------------------------------------------------------
    def process(
        self, packets: DecodedPackets, batch: PacketBatch, table: FlowTable
    ) -> ContentFacts:
        facts = ContentFacts()
        if not self.settings.enabled or not len(packets):
            return facts
        cols = packets.columns
        proto, cap = cols["proto"], cols["payload_cap"]
        flags = cols["tcp_flags"]
        tcp = (proto == 6) & ((cap > 0) | ((flags & (SYN | FIN | RST)) != 0))
        udp = (
            (proto == 17)
            & (cap > 0)
            & (self._dns_port[cols["sport"]] | self._dns_port[cols["dport"]])
        )
        # One copy of the batch as bytes, then cheap slices: a numpy slice plus tobytes() per
        # packet costs three times as much.
        data = packets.data.tobytes()
        assign = table.assignment
        rows = cols["row"]
        for k in np.flatnonzero(udp).tolist():
            off, n = int(cols["payload_off"][k]), int(cap[k])
            self._datagram(table, int(assign.serial[k]), int(assign.slot[k]),
                           bool(assign.from_a[k]), data[off : off + n], int(batch.ts_ns[rows[k]]),
                           facts)  # fmt: skip
        take = np.flatnonzero(tcp)
        if len(take):
            self._tcp(take, cols, data, batch, table, facts)
        return self._extract(facts)

    def _tcp(
        self, take: npt.NDArray[np.int64], cols: dict[str, npt.NDArray[Any]], data: bytes,
        batch: PacketBatch, table: FlowTable, facts: ContentFacts,
    ) -> None:  # fmt: skip
        """TCP segments, connection by connection in capture order, in runs: consecutive
        in-sequence data segments from one side are found with array operations and delivered
        as one piece, so that a bulk transfer costs a join, not a Python call per segment."""
        assign = table.assignment
        take = take[np.argsort(assign.serial[take], kind="stable")]
        serial = assign.serial[take]
        side = (~assign.from_a[take]).astype(np.int64)
        seq = cols["tcp_seq"][take].astype(np.int64)
        n = cols["payload_cap"][take]
        fl = cols["tcp_flags"][take]
        special = ((fl & (SYN | FIN | RST)) != 0) | (n == 0)
        cut = np.ones(len(take), dtype=bool)
        cut[1:] = (
            (serial[1:] != serial[:-1]) | (side[1:] != side[:-1]) | special[1:] | special[:-1]
            | (seq[1:] != (seq[:-1] + n[:-1]) % SEQ_MOD)
        )  # fmt: skip
        starts = np.flatnonzero(cut).tolist()
        ends = [*starts[1:], len(take)]
        rows = cols["row"][take]
        ts_all = batch.ts_ns[rows].tolist()
        frames = (batch.first_frame + rows).tolist()
        offs = cols["payload_off"][take].tolist()
        ns, seqs, fls = n.tolist(), seq.tolist(), fl.tolist()
        serials, sides, slots = serial.tolist(), side.tolist(), assign.slot[take].tolist()
        for a, b in zip(starts, ends, strict=True):
            if b - a > 2:
                # The run's first segment goes the careful way (it may set the stream up), the
                # rest, if the stream is where the run continues, in one piece.
                o = offs[a]
                self._segment(table, serials[a], slots[a], sides[a] == 0, seqs[a], fls[a],
                              data[o : o + ns[a]], ts_all[a], frames[a], facts)  # fmt: skip
                a += 1
                if self._run(
                    table, serials[a], slots[a], sides[a], seqs[a],
                    b"".join([data[o : o + k] for o, k in zip(offs[a:b], ns[a:b], strict=True)]),
                    ts_all[a], frames[a], ts_all[b - 1], frames[b - 1], facts,
                ):  # fmt: skip
                    continue
            for k in range(a, b):
                o = offs[k]
                self._segment(table, serials[k], slots[k], sides[k] == 0, seqs[k], fls[k],
                              data[o : o + ns[k]], ts_all[k], frames[k], facts)  # fmt: skip

    def _run(
        self, table: FlowTable, serial: int, slot: int, i: int, seq: int, payload: bytes,
        ts: int, frame: int, last_ts: int, last_frame: int, facts: ContentFacts,
    ) -> bool:  # fmt: skip
        """Deliver a run of in-sequence segments at once if the stream is ready for it."""
        conn = self._conns.get(serial)
        side = conn.sides[i] if conn is not None else None
        if side is None:
            return False  # the first segment of a side sets it up: the segment path does it
        stream = side.stream
        base = stream.base
        if (
            base is None
            or stream.done
            or stream.offsets
            or stream.gap_due
            or (seq - base) % SEQ_MOD != stream.next
            or stream.next + len(payload) > stream.depth
        ):
            return False
        stream.remember(payload)
        stream.next += len(payload)
        side.last_frame, side.ts = last_frame, last_ts
        self._take(conn, i, side, payload, ts, facts)  # type: ignore[arg-type]
        return True

    def end(self, ended: FlowBatch) -> ContentFacts:
        """Flows that ended: close their streams and parsers."""
        facts = ContentFacts()
        if len(ended):
            for serial in ended.cols["serial"].tolist():
                self._close(serial, facts)
        return self._extract(facts)

    def finish(self) -> ContentFacts:
        facts = ContentFacts()
        for serial in list(self._conns) + list(self._udp):
            self._close(serial, facts)
        return self._extract(facts)

    def _extract(self, facts: ContentFacts) -> ContentFacts:
        """Files written to the extraction folder, when there is one (``sensors.extract``)."""
        if self._extractor is not None and facts.files:
            facts.files = self._extractor.extract(facts.files)
        return facts

    # -- TCP -------------------------------------------------------------------------------------
    def _segment(
        self, table: FlowTable, serial: int, slot: int, from_a: bool, seq: int, fl: int,
        payload: bytes, ts: int, frame: int, facts: ContentFacts,
    ) -> None:  # fmt: skip
        conn = self._conns.get(serial)
        if conn is None:
            if not payload:
                return  # handshakes and teardowns of connections never carrying data: no state
            if len(self._conns) >= self.settings.streams.max_streams:
                self.stats["streams_refused"] += 1
                return
            flow = table.flow_ref(slot)
            a_is_orig = bool(table.arrays.cols["orig_is_a"][slot])
            conn = self._conns[serial] = _Conn(flow, a_is_orig, [None, None])
            self.stats["streams"] += 1
        i = 0 if from_a else 1
        side = conn.sides[i]
        if side is None:
            s = self.settings.streams
            stream = Stream(s.depth, s.max_pending, s.max_pending_segments)
            direction: Direction = "orig" if (i == 0) == conn.a_is_orig else "resp"
            side = conn.sides[i] = _Side(stream, direction, first_frame=frame)
            # The flow table saw this side's SYN even if it came before any payload (connections
            # get content state only once they carry data): start the stream there.
            isn = table.start_seq(slot, direction == "orig")
            if isn is not None:
                stream.syn(isn)
        stream = side.stream
        if fl & SYN:
            stream.syn(seq)
        if stream.done:
            return
        side.last_frame, side.ts = frame, ts
        base = stream.base
        if (
            payload
            and base is not None
            and not fl & (FIN | RST)
            and not stream.offsets
            and not stream.gap_due
            and (seq - base) % SEQ_MOD == stream.next
            and stream.next + len(payload) <= stream.depth
        ):
            # The common case, in order and within budget: no Delivery objects, no checks.
            stream.remember(payload)
            stream.next += len(payload)
            self._take(conn, i, side, payload, ts, facts)
            return
        out: list[Delivery] = []
        self._memory += stream.add(seq, payload, bool(fl & FIN), out)
        if fl & RST:
            self._memory -= stream.close(out)
        for delivery in out:
            self._deliver(conn, i, side, delivery, ts, facts)
        if stream.truncated:
            self.stats["depth_reached"] += 1
            stream.truncated = False  # counted once
        if self._memory > self.settings.streams.memory:
            # Over budget: give up this stream's holes and hand out its buffer now.
            self.stats["memory_budget_exceeded"] += 1
            self._memory -= stream.close(out := [])
            for delivery in out:
                self._deliver(conn, i, side, delivery, ts, facts)
            self._emit(conn, i, side, facts, final=False)

    def _deliver(
        self, conn: _Conn, i: int, side: _Side, d: Delivery, ts: int, facts: ContentFacts
    ) -> None:
        direction = side.direction
        if d.gap:
            self.stats["gaps"] += 1
            self.stats["gap_bytes"] += d.gap
            if self.settings.stream_chunks and side.chunk:
                self._emit(conn, i, side, facts, final=False)
            side.gap += d.gap
            side.chunk_offset += d.gap
            side.tail = b""
            if conn.parser is not None:
                self._parse(conn, lambda: conn.parser.gap(direction, d.gap, ts, facts))
        if d.data:
            self._take(conn, i, side, d.data, ts, facts)

    def _take(
        self, conn: _Conn, i: int, side: _Side, data: bytes, ts: int, facts: ContentFacts
    ) -> None:
        """In-order bytes of one side: to the parser, and to the chunk for content detectors."""
        to_parse = data
        if not conn.decided:
            to_parse = self._recognise(conn, side.direction, data, ts, facts)
        parser = conn.parser
        if parser is not None and to_parse:
            try:
                parser.feed(side.direction, to_parse, ts, facts)
            except Exception as exc:
                self._parser_failed(conn, exc)
        if self._chunks:
            side.chunk += data
            self._memory += len(data)
            if len(side.chunk) >= self._chunk_bytes:
                self._emit(conn, i, side, facts, final=False)

    def _recognise(
        self, conn: _Conn, direction: Direction, data: bytes, ts: int, facts: ContentFacts
    ) -> bytes:
        """Recognise the protocol from the first bytes, waiting for up to ``SNIFF_BYTES`` of them
        (a request sent a byte at a time must still be recognised, as Zeek's tcp-padding trace
        shows). Returns what the parser still has to be fed of ``data`` once the held head has
        been fed (nothing while waiting)."""
        if conn.head_direction is None:
            conn.head_direction = direction
        if direction == conn.head_direction:
            take = data[: SNIFF_BYTES - len(conn.head)]
            conn.head += take
            if len(conn.head) < SNIFF_BYTES and not registry.sniff(direction, bytes(conn.head)):
                return b""
            self._decide(conn, direction, bytes(conn.head))
            self._feed_head(conn, ts, facts)
            return data[len(take) :]
        # The other side speaks before the first said enough: decide on what there is.
        self._decide(conn, conn.head_direction, bytes(conn.head))
        self._feed_head(conn, ts, facts)
        return data

    def _feed_head(self, conn: _Conn, ts: int, facts: ContentFacts) -> None:
        head, conn.head = bytes(conn.head), bytearray()
        if conn.parser is not None and head and conn.head_direction is not None:
            try:
                conn.parser.feed(conn.head_direction, head, ts, facts)
            except Exception as exc:
                self._parser_failed(conn, exc)

    def _decide(self, conn: _Conn, direction: Direction, head: bytes) -> None:
        conn.decided = True
        f = conn.flow
        pid = registry.stream_protocol(direction, head, f.orig_port, f.resp_port)
        if pid is not None and pid in self._stream_parsers:
            conn.protocol = pid
            conn.parser = self._stream_parsers[pid](f, self.limits)
            self.stats[f"protocol_{pid}"] += 1

    def _parse(self, conn: _Conn, call: object) -> None:
        try:
            call()  # type: ignore[operator]
        except Exception as exc:
            self._parser_failed(conn, exc)

    def _parser_failed(self, conn: _Conn, exc: Exception) -> None:
        """A violation stops the parser for this connection (counted, like Zeek's analyzer
        violations); any other exception is a parser bug, logged with its traceback."""
        if isinstance(exc, ParserError):
            self.stats[f"parser_violation_{conn.protocol}"] += 1
            log.debug("%s parser stopped on %s: %s", conn.protocol, conn.flow.flow_id, exc)
        else:
            self.stats[f"parser_error_{conn.protocol}"] += 1
            log.error("%s parser failed on %s", conn.protocol, conn.flow.flow_id, exc_info=exc)
        conn.parser = None

    def _emit(self, conn: _Conn, i: int, side: _Side, facts: ContentFacts, *, final: bool) -> None:
        if not side.chunk and (not final or side.chunk_offset == 0):
            return  # nothing new (a side that never carried data has no chunks at all)
        overlap = min(len(side.tail), self.settings.streams.chunk_overlap)
        data = (
            side.tail[len(side.tail) - overlap :] + bytes(side.chunk)
            if overlap
            else bytes(side.chunk)
        )
        direction = side.direction
        if data or final:
            facts.stream_chunks.append(
                StreamChunk(
                    conn.flow,
                    direction,
                    side.chunk_offset - overlap,
                    data,
                    side.ts,
                    side.first_frame,
                    side.last_frame,
                    conn.protocol,
                    side.gap,
                    overlap,
                    final,
                )
            )
        self._memory -= len(side.chunk)
        side.chunk_offset += len(side.chunk)
        side.tail = (
            bytes(side.chunk[-self.settings.streams.chunk_overlap :]) if side.chunk else side.tail
        )
        side.chunk = bytearray()
        side.gap = 0
        side.first_frame = side.last_frame

    # -- UDP -------------------------------------------------------------------------------------
    def _datagram(
        self, table: FlowTable, serial: int, slot: int, from_a: bool, payload: bytes, ts: int,
        facts: ContentFacts,
    ) -> None:  # fmt: skip
        if serial not in self._udp:
            flow = table.flow_ref(slot)
            pid = registry.datagram_protocol(flow.orig_port, flow.resp_port)
            cls = self._datagram_parsers.get(pid) if pid else None
            self._udp[serial] = cls(flow, self.limits) if cls else None
            self._udp_flows[serial] = flow
        parser = self._udp[serial]
        if parser is None:
            return
        orig_is_a = bool(table.arrays.cols["orig_is_a"][slot])
        direction: Direction = "orig" if from_a == orig_is_a else "resp"
        try:
            parser.datagram(direction, payload, ts, facts)
        except ParserError:
            self.stats[f"parser_violation_{parser.id}"] += 1
        except Exception:
            self.stats[f"parser_error_{parser.id}"] += 1
            log.exception("%s parser failed on %s", parser.id, parser.flow.flow_id)

    # -- closing ---------------------------------------------------------------------------------
    def _close(self, serial: int, facts: ContentFacts) -> None:
        conn = self._conns.pop(serial, None)
        if conn is not None:
            for i, side in enumerate(conn.sides):
                if side is None:
                    continue
                out: list[Delivery] = []
                self._memory -= side.stream.close(out)
                for d in out:
                    self._deliver(conn, i, side, d, side.ts, facts)
                self.stats["conflicts"] += side.stream.conflicts
                self.stats["retransmissions"] += side.stream.retransmitted
                if self.settings.stream_chunks:
                    self._emit(conn, i, side, facts, final=True)
            ts = max((s.ts for s in conn.sides if s is not None), default=0)
            if not conn.decided and conn.head_direction is not None:
                # Fewer bytes than needed to be sure, and the connection is over: decide anyway.
                self._decide(conn, conn.head_direction, bytes(conn.head))
                self._feed_head(conn, ts, facts)
            if conn.parser is not None:
                self._parse(conn, lambda: conn.parser.close(ts, facts))
        parser = self._udp.pop(serial, None)
        self._udp_flows.pop(serial, None)
        if parser is not None:
            parser.close(0, facts)
