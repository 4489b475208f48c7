"""HTTP/1.x connections: requests queue as they are read (pipelining), responses pair with them in
order, and each pair becomes one ``HttpSeen`` when both ends are complete (or the connection
closes), like a line of Zeek's http.log.

Hand-written, not ``httptools`` (llhttp): llhttp is a server's parser. It stops for good at the
first deviation (measured on the corpus's HTTP traces, see tests/unit/sensors/protocols/
test_http_llhttp.py), cannot be told that a response answers a HEAD request, and does not resync
after a gap or junk. An IDS must follow what lenient peers accept and name each deviation, so
this parser reads heads leniently (``message``), frames bodies itself (``framing``), and after a
gap or junk it looks for the next message start instead of giving up. It works on whole pieces
with ``bytes.find`` and regular expressions, never byte by byte.

Budgets: a head is at most ``MAX_HEAD`` bytes and ``max_headers`` fields; requests awaiting
responses at most ``MAX_PENDING``; transactions per connection ``max_transactions``; bodies,
decompressed bytes and bytes kept per file as ``ParserLimits`` says.

After a successful ``Upgrade`` (101) or ``CONNECT`` (2xx) the connection is no longer HTTP and
parsing stops. (A CONNECT tunnel usually carries TLS; handing it to the TLS parser is future work.)
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from sensors.events import ContentFacts, Direction, FlowRef, HttpSeen
from sensors.protocols.base import ParserError, ParserLimits, StreamParser
from sensors.protocols.http.entity import Entity
from sensors.protocols.http.framing import ChunkedFramer, CloseFramer, Framer, LengthFramer
from sensors.protocols.http.message import (
    Head,
    add_problem,
    header_block,
    is_version,
    request_line,
    status_line,
)

#: The longest head (start line and header fields) read; longer ones are given up (Apache and
#: nginx refuse heads far shorter).
MAX_HEAD = 64 * 1024
MAX_PENDING = 100
#: Times a direction may lose its way (junk, gaps) and look for the next message.
MAX_RESYNCS = 64

_HEAD, _BODY, _HOLD, _TUNNEL, _LOST = range(5)
_BLANK = re.compile(rb"[\r\n]*")
_HEAD_END = re.compile(rb"\n\r?\n")
#: Where a message may start again after junk or a gap: a line starting a request or response,
#: or, anywhere, a request line of a common method (servers that skip junk before a request
#: accept it, so an evasion may put junk there: Zeek's http-bad-request-with-version trace).
_REQUEST_START = re.compile(
    rb"\n(?=[A-Z][A-Z-]{2,15} [\x21-\x7e])"
    rb"|(?<![A-Za-z])(?=(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|PROPFIND) [\x21-\x7e]+ HTTP/)"
)
#: Bytes that no HTTP start line holds: a first line with them is another protocol.
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_RESPONSE_START = re.compile(rb"\n(?=HTTP/\d\.\d[ \t]+\d{3})", re.IGNORECASE)
_CARRY = 24  # bytes kept between pieces while looking for a message start
_FIELD_OR_BLANK = re.compile(rb"\r?\n|[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*:")


@dataclass(slots=True, eq=False)
class _Txn:
    depth: int
    ts: int
    request: Head | None = None
    response: Head | None = None
    request_len: int = 0
    response_len: int = 0
    request_files: list[str] = field(default_factory=list)
    response_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    request_done: bool = False
    response_done: bool = False


@dataclass(slots=True, eq=False)
class _Side:
    direction: Direction
    state: int = _HEAD
    head: bytearray = field(default_factory=bytearray)  # a head being read; the carry when lost
    checked: bool = False  # the head's first line was looked at
    ts: int = 0
    framer: Framer | None = None
    entity: Entity | None = None
    txn: _Txn | None = None
    resyncs: int = 0
    seen: bool = False  # a message was read in this direction


class HttpParser(StreamParser):
    id = "http"

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        super().__init__(flow, limits)
        self._req = _Side("orig")
        self._resp = _Side("resp")
        self._pending: deque[_Txn] = deque()  # requests awaiting their response, oldest first
        self._live: dict[int, _Txn] = {}  # transactions not reported yet, by depth
        self._depth = 0
        self._held = bytearray()  # client bytes after a CONNECT or Upgrade request
        self._holder: _Txn | None = None  # that request

    # -- the StreamParser interface -----------------------------------------------------------
    def feed(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        side = self._req if direction == "orig" else self._resp
        pos = 0
        while pos < len(data):
            state = side.state
            if state == _BODY:
                pos = self._body(side, data, pos, facts)
            elif state == _HEAD:
                data, pos = self._head(side, data, pos, ts_ns, facts)
            elif state == _LOST:
                data, pos = self._resync(side, data, pos)
            elif state == _HOLD:
                room = MAX_HEAD - len(self._held)
                if len(data) - pos > room:
                    add_problem(self.problems, "held_bytes_dropped")
                self._held += data[pos : pos + room]
                return
            else:
                return

    def gap(self, direction: Direction, size: int, ts_ns: int, facts: ContentFacts) -> None:
        side = self._req if direction == "orig" else self._resp
        if side.state == _BODY:
            assert side.framer is not None and side.entity is not None
            if side.framer.gap(size):
                side.entity.gap(size)
                if side.framer.done:
                    self._body_done(side, facts)
                return
            side.entity.gap(size)
            self._body_done(side, facts, complete=False)
            self._lose(side, "body_gap", boundary=True)
        elif side.state in (_HEAD, _LOST):
            self._lose(side, "gap", boundary=True)

    def close(self, ts_ns: int, facts: ContentFacts) -> None:
        for side in (self._req, self._resp):
            if side.state == _BODY:
                assert side.framer is not None
                self._body_done(side, facts, complete=isinstance(side.framer, CloseFramer))
            side.state = _TUNNEL
        for txn in sorted(self._live.values(), key=lambda t: t.depth):
            self._report(txn, facts)

    # -- heads ----------------------------------------------------------------------------------
    def _head(
        self, side: _Side, data: bytes, pos: int, ts: int, facts: ContentFacts
    ) -> tuple[bytes, int]:
        """Read a head; returns where reading goes on (the data may be replaced by what is left
        of a buffer when the direction switches to reading a body from it)."""
        head = side.head
        if not head and side is self._resp and self._answers_http09():
            if data[pos : pos + 5].upper() == b"HTTP/":
                add_problem(self.problems, "status_line_after_http09_request")
            self._response09(side, facts)  # no status line to wait for: all of it is body
            return data, pos
        if not head:
            pos = _BLANK.match(data, pos).end()  # type: ignore[union-attr]
            if pos == len(data):
                return data, pos
            side.ts = ts
            side.checked = False
        before = len(head)
        head += data[pos : pos + MAX_HEAD + 4 - before]
        taken = len(head) - before
        if side is self._resp and not side.seen and self._pending and self._simple(head):
            # The first response without a status line: an HTTP/0.9 Simple-Response, the body
            # alone, which browsers still accept (so an evasion may send one).
            add_problem(self.problems, "http09_response")
            self._response09(side, facts)
            held = bytes(head)
            head.clear()
            return held + data[pos + taken :], 0
        if not side.checked:
            nl = head.find(b"\n")
            if nl < 0:
                return self._head_wait(side, data, pos + taken)
            side.checked = True
            first = bytes(head[:nl]).rstrip(b"\r")
            held = bytes(head)  # (losing the way clears the buffer)
            verdict = self._first_line(side, first, head, nl + 1, facts)
            if verdict == "one-line":  # an HTTP/0.9 request is its line alone
                end = nl + 1
                head.clear()
                return data, pos + end - before
            if verdict == "junk":  # a request may still start in this very line, after the junk
                head.clear()
                return held + data[pos + taken :], 0
        m = _HEAD_END.search(head, max(0, before - 3))
        if m is None:
            return self._head_wait(side, data, pos + taken)
        block = bytes(head[: m.start()])
        head.clear()
        self._head_done(side, block, facts)
        return data, pos + m.end() - before

    @staticmethod
    def _simple(head: bytearray) -> bool:
        """A response head that cannot be a status line (which starts "HTTP/")."""
        start = head[:32].lstrip(b" \t")
        return len(start) >= 5 and start[:5].upper() != b"HTTP/"

    def _head_wait(self, side: _Side, data: bytes, pos: int) -> tuple[bytes, int]:
        if len(side.head) > MAX_HEAD:
            side.head.clear()
            self._lose(side, "head_too_long")
        return data, pos

    def _first_line(
        self, side: _Side, line: bytes, head: bytearray, after: int, facts: ContentFacts
    ) -> str:
        """What a head's first line makes of it: "head" (a head follows), "one-line" (an HTTP/0.9
        request) or "junk" (the direction is lost)."""
        if side is self._req:
            found = request_line(line)
            if found is None or len(line) > self.limits.max_line:
                first = not side.seen and not self._resp.seen
                if first and _BINARY.search(line) and not _REQUEST_START.search(line):
                    raise ParserError("the client's first line is not an HTTP request")
                self._lose(side, "junk_before_request")
                return "junk"
            if found[2] == "0.9" and not _FIELD_OR_BLANK.match(head, after):
                # HTTP/0.9 is the request line alone; but when header fields follow at once,
                # they are read (Zeek reads them too).
                side.seen = True
                self._request(side, Head(found), facts)
                return "one-line"
            if not is_version(found[2]):
                add_problem(self.problems, "bad_request_version")
            return "head"
        status = status_line(line) if len(line) <= self.limits.max_line else None
        if status is None:
            self._lose(side, "junk_before_response")
            return "junk"
        return "head"

    def _head_done(self, side: _Side, block: bytes, facts: ContentFacts) -> None:
        first, _, rest = block.partition(b"\n")
        first = first.rstrip(b"\r")
        problems: list[str] = []
        fields = header_block(rest, self.limits.max_headers, self.limits.max_line, problems)
        side.seen = True
        if side is self._req:
            found = request_line(first)
            assert found is not None
            self._request(side, Head(found, fields, problems), facts)
        else:
            status = status_line(first)
            assert status is not None
            self._response(side, Head(status, fields, problems), facts)

    # -- transactions ----------------------------------------------------------------------------
    def _new(self, ts: int) -> _Txn | None:
        if self._depth >= self.limits.max_transactions:
            add_problem(self.problems, "too_many_transactions")
            self._req.state = self._resp.state = _TUNNEL
            return None
        self._depth += 1
        txn = self._live[self._depth] = _Txn(self._depth, ts)
        return txn

    def _request(self, side: _Side, head: Head, facts: ContentFacts) -> None:
        txn = self._new(side.ts)
        if txn is None:
            return
        txn.request = head
        txn.problems.extend(head.problems)
        self._pending.append(txn)
        if len(self._pending) > MAX_PENDING:
            old = self._pending.popleft()  # never answered: reported without a response
            add_problem(old.problems, "too_many_pending_requests")
            old.response_done = True
            self._report(old, facts)
        framer = self._request_framer(head, txn.problems)
        self._start_body(side, txn, head, framer, facts)

    def _response(self, side: _Side, head: Head, facts: ContentFacts) -> None:
        status = int(head.first[1])
        if 100 <= status < 200 and status != 101:
            return  # an interim response (100 Continue): the final one follows
        if self._pending:
            txn = self._pending.popleft()
        else:
            found = self._new(side.ts)
            if found is None:
                return
            txn = found
            add_problem(txn.problems, "response_without_request")
        txn.response = head
        txn.problems.extend(p for p in head.problems if p not in txn.problems)
        method = txn.request.first[0].upper() if txn.request is not None else ""
        if status == 101 or (method == "CONNECT" and 200 <= status < 300):
            # The connection now carries another protocol (RFC 9110 sections 9.3.6 and 7.8).
            txn.response_done = True
            self._req.state = self._resp.state = _TUNNEL
            self._report(txn, facts)
            return
        framer = self._response_framer(head, method, status, txn.problems)
        self._start_body(side, txn, head, framer, facts)
        if self._req.state == _HOLD and txn is self._holder:
            self._resume(facts)  # the upgrade or tunnel was refused: the client speaks HTTP on

    def _answers_http09(self) -> bool:
        """The next response answers an HTTP/0.9 request: a Simple-Request gets a
        Simple-Response, the body alone (RFC 1945 section 6), as Zeek reads it too (a status line
        there is the server's deviation, and is then part of the body)."""
        older = self._pending[0].request if self._pending else None
        return older is not None and older.first[2] == "0.9"

    def _response09(self, side: _Side, facts: ContentFacts) -> None:
        txn = self._pending.popleft()
        txn.response = Head(("0.9", "", ""))
        side.seen = True
        self._start_body(side, txn, txn.response, CloseFramer(lambda b: None, []), facts)

    def _start_body(
        self, side: _Side, txn: _Txn, head: Head, framer: Framer | None, facts: ContentFacts
    ) -> None:
        side.txn = txn
        req = txn.request
        target = req.first[1] if req is not None else None
        entity = Entity(self.flow, side.direction, txn.depth, head, target, side.ts,
                        self.limits, txn.problems)  # fmt: skip
        side.entity = entity
        if framer is None:
            side.framer = None
            self._body_done(side, facts)
            return
        framer.sink = entity.write
        framer.problems = txn.problems
        side.framer = framer
        side.state = _BODY
        if framer.done:
            self._body_done(side, facts)

    def _body(self, side: _Side, data: bytes, pos: int, facts: ContentFacts) -> int:
        framer = side.framer
        assert framer is not None
        pos = framer.feed(data, pos)
        if framer.done:
            self._body_done(side, facts)
        elif framer.broken:
            self._body_done(side, facts, complete=False)
            self._lose(side, "body_framing_lost")
        return pos

    def _body_done(self, side: _Side, facts: ContentFacts, complete: bool = True) -> None:
        txn, entity = side.txn, side.entity
        assert txn is not None and entity is not None
        files = entity.finish()
        facts.files.extend(files)
        if not complete:
            add_problem(txn.problems, f"{'request' if side is self._req else 'response'}"
                                      "_body_incomplete")  # fmt: skip
        if side is self._req:
            txn.request_len = entity.length
            txn.request_files = [f.file_id for f in files]
            txn.request_done = True
            req = txn.request
            upgrade = req is not None and (req.first[0].upper() == "CONNECT" or req.get("upgrade"))
            side.state = _HOLD if upgrade and complete else _HEAD
            self._holder = txn if side.state == _HOLD else None
        else:
            txn.response_len = entity.length
            txn.response_files = [f.file_id for f in files]
            txn.response_done = True
            side.state = _HEAD
        side.framer = side.entity = side.txn = None
        if txn.request_done and txn.response_done:
            self._report(txn, facts)

    def _resume(self, facts: ContentFacts) -> None:
        held, self._held = bytes(self._held), bytearray()
        self._holder = None
        self._req.state = _HEAD
        if held:
            self.feed("orig", held, self._req.ts, facts)

    # -- framing (RFC 9112 section 6.3) ---------------------------------------------------------
    def _request_framer(self, head: Head, problems: list[str]) -> Framer | None:
        if head.first[2] == "0.9":
            return None
        framer = self._coded(head, problems)
        if framer is not None:
            return framer if not isinstance(framer, CloseFramer) else None
        length = self._length(head, problems)
        return LengthFramer(_drop, problems, length) if length else None

    def _response_framer(
        self, head: Head, method: str, status: int, problems: list[str]
    ) -> Framer | None:
        if method == "HEAD" or status in (204, 304) or status < 200:
            return None
        framer = self._coded(head, problems)
        if framer is not None:
            return framer
        if head.values("content-length"):
            length = self._length(head, problems)
            if length is not None:
                return LengthFramer(_drop, problems, length)
        return CloseFramer(_drop, problems)

    def _coded(self, head: Head, problems: list[str]) -> Framer | None:
        """A framer for a message with Transfer-Encoding: chunked when "chunked" is among the
        codings, wherever (RFC 9112 section 6.3 wants it last; browsers and servers that take it
        anywhere make the rest an evasion), else the end of the connection (rule 4)."""
        values = head.values("transfer-encoding")
        codings = [c.strip().lower() for v in values for c in v.split(",") if c.strip()]
        if not codings:
            return None
        if head.values("content-length"):
            add_problem(problems, "transfer_encoding_and_content_length")  # smuggling
        if "chunked" in codings:
            if codings != ["chunked"]:
                add_problem(problems, "transfer_coding_not_only_chunked")
            return ChunkedFramer(_drop, problems)
        add_problem(problems, "transfer_coding_not_chunked")
        return CloseFramer(_drop, problems)

    def _length(self, head: Head, problems: list[str]) -> int | None:
        values = {v.strip() for raw in head.values("content-length") for v in raw.split(",")}
        if not values:
            return None
        if len(values) > 1:
            add_problem(problems, "conflicting_content_length")
        value = head.get("content-length") or ""
        value = value.split(",", 1)[0].strip()
        if not value.isdigit() or not value.isascii() or len(value.lstrip("0")) > 18:
            add_problem(problems, "bad_content_length")
            return None
        return int(value)

    # -- losing the way and finding it again ---------------------------------------------------
    def _lose(self, side: _Side, problem: str, *, boundary: bool = False) -> None:
        """The direction is not where a message starts: look for one. After a gap the next byte
        may start one (``boundary``), so the search starts as if after a line end."""
        add_problem(self.problems, problem)
        side.resyncs += 1
        side.head.clear()
        if boundary:
            side.head += b"\n"
        side.state = _LOST if side.resyncs <= MAX_RESYNCS else _TUNNEL

    def _resync(self, side: _Side, data: bytes, pos: int) -> tuple[bytes, int]:
        """Skip to the next line that starts a request (response) in this direction."""
        pattern = _REQUEST_START if side is self._req else _RESPONSE_START
        carry = side.head
        if carry:
            joined = bytes(carry) + data[pos : pos + 64]
            m = pattern.search(joined)
            if m is not None and m.end() <= len(carry) + 64:
                side.head.clear()
                side.state = _HEAD
                return joined[m.end() :] + data[pos + 64 :], 0
            carry.clear()
        m = pattern.search(data, pos)
        if m is None:
            side.head += data[max(pos, len(data) - _CARRY) :]
            return data, len(data)
        side.state = _HEAD
        return data, m.end()

    # -- records ---------------------------------------------------------------------------------
    def _report(self, txn: _Txn, facts: ContentFacts) -> None:
        if self._live.pop(txn.depth, None) is None:
            return
        if txn in self._pending:
            self._pending.remove(txn)
        req, resp = txn.request, txn.response
        # The connection's problems since the last record (junk, gaps) go with this one.
        problems = list(txn.problems)
        for p in self.problems:
            add_problem(problems, p)
        self.problems.clear()
        facts.http.append(
            HttpSeen(
                flow=self.flow,
                ts_ns=txn.ts,
                trans_depth=txn.depth,
                method=req.first[0] if req is not None else None,
                uri=req.first[1] if req is not None else None,
                version=req.first[2] if req is not None else (resp.first[0] if resp else None),
                host=req.get("host") if req is not None else None,
                user_agent=req.get("user-agent") if req is not None else None,
                referrer=req.get("referer") if req is not None else None,
                request_headers=tuple(req.headers) if req is not None else (),
                status=int(resp.first[1]) if resp is not None and resp.first[1] else None,
                reason=resp.first[2] if resp is not None else None,
                response_headers=tuple(resp.headers) if resp is not None else (),
                request_body_len=txn.request_len,
                response_body_len=txn.response_len,
                request_files=tuple(txn.request_files),
                response_files=tuple(txn.response_files),
                problems=tuple(problems),
            )
        )


def _drop(data: bytes) -> None:
    """A framer's sink until the entity is attached."""
