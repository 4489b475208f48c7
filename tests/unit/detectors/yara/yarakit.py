"""Helpers for the YARA tests: the repository's rule pack compiled by either engine, and content
facts built the way the sensor builds them."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

from detectors.yara.config import YaraConfig
from detectors.yara.engine import CompiledRules, EngineName, engine_named
from detectors.yara.match import RuleSource
from sensors.events import FileSeen, FlowRef, StreamChunk

REPO = Path(__file__).resolve().parents[4]
PACK = REPO / "rules" / "yara"
SAMPLES = Path(__file__).resolve().parent / "samples"
ENGINES: tuple[EngineName, ...] = ("yara-x", "yara-python")
T0_NS = 1_772_438_400_000_000_000  # 2026-03-02T08:00:00Z

FLOW = FlowRef(
    flow_id="f-1",
    community_id="1:abcdefghijklmnopqrstuvwxyz0=",
    transport="tcp",
    orig_ip="203.0.113.9",
    orig_port=51000,
    resp_ip="198.51.100.10",
    resp_port=80,
    vlan=0,
    start_ns=T0_NS,
    capture="portal.pcap",
)


def pack_sources(folder: Path = PACK) -> list[RuleSource]:
    return [
        RuleSource(p.relative_to(folder).as_posix(), str(p), p.read_text(encoding="utf-8"))
        for p in sorted(folder.rglob("*.yar"))
    ]


@cache
def pack(engine: EngineName) -> CompiledRules:
    result = engine_named(engine).compile(pack_sources())
    assert not result.problems, [str(p) for p in result.problems]
    assert result.rules is not None
    return result.rules


def compile_text(engine: EngineName, text: str, name: str = "t.yar") -> CompiledRules:
    result = engine_named(engine).compile([RuleSource(name, name, text)])
    assert result.rules is not None, [str(p) for p in result.problems]
    return result.rules


def sample_bytes(path: Path) -> bytes:
    """A sample's content; ``.b64`` samples (EICAR) are stored encoded so that antivirus on a
    developer's machine leaves the repository alone."""
    raw = path.read_bytes()
    return base64.b64decode(raw) if path.suffix == ".b64" else raw


def chunk(
    data: bytes, *, direction: str = "orig", offset: int = 0, overlap: int = 0,
    protocol: str | None = "http", flow: FlowRef = FLOW, ts_ns: int = T0_NS,
) -> StreamChunk:  # fmt: skip
    return StreamChunk(
        flow, "orig" if direction == "orig" else "resp", offset, data, ts_ns, 4, 9,
        protocol, 0, overlap, False,
    )  # fmt: skip


def file_seen(
    data: bytes, *, name: str | None = "upload.php", direction: str = "orig",
    flow: FlowRef = FLOW, truncated: bool = False,
) -> FileSeen:  # fmt: skip
    return FileSeen(
        flow=flow,
        ts_ns=T0_NS + 1000,
        file_id="F" + hashlib.sha1(data).hexdigest()[:10],
        source="HTTP",
        direction="orig" if direction == "orig" else "resp",
        name=name,
        mime_type="text/plain",
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        truncated=truncated,
    )


def config(**changes: object) -> YaraConfig:
    return YaraConfig.model_validate(changes)
