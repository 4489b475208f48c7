"""A message body on its way from the framer to files: content codings undone, multipart bodies
split, bytes counted (the decoded length, as Zeek's ``request_body_len`` counts them)."""

from __future__ import annotations

from cityshield.ids import record_id
from sensors.events import Direction, FileSeen, FlowRef
from sensors.protocols.base import ParserLimits
from sensors.protocols.http.decoding import ContentDecoder
from sensors.protocols.http.files import FileBuilder, name_from_target
from sensors.protocols.http.message import Head, add_problem
from sensors.protocols.http.multipart import MultipartSplitter, filename, param


class Entity:
    """The body of one message; the framer writes its payload, ``finish`` gives its files."""

    def __init__(
        self, flow: FlowRef, direction: Direction, depth: int, head: Head, target: str | None,
        ts_ns: int, limits: ParserLimits, problems: list[str],
    ) -> None:  # fmt: skip
        self.flow = flow
        self.direction: Direction = direction
        self.depth = depth
        self.ts_ns = ts_ns
        self.limits = limits
        self.problems = problems
        self.length = 0  # decoded bytes
        self.raw = 0  # bytes as framed (after the transfer coding)
        self.stopped = False
        codings = [c.strip().lower() for v in head.values("content-encoding") for c in v.split(",")]
        self.decoder = ContentDecoder(codings, limits.max_decompressed, problems)
        self.decoding = bool(self.decoder.layers)
        ctype = head.get("content-type") or ""
        self.splitter: MultipartSplitter | None = None
        self.file: FileBuilder | None = None
        self.file_of = (head, target, ctype)  # a body's file is made with its first byte
        boundary = param(ctype, "boundary") if ctype.lower().startswith("multipart/") else None
        if boundary:
            self.splitter = MultipartSplitter(boundary, self._part, problems, limits.max_headers)

    def _builder(self, part: int, name: str | None, declared: str | None) -> FileBuilder:
        file_id = "F" + record_id(self.flow.flow_id, self.direction, self.depth, part, size=9)
        return FileBuilder(self.flow, self.direction, file_id, self.ts_ns, name=name,
                           declared=declared, keep=self.limits.max_file_data,
                           pool=self.limits.file_data)  # fmt: skip

    def _part(self, fields: list[tuple[str, str]]) -> FileBuilder | None:
        """A multipart part: a file when its Content-Disposition names one (RFC 7578 4.2)."""
        headers = {k.lower(): v for k, v in fields}
        disposition = headers.get("content-disposition")
        name = filename(disposition) if disposition else None
        if not name:
            return None
        assert self.splitter is not None
        return self._builder(self.splitter.parts, name, headers.get("content-type"))

    def write(self, data: bytes) -> None:
        if self.stopped:
            return
        if self.raw + len(data) > self.limits.max_body:
            add_problem(self.problems, "body_size_exceeded")
            data = data[: self.limits.max_body - self.raw]
            self.stopped = True
        self.raw += len(data)
        decoded = self.decoder.decode(data) if self.decoding else data
        self.length += len(decoded)
        if self.splitter is not None:
            self.splitter.write(decoded)
        elif decoded:
            self._file().write(decoded)

    def _file(self) -> FileBuilder:
        if self.file is None:
            head, target, ctype = self.file_of
            disposition = head.get("content-disposition")
            name = (filename(disposition) if disposition else None) or name_from_target(target)
            self.file = self._builder(0, name, ctype)
        return self.file

    def gap(self, size: int) -> None:
        """Bytes of the body were never seen: a decoder cannot go on; a plain file has a hole
        (counted in the body's length, as Zeek counts it)."""
        add_problem(self.problems, "body_gap")
        if self.decoding or self.splitter is not None:
            self.stopped = True
        elif not self.stopped:
            self.length += size
            self._file().gap(size)

    def finish(self) -> list[FileSeen]:
        builders = self.splitter.finish() if self.splitter is not None else [self.file]
        cut = self.stopped or self.decoder.stopped
        out = []
        for i, b in enumerate(builders):
            if b is None:
                continue
            b.cut = b.cut or (cut and i == len(builders) - 1)  # only the last one was cut short
            fact = b.finish()
            if fact is not None:
                out.append(fact)
        return out
