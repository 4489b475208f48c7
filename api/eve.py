"""Event JSON lines (``--eve FILE``): flows, alerts and decode problems as ECS documents, one per
line, like Suricata's eve.json but with ECS field names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

import orjson

from alerts.model import Alert
from sensors.events import WeirdSeen


class EveWriter:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.lines = 0

    def write_docs(self, docs: Iterable[dict[str, Any]]) -> None:
        dumps = orjson.dumps
        lines = [dumps(d) for d in docs]
        if lines:
            self._out.write(b"\n".join(lines).decode() + "\n")
            self.lines += len(lines)

    def write_alerts(self, alerts: Iterable[Alert]) -> None:
        self.write_docs(a.to_ecs() for a in alerts)

    def write_weird(self, weird: Iterable[WeirdSeen], observer: str) -> None:
        self.write_docs(
            {
                "event": {"kind": "event", "category": ["network"], "type": ["info"],
                          "dataset": "cityshield.weird"},
                "observer": {"name": observer},
                "log": {"file": {"path": w.capture}},
                "cityshield": {"weird": {"name": w.name, "frame": w.frame}},
            }
            for w in weird
        )  # fmt: skip
