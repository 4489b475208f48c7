"""The YARA detector's settings (``[detectors.yara]`` in the settings file).

Default engine: yara-x, chosen from measurements (``bench/yara.py``, figures with machine and date
in ``bench/YARA_RESULTS.md``). On one core with our pack it scans 1,500-byte buffers about twice
as often as yara-python (126,000 against 55,000 per second, interleaved runs) and the throughput
capture's reassembled chunks about twice as fast (218 against 108 MB/s). The trade-offs: yara-x
compiles large third-party sets about three times slower (signature-base plus Yara-Rules: ~14 s
against ~5 s), and each engine refuses a few files the other accepts (21 against 20 of 1,235 in
those sets, listed in ``tests/conformance/test_yara_rulesets.py``). yara-python is libyara, the
reference implementation.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from detectors.base import DetectorConfig
from detectors.yara.engine import EngineName


class YaraConfig(DetectorConfig):
    engine: EngineName = "yara-x"
    #: Folders of rule files (``*.yar``, ``*.yara``, searched recursively), one namespace per file.
    #: Empty: the repository's ``rules/yara``.
    rule_dirs: list[Path] = Field(default_factory=list)
    #: Time budget of one scan; a scan that runs out is counted and its matches are lost.
    timeout_seconds: int = Field(5, ge=1, le=600)
    #: Bytes of one buffer scanned at most (a larger chunk or file is scanned from its start).
    max_scan_bytes: int = Field(8 << 20, ge=1024)
    #: Bytes of each direction of a TCP stream scanned at most (Suricata's stream depth).
    stream_depth: int = Field(1 << 20, ge=0)
    #: Bytes scanned per batch of facts at most: under a flood, the rest is skipped and counted.
    max_batch_bytes: int = Field(256 << 20, ge=1024)
    #: String occurrences kept per match (validators see these), and bytes of each kept.
    max_hits: int = Field(1000, ge=1, le=100_000)
    max_hit_bytes: int = Field(64, ge=8, le=4096)
    #: Occurrences shown per alert, each truncated to ``alert_string_bytes``.
    alert_strings: int = Field(8, ge=0, le=100)
    alert_string_bytes: int = Field(48, ge=8, le=1024)
    #: Scan reassembled streams and decoded files (HTTP bodies, uploads).
    scan_streams: bool = True
    scan_files: bool = True
    #: Streams of these protocols are not scanned: their payload is encrypted after the
    #: handshake (Suricata's default ``encryption-handling`` stops inspecting them too).
    skip_protocols: list[str] = Field(default_factory=lambda: ["tls", "ssh"])
    #: How often (seconds) the rule folders are checked for changes and reloaded; 0: never.
    reload_interval_seconds: float = Field(5.0, ge=0)
