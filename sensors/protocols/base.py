"""What every protocol parser offers. Parsers are sans-io state machines (like mitmproxy's layers
and Zeek's analyzers): bytes in, facts out, no clocks, sockets or files of their own."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from sensors.events import ContentFacts, Direction, FlowRef


class SharedBudget:
    """Bytes that all parsers of a sensor may hold together (file bytes kept for detectors).

    Each open body may keep up to ``max_file_data``; thousands of slow uploads at once must not
    add up to gigabytes, so what they keep is also drawn from one pool, and a file that cannot
    draw keeps less (it is still hashed whole, and marked truncated).
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self.refused = 0

    def take(self, wanted: int) -> int:
        """Reserve up to ``wanted`` bytes; returns how many were granted."""
        granted = max(min(wanted, self.total - self.used), 0)
        self.used += granted
        if granted < wanted:
            self.refused += 1
        return granted

    def give_back(self, size: int) -> None:
        self.used = max(self.used - size, 0)


class ParserLimits:
    """Budgets a parser must respect; hostile traffic meets them and is counted."""

    def __init__(
        self,
        *,
        max_line: int = 16 * 1024,
        max_headers: int = 256,
        max_body: int = 10 * 1024 * 1024,
        max_decompressed: int = 20 * 1024 * 1024,
        max_file_data: int = 4 * 1024 * 1024,
        max_transactions: int = 10_000,
        file_data: SharedBudget | None = None,
    ) -> None:
        self.max_line = max_line
        self.max_headers = max_headers
        self.max_body = max_body
        self.max_decompressed = max_decompressed
        self.max_file_data = max_file_data
        self.max_transactions = max_transactions
        #: The pool all kept file bytes come from (64 MiB unless the stage gives its own).
        self.file_data = file_data or SharedBudget(64 * 1024 * 1024)


class ParserError(Exception):
    """The bytes do not follow the protocol; the parser stops for this connection."""


class StreamParser(ABC):
    """Parses one TCP connection; fed each direction's bytes in order as they are reassembled."""

    id: ClassVar[str]

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        self.flow = flow
        self.limits = limits
        self.problems: list[str] = []

    @abstractmethod
    def feed(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        """Bytes of one direction, in stream order. Raise ``ParserError`` on a violation."""

    def gap(self, direction: Direction, size: int, ts_ns: int, facts: ContentFacts) -> None:
        """``size`` bytes of a direction were never seen. By default the parser gives up."""
        raise ParserError(f"{size} bytes missing in the {direction} direction")

    def close(self, ts_ns: int, facts: ContentFacts) -> None:  # noqa: B027 (optional hook)
        """The connection ended: emit what is still pending (a request without a response...)."""


class DatagramParser(ABC):
    """Parses the datagrams of one UDP flow (state such as queries awaiting answers is per flow)."""

    id: ClassVar[str]

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        self.flow = flow
        self.limits = limits

    @abstractmethod
    def datagram(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        """One datagram's payload. Raise ``ParserError`` when it is not this protocol."""

    def close(self, ts_ns: int, facts: ContentFacts) -> None:  # noqa: B027 (optional hook)
        """The flow ended."""
