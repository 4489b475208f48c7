"""Files carried in HTTP bodies: bytes hashed as they pass (MD5, SHA1, SHA256, like Zeek's
files.log), the first bytes kept for detectors, and a ``FileSeen`` at the end."""

from __future__ import annotations

import hashlib
from urllib.parse import unquote

from sensors.events import Direction, FileSeen, FlowRef
from sensors.protocols.base import SharedBudget
from sensors.protocols.http.mime import sniff

#: The longest file name kept (names come from traffic: an attacker chooses them).
MAX_NAME = 255


class FileBuilder:
    """One file in the making; ``write`` its bytes in order, then ``finish``."""

    __slots__ = ("cut", "declared", "direction", "file_id", "flow", "hashes", "head", "keep",
                 "kept", "missing", "name", "pool", "size", "ts_ns")  # fmt: skip

    def __init__(
        self, flow: FlowRef, direction: Direction, file_id: str, ts_ns: int, *,
        name: str | None, declared: str | None, keep: int, pool: SharedBudget | None = None,
    ) -> None:  # fmt: skip
        self.flow = flow
        self.direction: Direction = direction
        self.file_id = file_id
        self.ts_ns = ts_ns
        self.name = clean_name(name)
        self.declared = declared
        self.keep = keep
        self.pool = pool
        self.head: list[bytes] = []  # the first ``keep`` bytes, in pieces
        self.kept = 0
        self.size = 0
        self.missing = 0
        self.cut = False  # decoding stopped early (budget or corrupt coding)
        self.hashes = (
            hashlib.md5(usedforsecurity=False),
            hashlib.sha1(usedforsecurity=False),
            hashlib.sha256(),
        )

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        for h in self.hashes:
            h.update(data)
        room = self._room(len(data))
        if room > 0:
            piece = data[:room] if room < len(data) else data
            self.head.append(piece)
            self.kept += len(piece)

    def gap(self, size: int) -> None:
        """Bytes never seen: counted; zeros stand for them in the kept bytes so that offsets in
        ``data`` stay the file's offsets. (The hashes are then those of what was seen.)"""
        self.missing += size
        self.size += size
        room = self._room(size)
        if room > 0:
            self.head.append(bytes(min(room, size)))
            self.kept += min(room, size)

    def _room(self, wanted: int) -> int:
        """How many more bytes this file may keep: its own bound, then the shared pool's."""
        room = min(self.keep - self.kept, wanted)
        if room > 0 and self.pool is not None:
            granted = self.pool.take(room)
            if granted < room:
                self.keep = self.kept + granted  # the pool is dry: keep no more than this
            room = granted
        return room

    def __del__(self) -> None:
        # The kept bytes go back to the pool when the builder goes (finished or abandoned); the
        # FileSeen handed out owns its copy of them from then on.
        if self.pool is not None:
            self.pool.give_back(self.kept)

    def finish(self) -> FileSeen | None:
        """The file's fact; None for a file without a byte (an empty body is not a file)."""
        if not self.size:
            return None
        md5, sha1, sha256 = (h.hexdigest() for h in self.hashes)
        data = self.head[0] if len(self.head) == 1 else b"".join(self.head)
        return FileSeen(
            flow=self.flow, ts_ns=self.ts_ns, file_id=self.file_id, source="HTTP",
            direction=self.direction, name=self.name,
            mime_type=sniff(data, self.declared), size=self.size, md5=md5, sha1=sha1,
            sha256=sha256, data=data, truncated=self.size > len(data) or self.cut,
            missing_bytes=self.missing,
        )  # fmt: skip


def clean_name(name: str | None) -> str | None:
    """A file name from traffic, as a name: its last path segment, no control characters,
    bounded. (Only ever shown and matched; extraction never uses it as a path.)"""
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())[:MAX_NAME]
    return name or None


def name_from_target(target: str | None) -> str | None:
    """The last path segment of a request target (``/files/report.pdf?x=1`` -> report.pdf)."""
    if not target:
        return None
    path = target.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1].partition("/")[2]
    segment = path.rsplit("/", 1)[-1]
    return clean_name(unquote(segment)) if segment else None
