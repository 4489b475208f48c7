"""``EvidenceService``: evidence uploads checked against the alert and its sensor, and the
answer to "where are this alert's packets?"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from alerts.model import Alert
from alerts.stores.base import AlertStore
from api.app.errors import Forbidden, InvalidRequest, Missing
from api.app.evidence.files import PCAP_MAGICS, EvidenceFiles
from api.app.fleet.service import FleetService
from cityshield.errors import NotFoundError

_HEALTH = {
    "offline": "offline",
    "stale": "late with its heartbeats",
    "revoked": "revoked",
    "never_seen": "not heard from yet",
}
UploadStatus = Literal["complete", "partial", "aged_out", "not_found"]


@dataclass(frozen=True, slots=True)
class Packets:
    path: Path
    status: str
    detail: str


class EvidenceService:
    def __init__(self, files: EvidenceFiles, store: AlertStore, fleet: FleetService) -> None:
        self.files = files
        self.store = store
        self.fleet = fleet

    def _alert(self, alert_id: str) -> Alert:
        try:
            return self.store.get_alert(alert_id)
        except NotFoundError:
            raise Missing(f"no alert {alert_id!r}") from None

    def upload(
        self,
        sensor_id: str,
        alert_id: str,
        pcap: bytes,
        status: UploadStatus,
        detail: str,
        oldest_ns: int | None,
    ) -> dict[str, object]:
        alert = self._alert(alert_id)
        sensor = self.fleet.name_of(sensor_id)
        if alert.observer != sensor:
            raise Forbidden(f"alert {alert_id!r} was seen by {alert.observer!r}, not {sensor!r}")
        if status in ("complete", "partial"):
            if pcap[:4] not in PCAP_MAGICS:
                raise InvalidRequest("the body is not a pcap or pcapng file")
        elif pcap:
            raise InvalidRequest(f"status {status!r} comes without packets")
        note: dict[str, object] = {
            "alert_id": alert_id,
            "sensor": sensor,
            "status": status,
            "detail": detail,
            "oldest_ns": oldest_ns,
            "bytes": len(pcap),
            "uploaded_at": datetime.now(UTC).isoformat(),
        }
        self.files.put(alert_id, pcap, note)
        return note

    def packets(self, alert_id: str) -> Packets:
        """The alert's pcap, or ``Missing`` saying exactly why there is none."""
        alert = self._alert(alert_id)
        note = self.files.note(alert_id)
        path = self.files.pcap(alert_id)
        if note is not None and path is not None:
            return Packets(path, str(note.get("status")), str(note.get("detail")))
        sensor = alert.observer
        if note is not None:
            status = note.get("status")
            if status == "deleted":
                raise Missing(f"the packets of alert {alert_id} were {note.get('detail')}")
            if status == "aged_out":
                raise Missing(
                    f"the packets of alert {alert_id} aged out of sensor {sensor!r}'s ring "
                    f"before they were uploaded ({note.get('detail')})"
                )
            raise Missing(
                f"sensor {sensor!r} found no packets of alert {alert_id}'s flows in its ring "
                f"({note.get('detail')})"
            )
        known = {s.name: s for s in self.fleet.view().sensors}
        s = known.get(sensor)
        if s is None:
            where = alert.evidence.capture_file
            raise Missing(
                f"alert {alert_id} does not come from an enrolled sensor ({sensor!r})"
                + (f"; its packets are in the capture file {where}" if where else "")
            )
        if s.health in ("offline", "stale", "revoked", "never_seen"):
            last = s.last_heartbeat_at.isoformat() if s.last_heartbeat_at else "never"
            raise Missing(
                f"sensor {sensor!r} is {_HEALTH[s.health]} (last contact {last}) and "
                f"has not uploaded the packets of alert {alert_id}"
            )
        raise Missing(
            f"sensor {sensor!r} has not uploaded the packets of alert {alert_id} yet (it sends "
            "them seconds after the alert's last packet)"
        )
