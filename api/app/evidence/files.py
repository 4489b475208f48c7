"""``EvidenceFiles``: one pcap and one JSON note per alert in a folder of the central service."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import orjson

from api.app.errors import InvalidRequest

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
#: Classic pcap in either byte order, micro- or nanosecond; pcapng's section header block.
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
               b"\x0a\x0d\x0d\x0a")  # fmt: skip


def evidence_dir(service_db: str) -> Path:
    """Next to the service database (a temporary folder for an in-memory one, as in tests)."""
    if service_db == ":memory:":
        return Path(tempfile.mkdtemp(prefix="cityshield-evidence-"))
    return Path(service_db).resolve().parent / "evidence"


#: What the central service keeps of uploaded packets, at most; past it the oldest pcaps go and
#: their notes say so. (A setting in ``[api]`` would be better; ``api/app/config.py`` is shared.)
MAX_EVIDENCE_BYTES = 20 * 1024**3


class EvidenceFiles:
    def __init__(self, folder: Path, max_bytes: int = MAX_EVIDENCE_BYTES) -> None:
        self.dir = folder
        self.max_bytes = max_bytes

    def _paths(self, alert_id: str) -> tuple[Path, Path]:
        if not _SAFE_ID.match(alert_id):
            raise InvalidRequest(f"not an alert id: {alert_id[:140]!r}")
        return self.dir / f"{alert_id}.pcap", self.dir / f"{alert_id}.json"

    def put(self, alert_id: str, pcap: bytes, note: dict[str, Any]) -> None:
        pcap_path, note_path = self._paths(alert_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        if pcap:
            tmp = pcap_path.with_suffix(".pcap.tmp")
            tmp.write_bytes(pcap)
            tmp.replace(pcap_path)
        else:
            pcap_path.unlink(missing_ok=True)
        self._write_note(note_path, note)
        if pcap:
            self._trim(keep=pcap_path)

    @staticmethod
    def _write_note(path: Path, note: dict[str, Any]) -> None:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(orjson.dumps(note))
        tmp.replace(path)

    def _trim(self, keep: Path) -> None:
        """Delete the oldest pcaps past ``max_bytes`` (never the one just stored)."""
        pcaps = []
        for p in self.dir.glob("*.pcap"):
            try:
                st = p.stat()
            except OSError:
                continue
            pcaps.append((st.st_mtime_ns, st.st_size, p))
        total = sum(size for _, size, _ in pcaps)
        for _, size, path in sorted(pcaps):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            note_path = path.with_suffix(".json")
            note = self.note(path.stem) or {"alert_id": path.stem}
            detail = (
                f"deleted from the central service to keep its evidence within {self.max_bytes} "
                "bytes (older evidence goes first)"
            )
            note.update(status="deleted", detail=detail)
            self._write_note(note_path, note)

    def note(self, alert_id: str) -> dict[str, Any] | None:
        _, note_path = self._paths(alert_id)
        try:
            data = orjson.loads(note_path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def pcap(self, alert_id: str) -> Path | None:
        pcap_path, _ = self._paths(alert_id)
        return pcap_path if pcap_path.is_file() else None
