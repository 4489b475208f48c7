"""``evidence.collect``: an alert's facts bundled for an investigation or a court.

The bundle is a folder ``<evidence_dir>/<run>-<step>/``: ``alert.json``, ``flows.jsonl`` (from
the store, by the alert's flow ids), ``packets.pcap`` (the alert's frames cut from its capture
with our own capture readers, nanosecond pcap), ``manifest.json`` (SHA-256 and size of each
file) and ``custody.jsonl`` (who collected what, when, for which run; later hands append). The
bundle is bounded (``evidence_max_bytes``); collecting again rewrites the same bundle, so the
action is idempotent.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from pydantic import Field, JsonValue

from alerts.model import Alert
from alerts.stores.base import AlertStore
from cityshield.errors import ActionError, CityShieldError
from response.actions.base import Action, ActionContext, ActionParams, Result
from sensors.sources.open import open_capture

_PCAP_NS_MAGIC = 0xA1B23C4D
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


class EvidenceParams(ActionParams):
    #: Default: the run's alert.
    alert_id: str | None = Field(None, max_length=200)
    max_frames: int = Field(200, ge=0, le=10_000)
    note: str = Field("", max_length=2000)


class CollectEvidenceAction(Action):
    id = "evidence.collect"
    Params = EvidenceParams
    idempotent = True
    summary = "Bundle the alert, its flows and packets with hashes and a chain-of-custody record"

    def __init__(
        self,
        store: AlertStore | None,
        folder: Path,
        max_bytes: int,
        ring: Callable[[str], Path | None] | None = None,
    ) -> None:
        self.store = store
        self.folder = folder
        self.max_bytes = max_bytes
        #: The packets a sensor cut from its ring and uploaded for an alert (the central
        #: service's evidence files), for alerts whose capture file is not on this machine.
        self.ring = ring

    def plan(self, params: EvidenceParams) -> str:
        alert = params.alert_id or "(the run's alert)"
        return f"bundle alert {alert} with its flows and packets into {self.folder}"

    def run(self, params: EvidenceParams, ctx: ActionContext) -> Result:
        alert = self._alert(params, ctx)
        bundle = self.folder / f"{ctx.run_id}-{ctx.step_key.replace('#', '-')}"
        bundle.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {"alert.json": bundle / "alert.json"}
        files["alert.json"].write_bytes(orjson.dumps(alert.to_ecs(), option=orjson.OPT_INDENT_2))
        problems: list[str] = []
        flows = self._flows(alert, problems)
        (bundle / "flows.jsonl").write_bytes(b"".join(orjson.dumps(f) + b"\n" for f in flows))
        files["flows.jsonl"] = bundle / "flows.jsonl"
        frames = alert.evidence.frames[: params.max_frames]
        capture = alert.evidence.capture_file
        uploaded = None
        if self.ring is not None:
            try:
                uploaded = self.ring(alert.id)
            except CityShieldError as exc:
                problems.append(f"sensor packets: {exc}")
        packets_from: str | None = None
        if (capture is None or not Path(capture).is_file()) and uploaded is not None:
            if uploaded.stat().st_size > self.max_bytes:
                raise ActionError(f"the sensor's packets are larger than {self.max_bytes} bytes")
            with uploaded.open("rb") as head:
                name = "packets.pcapng" if head.read(4) == _PCAPNG_MAGIC else "packets.pcap"
            shutil.copyfile(uploaded, bundle / name)
            files[name] = bundle / name
            packets_from = f"sensor {alert.observer}'s ring, as uploaded to the service"
        elif capture and frames:
            try:
                cut = _cut_frames(
                    Path(capture), set(frames), bundle / "packets.pcap", self.max_bytes
                )
                files["packets.pcap"] = bundle / "packets.pcap"
                packets_from = f"capture file {capture}, frames {frames[0]}..{frames[-1]}"
                if cut < len(frames):
                    problems.append(
                        f"{len(frames) - cut} of {len(frames)} frames not found in the capture"
                    )
            except CityShieldError as exc:
                problems.append(f"packets: {exc}")
        else:
            problems.append("no packets: no capture frames and no upload from a sensor's ring")
        digests = {n: _digest(p) for n, p in sorted(files.items())}
        manifest: dict[str, JsonValue] = {n: dict(d) for n, d in digests.items()}
        if sum(int(d["bytes"]) for d in digests.values()) > self.max_bytes:
            raise ActionError(f"the bundle is larger than {self.max_bytes} bytes")
        manifest_bytes = orjson.dumps(
            {
                "alert_id": alert.id,
                "files": dict[str, JsonValue](manifest),
                "packets_from": packets_from,
                "problems": problems,
            },
            option=orjson.OPT_INDENT_2,
        )
        (bundle / "manifest.json").write_bytes(manifest_bytes)
        custody = {
            "at": ctx.clock.now().isoformat(),
            "action": "collected",
            "by": f"playbook:{ctx.run_id}",
            "started_by": ctx.started_by,
            "step": ctx.step_key,
            "note": params.note,
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        }
        with (bundle / "custody.jsonl").open("ab") as f:
            f.write(orjson.dumps(custody) + b"\n")
        return {
            "bundle": str(bundle),
            "files": dict[str, JsonValue](manifest),
            "problems": list[JsonValue](problems),
            "manifest_sha256": custody["manifest_sha256"],
        }

    def _alert(self, params: EvidenceParams, ctx: ActionContext) -> Alert:
        if params.alert_id is None and ctx.alert is None:
            raise ActionError("no alert to collect evidence for")
        if self.store is not None:
            alert_id = params.alert_id or str((ctx.alert or {}).get("id"))
            try:
                return self.store.get_alert(alert_id)
            except CityShieldError:
                if params.alert_id is not None:
                    raise ActionError(f"no alert {alert_id!r} in the store") from None
        if ctx.alert is None:
            raise ActionError("no alert store to read the alert from")
        return Alert.model_validate(ctx.alert)

    def _flows(self, alert: Alert, problems: list[str]) -> list[dict[str, Any]]:
        flows = []
        for flow_id in alert.evidence.flow_ids:
            if self.store is None:
                problems.append("no store: flows not collected")
                break
            try:
                flows.append(self.store.get_flow(flow_id))
            except CityShieldError:
                problems.append(f"flow {flow_id} not in the store")
        return flows


def _digest(path: Path) -> dict[str, str | int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return {"sha256": h.hexdigest(), "bytes": size}


def _cut_frames(capture: Path, frames: set[int], out: Path, max_bytes: int) -> int:
    """Write the wanted frames of ``capture`` to a pcap file; how many were found."""
    reader = open_capture(capture)
    found = 0
    written = 0
    last = max(frames)
    try:
        with out.open("wb") as f:
            header_done = False
            for batch in reader.batches():
                for i, frame in enumerate(batch.frames.tolist()):
                    if frame not in frames:
                        continue
                    if not header_done:
                        _pcap_header(f, int(batch.linktype[i]))
                        header_done = True
                    data = batch.frame_bytes(i)
                    ts = int(batch.ts_ns[i])
                    f.write(
                        struct.pack(
                            "<IIII", ts // 10**9, ts % 10**9, len(data), int(batch.wirelen[i])
                        )
                    )
                    f.write(data)
                    found += 1
                    written += 16 + len(data)
                    if written > max_bytes:
                        raise ActionError(f"packets larger than {max_bytes} bytes")
                if batch.first_frame + len(batch) > last:
                    break
            if not header_done:
                _pcap_header(f, 1)
    finally:
        reader.close()
    return found


def _pcap_header(f: BinaryIO, linktype: int) -> None:
    f.write(struct.pack("<IHHiIII", _PCAP_NS_MAGIC, 2, 4, 0, 0, 262144, linktype))
