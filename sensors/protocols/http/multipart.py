"""multipart/form-data bodies (RFC 7578, RFC 2046 section 5.1) split into parts as they pass.

Written here rather than taken from ``multipart`` or ``python-multipart``: those validate as a
server should and stop at the first deviation, while an IDS must see what lenient servers (PHP,
ASP.NET) accept from an attacker: bare LF line ends, a missing final boundary, junk after a
boundary, parts without headers. Deviations are named in ``problems``. Memory is bounded by the
boundary's length and the part-header budget, whatever the body's size.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message

from sensors.protocols.http.files import FileBuilder
from sensors.protocols.http.message import add_problem, header_fields

#: RFC 2046 allows 70 characters; longer boundaries are still followed, up to this.
MAX_BOUNDARY = 256
MAX_PARTS = 1000
MAX_PART_HEAD = 16 * 1024
_HEAD_END = re.compile(rb"\n\r?\n")

#: Called with a part's header fields; returns where its bytes go (None: not a file, dropped).
PartOpener = Callable[[list[tuple[str, str]]], FileBuilder | None]

_PREAMBLE, _AFTER, _HEAD, _BODY, _EPILOGUE = range(5)


def param(value: str, name: str, header: str = "content-type") -> str | None:
    """A parameter of a header value (``boundary``, ``filename``), RFC 2231 forms included,
    read by the standard library's MIME parser."""
    msg = Message()
    msg[header] = value
    found = msg.get_param(name, header=header)
    if isinstance(found, tuple):  # RFC 2231: (charset, language, value)
        found = found[2] if found[2] is not None else None
    return found if isinstance(found, str) else None


def filename(value: str) -> str | None:
    """The file name in a Content-Disposition value (``filename*`` of RFC 6266 preferred)."""
    msg = Message()
    msg["content-disposition"] = value
    try:
        found = msg.get_filename()
    except (ValueError, LookupError):  # a charset Python does not know
        found = param(value, "filename", "content-disposition")
    return found


class MultipartSplitter:
    def __init__(
        self, boundary: str, opener: PartOpener, problems: list[str], max_headers: int
    ) -> None:
        raw = boundary.encode("utf-8", "replace")[:MAX_BOUNDARY]
        self.delim = b"--" + raw
        self.marker = b"\n" + self.delim
        self.opener = opener
        self.problems = problems
        self.max_headers = max_headers
        self.buf = bytearray()
        self.state = _PREAMBLE
        self.part: FileBuilder | None = None
        self.parts = 0
        self.files: list[FileBuilder] = []

    def write(self, data: bytes) -> None:
        if self.state == _EPILOGUE:
            return
        self.buf += data
        progress = True
        while progress and self.buf:
            progress = self._step()

    def finish(self) -> list[FileBuilder]:
        """The body ended; the parts that were files, in order."""
        if self.state == _BODY:
            add_problem(self.problems, "multipart_unterminated")
            if self.part is not None:
                self.part.write(bytes(self.buf))
        elif self.state != _EPILOGUE:
            add_problem(self.problems, "multipart_unterminated")
        self.buf = bytearray()
        self.state = _EPILOGUE
        return self.files

    def _step(self) -> bool:
        """One state's work on the buffer; False when it needs more bytes."""
        buf = self.buf
        if self.state == _PREAMBLE:
            i = buf.find(self.delim)
            while i > 0 and buf[i - 1] != 0x0A:
                i = buf.find(self.delim, i + 1)
            if i < 0:
                del buf[: max(0, len(buf) - len(self.delim))]
                return False
            del buf[: i + len(self.delim)]
            self.state = _AFTER
            return True
        if self.state == _AFTER:
            return self._after_delimiter()
        if self.state == _HEAD:
            return self._head()
        return self._body()

    def _after_delimiter(self) -> bool:
        buf = self.buf
        if buf[:2] == b"--":
            self.state = _EPILOGUE
            self.buf = bytearray()
            return False
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > MAX_PART_HEAD:
                add_problem(self.problems, "multipart_bad_boundary_line")
                self.state = _EPILOGUE
            return False
        if buf[:nl].strip(b" \t\r"):
            add_problem(self.problems, "multipart_junk_after_boundary")
        del buf[: nl + 1]
        self.state = _HEAD
        return True

    def _head(self) -> bool:
        buf = self.buf
        if buf[:1] == b"\n" or buf[:2] == b"\r\n":
            lines: list[bytes] = []
            del buf[: 1 if buf[:1] == b"\n" else 2]
        else:
            m = _HEAD_END.search(buf)
            if m is None:
                if len(buf) > MAX_PART_HEAD:
                    add_problem(self.problems, "multipart_head_too_long")
                    self.state = _EPILOGUE
                return False
            lines = bytes(buf[: m.start()]).split(b"\n")
            del buf[: m.end()]
        self.parts += 1
        if self.parts > MAX_PARTS:
            add_problem(self.problems, "too_many_multipart_parts")
            self.state = _EPILOGUE
            return False
        fields = header_fields(lines, self.max_headers, MAX_PART_HEAD, self.problems)
        self.part = self.opener(fields)
        if self.part is not None:
            self.files.append(self.part)
        self.state = _BODY
        return True

    def _body(self) -> bool:
        buf = self.buf
        i = buf.find(self.marker)
        if i < 0:
            # Keep what could still begin a delimiter (CR LF -- boundary).
            cut = len(buf) - len(self.marker) - 1
            if cut > 0:
                if self.part is not None:
                    self.part.write(bytes(buf[:cut]))
                del buf[:cut]
            return False
        end = i - 1 if i > 0 and buf[i - 1] == 0x0D else i
        if self.part is not None:
            self.part.write(bytes(buf[:end]))
        self.part = None
        del buf[: i + len(self.marker)]
        self.state = _AFTER
        return True
