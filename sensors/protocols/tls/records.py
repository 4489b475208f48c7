"""The TLS record layer of one direction (RFC 8446 section 5, RFC 5246 section 6.2), streamed.

Bytes arrive in pieces of any size. Record bodies are never buffered: a handshake record's bytes
go straight to the handshake-message assembler (messages may span records, and several may
share one), an alert's two bytes are read, and everything encrypted is skipped by counting. What
stays in memory is at most a cut record header and one unfinished hello or Certificate message
(bounded by ``MAX_HANDSHAKE``), so a connection costs a few hundred bytes plus that message.
"""

from __future__ import annotations

from typing import Protocol

from sensors.events import Direction
from sensors.protocols.base import ParserError

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
HEARTBEAT, TLS12_CID = 24, 25  # RFC 6520; RFC 9146 (connection ids, always protected)
#: RFC 5246 section 6.2.3: a record body is at most 2^14 + 2048 bytes (TLS 1.3 allows less).
MAX_RECORD = 2**14 + 2048
#: The largest handshake message kept: hellos are a few kilobytes (post-quantum key shares
#: included) and certificate chains a few tens; larger ones are dropped and counted.
MAX_HANDSHAKE = 64 * 1024
#: Handshake messages held until whole because they are read (ClientHello, ServerHello,
#: Certificate); the others are passed over as they arrive.
KEPT = frozenset({1, 2, 11})
#: An SSL 2.0 record (RFC 6101 appendix E) has a two-byte header; its length is 15 bits.
MAX_SSLV2_RECORD = 0x7FFF
_PROTECTION = (CHANGE_CIPHER_SPEC, APPLICATION_DATA, TLS12_CID)


class RecordSink(Protocol):
    """What the record layer reports to the handshake state machine."""

    def handshake_message(self, reader: RecordReader, msg_type: int, body: bytes) -> None: ...

    def sslv2_message(self, reader: RecordReader, body: bytes) -> None: ...

    def protection_started(self, reader: RecordReader, content_type: int) -> None:
        """A ChangeCipherSpec or application-data record while ``reader.encrypted`` is off: the
        sink decides whether protection has started (in TLS 1.3, ChangeCipherSpec is only for
        middlebox compatibility and does not start it)."""

    def alert(self, reader: RecordReader, level: int, description: int) -> None: ...

    def problem(self, name: str) -> None: ...


class RecordReader:
    """One direction's records. ``encrypted`` is turned on by the sink (at ChangeCipherSpec or
    the first application-data record): after it, handshake records are ciphertext, skipped."""

    __slots__ = ("alert_bytes", "body_left", "body_type", "direction", "drop", "encrypted",
                 "header", "lost", "message", "records", "sink", "v2", "v2_size")  # fmt: skip

    def __init__(self, direction: Direction, sink: RecordSink) -> None:
        self.direction = direction
        self.sink = sink
        self.header = b""  # a record header cut by the end of a piece
        self.body_type = 0
        self.body_left = 0  # bytes of the current record's body still to come
        self.message = bytearray()  # handshake bytes that are not yet a whole message
        self.drop = 0  # bytes of an oversized handshake message still to be dropped
        self.alert_bytes = b""
        self.encrypted = False
        self.lost = False  # bytes went missing: this direction is no longer followed
        self.records = 0
        self.v2: bytearray | None = None  # an SSL 2.0 record not yet whole
        self.v2_size = 0

    def feed(self, data: bytes) -> None:
        if self.v2 is not None:
            self.v2 += data
            if len(self.v2) < self.v2_size:
                return
            data, self.v2 = bytes(self.v2), None
        elif self.header:
            data = self.header + data
            self.header = b""
        pos, n = 0, len(data)
        while pos < n:
            left = self.body_left
            if left:
                take = left if left <= n - pos else n - pos
                if not self.encrypted:
                    if self.body_type == HANDSHAKE:
                        self._handshake(data[pos : pos + take])
                    elif self.body_type == ALERT:
                        self._alert(data[pos : pos + take])
                self.body_left = left - take
                pos += take
                continue
            if n - pos < 5:
                self.header = data[pos:]
                return
            if self.records == 0 and data[pos] & 0x80:
                pos = self._sslv2(data, pos)
                continue
            ctype, major, length = data[pos], data[pos + 1], (data[pos + 3] << 8) | data[pos + 4]
            if not CHANGE_CIPHER_SPEC <= ctype <= TLS12_CID or major != 3:
                raise ParserError(
                    f"{self.direction} record {self.records + 1}: not a TLS record (content "
                    f"type {ctype}, version {major:#04x}{data[pos + 2]:02x})"
                )
            if length > MAX_RECORD:
                raise ParserError(
                    f"{self.direction} record {self.records + 1}: {length} bytes, more than "
                    f"{MAX_RECORD} (record_overflow)"
                )
            self.records += 1
            self.body_type, self.body_left = ctype, length
            pos += 5
            if ctype in _PROTECTION:
                if not self.encrypted:
                    self.sink.protection_started(self, ctype)
            elif ctype == HEARTBEAT:
                self.sink.problem("heartbeat")

    def _sslv2(self, data: bytes, pos: int) -> int:
        """The first record of a direction in SSL 2.0's format (a CLIENT-HELLO that old clients
        send for compatibility, or an SSL 2.0 server's SERVER-HELLO)."""
        length = ((data[pos] & 0x7F) << 8) | data[pos + 1]
        end = pos + 2 + length
        if end > len(data):
            self.v2 = bytearray(data[pos:])  # at most MAX_SSLV2_RECORD + 2 bytes
            self.v2_size = 2 + length
            return len(data)
        self.records += 1
        self.sink.sslv2_message(self, data[pos + 2 : end])
        return end

    def _alert(self, chunk: bytes) -> None:
        got = self.alert_bytes + chunk
        while len(got) >= 2:
            self.sink.alert(self, got[0], got[1])
            got = got[2:]
        self.alert_bytes = got

    def _handshake(self, chunk: bytes) -> None:
        """Reassemble handshake messages (RFC 8446 section 5.1: they may span records)."""
        if self.drop:
            cut = min(self.drop, len(chunk))
            self.drop -= cut
            chunk = chunk[cut:]
            if not chunk:
                return
        buf = self.message
        if buf:
            # Wait, without copying, until the message is whole: tiny pieces cost O(n) in all.
            buf += chunk
            if len(buf) < 4 or (
                buf[0] in KEPT
                and len(buf) < 4 + int.from_bytes(buf[1:4], "big") <= 4 + MAX_HANDSHAKE
            ):
                return
            data = bytes(buf)
            buf.clear()
        else:
            data = chunk
        pos, n = 0, len(data)
        while n - pos >= 4:
            msg_type = data[pos]
            size = int.from_bytes(data[pos + 1 : pos + 4], "big")
            end = pos + 4 + size
            if size > MAX_HANDSHAKE:
                self.sink.problem("handshake_message_too_large")
                if end > n:
                    self.drop = end - n
                    return
                pos = end
                continue
            if end > n:
                if msg_type not in KEPT:  # not read: dropped as it comes, never held
                    self.drop = end - n
                    return
                break
            self.sink.handshake_message(self, msg_type, data[pos + 4 : end])
            pos = end
        if pos < n:
            buf += data[pos:]
