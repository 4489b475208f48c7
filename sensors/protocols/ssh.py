"""SSH identification banners (RFC 4253 section 4.2): the first line each side sends.

Lines before the banner are allowed from the server (section 4.2); a client that sends no
``SSH-`` line within the first few kilobytes is not speaking SSH.
"""

from __future__ import annotations

from sensors.events import ContentFacts, Direction, FlowRef, SshSeen
from sensors.protocols.base import ParserError, ParserLimits, StreamParser

MAX_PREAMBLE = 8192
MAX_BANNER = 255  # RFC 4253: the identification string is at most 255 characters


class SshParser(StreamParser):
    id = "ssh"

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        super().__init__(flow, limits)
        self._buf: dict[str, bytearray] = {"orig": bytearray(), "resp": bytearray()}
        self._banner: dict[str, str | None] = {"orig": None, "resp": None}
        self._seen = 0
        self._reported = False
        self._ts = 0

    def feed(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        if self._banner[direction] is not None:
            return
        buf = self._buf[direction]
        buf += data[: MAX_PREAMBLE - len(buf)]
        self._ts = self._ts or ts_ns
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            if line.startswith(b"SSH-"):
                text = line.rstrip(b"\r")[:MAX_BANNER].decode("utf-8", "backslashreplace")
                self._banner[direction] = text
                self._buf[direction] = bytearray()
                break
            if direction == "orig":
                raise ParserError("the client's first line is not an SSH banner")
        else:
            if len(buf) >= MAX_PREAMBLE:
                raise ParserError("no SSH banner in the first 8 KB")
        if all(v is not None for v in self._banner.values()):
            self._report(facts)

    def close(self, ts_ns: int, facts: ContentFacts) -> None:
        if any(v is not None for v in self._banner.values()):
            self._report(facts)

    def _report(self, facts: ContentFacts) -> None:
        if not self._reported:
            self._reported = True
            facts.ssh.append(
                SshSeen(self.flow, self._ts, self._banner["orig"], self._banner["resp"])
            )
