"""``SensorAgent``: one interface captured, analysed and shipped until a stop signal.

The main thread takes batches from the capture ring, writes them to the packet ring, runs the
engine and the detectors, and spools a batch for ingest every ``batch_max_items`` items or
``batch_max_seconds``. The shipper thread sends what is spooled. On stop, capture ends, the ring
is drained, every flow is ended, detectors finish, the last batch is spooled and the shipper gets
``shutdown_flush_seconds`` to deliver it; anything still undelivered stays in the spool for the
next start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from alerts.model import Alert
from api.composition import build_engine, build_pipeline
from api.sensor_agent.outgoing import Outgoing
from api.sensor_agent.reload import RuleWatcher
from api.sensor_agent.shipper import EvidenceJob, Shipper
from api.settings import Settings
from cityshield.errors import ConfigError
from sensors.agent import CentralClient, DiskSpool
from sensors.engine import BatchResult
from sensors.evidence import PcapRing
from sensors.flows.ecs import flow_documents
from sensors.live import LiveCapture
from sensors.protocols.ecs import content_documents

log = logging.getLogger(__name__)
VERSION = "0.1.0"
CLOCK_LAG_NS = 1_000_000_000


def read_token(settings: Settings) -> str:
    agent = settings.agent
    if agent.token is not None:
        return agent.token.get_secret_value()
    path = Path(agent.token_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"no sensor credential: {exc.strerror} (run `cityshield sensor enrol` or set "
            "agent.token)",
            where=str(path),
        ) from None
    if not token:
        raise ConfigError("the sensor credential file is empty", where=str(path))
    return token


class SensorAgent:
    def __init__(self, settings: Settings, interface: str, bpf: str = "") -> None:
        self.settings = settings
        a = settings.agent
        self.name = settings.sensor.name
        token = read_token(settings)  # before anything is opened or made on disk
        Path(a.state_dir).mkdir(parents=True, exist_ok=True)
        self.capture = LiveCapture(interface, bpf, a.capture)
        self.engine = build_engine(settings)
        self.pipeline = build_pipeline(settings)
        self.rules = RuleWatcher(settings)
        self._reload = threading.Event()
        self.ring = PcapRing(a.evidence) if a.evidence.dir else None
        self.spool = DiskSpool(
            a.spool_dir,
            max_bytes=a.spool_max_mib * 1024 * 1024,
            segment_bytes=a.spool_segment_mib * 1024 * 1024,
            fsync=a.spool_fsync,
        )
        self.client = CentralClient(a, token)
        self.shipper = Shipper(
            a, self.spool, self.client, self.heartbeat_stats, self.ring,
            evidence_file=Path(a.state_dir) / "evidence-pending.json",
        )  # fmt: skip
        self.outgoing = Outgoing()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._last_spool = time.monotonic()
        self._alerts = 0
        self._failed_batches = 0
        self._rate = (time.monotonic(), 0, 0, 0.0, 0.0)  # when, packets, bytes, pps, bps
        self.status_path = Path(a.state_dir) / "status.json"

    def stop(self) -> None:
        """Ask the agent to finish (signal handlers call this)."""
        self._stop.set()

    def reload(self) -> None:
        """Look at the rule and model files now (SIGHUP)."""
        self._reload.set()

    def _maybe_reload(self) -> None:
        force = self._reload.is_set()
        self._reload.clear()
        if self.shipper.config_changed.is_set():
            self.shipper.config_changed.clear()
            central = self.shipper.central_aggregation
            if central is not None and central != self.rules.central_aggregation:
                self.rules.set_central(central)
        pipeline = self.rules.check(force=force)
        if pipeline is not None:
            # The old detectors' pending alerts go out first; the new ones start from nothing.
            self._alerts_out(self.pipeline.finish())
            self.pipeline = pipeline

    def run(self) -> None:
        self.capture.start()
        self.shipper.start()
        try:
            for batch in self.capture.batches():
                if self._stop.is_set():
                    self.capture.stop()  # the ring drains, then batches() ends
                if len(batch):
                    if self.ring is not None:
                        self.ring.write(batch)
                else:
                    # Flows end as time moves on, and in a capture file only packets move it. On a
                    # quiet link the wall clock must, or a finished scan would wait for the next
                    # packet to end its flows (and raise its alert). One second behind: packets
                    # still in the kernel buffer are not "in the future" of the table's clock.
                    table = self.engine.flows
                    table.now = max(table.now, time.time_ns() - CLOCK_LAG_NS)
                try:
                    self._handle(self.engine.process(batch))
                except Exception:  # a bug on one batch must not end the sensor: count, go on
                    self._failed_batches += 1
                    if self._failed_batches <= 3 or self._failed_batches % 1000 == 0:
                        log.exception("a batch failed (%d so far)", self._failed_batches)
                self._maybe_spool()
                self._maybe_reload()
        finally:
            self._finish()

    def _finish(self) -> None:
        self.capture.stop()
        self._handle(self.engine.finish())
        self._alerts_out(self.pipeline.finish())
        self._spool_now()
        self.shipper.stop(self.settings.agent.shutdown_flush_seconds)
        self.write_status()
        self.spool.close()
        if self.ring is not None:
            self.ring.close()
        self.client.close()
        self.capture.close()

    # ------------------------------------------------------------------ results
    def _handle(self, result: BatchResult) -> None:
        out = self.outgoing
        if len(result.flows):
            out.flows.extend(flow_documents(result.flows))
        content = result.content
        if len(content):
            # Content first, as in ``api.analysis``: detectors that join facts to flows learn
            # them before the flow ends.
            for kind, docs in content_documents(content, self.name).items():
                out.records[kind].extend(docs)
            self._alerts_out(self.pipeline.on_content(content))
        self._alerts_out(self.pipeline.on_flow_ended(result.flows))

    def _alerts_out(self, alerts: list[Alert]) -> None:
        self._alerts += len(alerts)
        self.outgoing.add_alerts(alerts)

    def _maybe_spool(self) -> None:
        a = self.settings.agent
        old = time.monotonic() - self._last_spool >= a.batch_max_seconds
        if len(self.outgoing) >= a.batch_max_items or (old and len(self.outgoing)):
            self._spool_now()
        if old:
            self._last_spool = time.monotonic()
            self.write_status()

    def _spool_now(self) -> None:
        out = self.outgoing
        if not len(out):
            return
        self.outgoing = Outgoing()
        self._last_spool = time.monotonic()
        for part in out.split(self.settings.agent.batch_max_items):
            self._spool_part(part)
        self.shipper.wake()

    def _spool_part(self, part: Outgoing) -> None:
        try:
            seq = self.spool.append(lambda seq: part.payload(self.spool.batch_id(self.name, seq)))
        except OSError as exc:  # a full or failing disk: say so, count it, keep capturing
            log.error("cannot spool a batch of %d items: %s", len(part), exc)
            self.spool.refused += 1
            return
        if seq is None:
            log.error("spool full (%d bytes): a batch of %d items dropped", self.spool.size,
                      len(part))  # fmt: skip
            return
        jobs = []
        for alert in part.alerts.values():
            own = [alert.community_id] if alert.community_id else []
            cids = list(dict.fromkeys([*alert.evidence.community_ids, *own]))
            if cids:
                first, last = _ns(alert.first_seen), _ns(alert.last_seen)
                jobs.append(EvidenceJob(alert.id, cids, first, last, seq))
        self.shipper.add_evidence(jobs)

    # ------------------------------------------------------------------ health
    def counters(self) -> dict[str, Any]:
        c = self.capture.counters()
        stats = self.engine.stats
        now = time.monotonic()
        when, packets, size, pps, bps = self._rate
        if now - when >= 1.0:
            pps = (c.packets - packets) / (now - when)
            bps = (c.bytes - size) / (now - when)
            self._rate = (now, c.packets, c.bytes, pps, bps)
        ship = self.shipper.stats
        return {
            "sensor": self.name,
            "interface": c.interface,
            "pid": os.getpid(),
            "updated_at": time.time(),
            "uptime_seconds": now - self._started,
            "packets_per_second": round(pps, 1),
            "bytes_per_second": round(bps, 1),
            "packets": c.packets,
            "bytes": c.bytes,
            "kernel_received": c.kernel_received,
            "kernel_dropped": c.kernel_dropped,
            "interface_dropped": c.interface_dropped,
            "ring_dropped": c.ring_dropped,
            "ring_bytes": c.ring_bytes,
            "capture_error": self.capture.error,
            "batches_failed": self._failed_batches,
            "flows_active": stats.flows_active,
            "flows_ended": sum(stats.flows_ended.values()),
            "alerts": self._alerts,
            "spool_bytes": self.spool.size,
            "spool_batches": len(self.spool.pending()),
            "spool_refused": self.spool.refused,
            "batches_sent": ship.batches_sent,
            "batches_duplicate": ship.batches_duplicate,
            "batches_rejected": ship.batches_rejected,
            "evidence_uploaded": ship.evidence_uploaded,
            "evidence_ring_bytes": self.ring.size if self.ring is not None else 0,
            "central_reachable": ship.central_reachable,
            "last_contact": ship.last_contact,
            "last_error": ship.last_error,
            "rule_version": self.rules.version,
            "rule_reloads": self.rules.reloads,
            "rule_error": self.rules.last_error,
            "detectors_degraded": [d for d, h in self.pipeline.health.items() if h.degraded],
        }

    def heartbeat_stats(self) -> dict[str, Any]:
        """``api.app.fleet.models.HeartbeatStats``."""
        c = self.counters()
        return {
            "packets_per_second": c["packets_per_second"],
            "bytes_per_second": c["bytes_per_second"],
            "packets_received": c["packets"],
            "packets_dropped": c["kernel_dropped"] + c["interface_dropped"] + c["ring_dropped"],
            "flows_active": c["flows_active"],
            "flows_ended": c["flows_ended"],
            "alerts": c["alerts"],
            "spool_bytes": c["spool_bytes"],
            "uptime_seconds": round(c["uptime_seconds"], 1),
            "software_version": VERSION,
            "rule_version": self.rules.version,
            "detectors_degraded": c["detectors_degraded"][:100],
        }

    def write_status(self) -> None:
        """``status.json`` for ``cityshield sensor status`` (replaced atomically)."""
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.counters(), option=orjson.OPT_INDENT_2))
        tmp.replace(self.status_path)


def _ns(when: Any) -> int:
    return int(when.timestamp() * 1e9)
