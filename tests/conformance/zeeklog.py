"""Zeek's btest baselines in the corpus: their index, their ASCII logs, and conn.log as tuples.

A baseline log is either Zeek's own ASCII format (``#fields`` names the columns) or ``zeek-cut``
output kept by btest (the first line that is not a ``#`` comment names them). Timestamps and uids
may be canonicalised by btest; the columns compared here are not.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

#: The conn.log columns compared: transport, 5-tuple, packets and IP bytes per direction.
CONN_FIELDS = ("proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
               "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes")  # fmt: skip

ConnTuple = tuple[str, str, int, str, int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Baseline:
    """One btest whose baseline has a conn.log, and the trace it read."""

    name: str  # the baseline directory, e.g. "core.tunnels.teredo"
    trace: Path
    conn_log: Path
    bare_mode: bool
    commands: tuple[str, ...]

    @property
    def capture_filter(self) -> str | None:
        """The BPF filter given with ``-f`` on the zeek command line, if any."""
        for command in self.commands:
            words = shlex.split(command)
            for i, word in enumerate(words[:-1]):
                if word == "-f":
                    return words[i + 1]
        return None


def conn_baselines(zeek_root: Path) -> list[Baseline]:
    """Baselines with a conn.log whose trace is in the corpus, from the corpus's INDEX.json."""
    index = json.loads((zeek_root / "INDEX.json").read_text())
    out = []
    for test in index["tests"]:
        if "conn.log" not in test.get("log_record_counts", {}) or not test["trace_included"]:
            continue
        directory = zeek_root / test["baseline_dir"]
        out.append(
            Baseline(
                name=directory.name,
                trace=zeek_root / test["trace"],
                conn_log=directory / "conn.log",
                bare_mode=bool(test["bare_mode"]),
                commands=tuple(test["zeek_commands"]),
            )
        )
    return out


def read_log(path: Path) -> list[dict[str, str]]:
    """The records of a Zeek ASCII log or of zeek-cut output, as column -> value."""
    fields: list[str] | None = None
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif not line or line.startswith("#"):
            continue
        elif fields is None:
            fields = line.split("\t")
        else:
            rows.append(dict(zip(fields, line.split("\t"), strict=False)))
    return rows


def conn_tuples(path: Path) -> Counter[ConnTuple] | None:
    """conn.log records as comparable tuples (a multiset); None when the baseline lacks columns."""
    rows = read_log(path)
    if rows and not all(f in rows[0] for f in CONN_FIELDS):
        return None
    out: Counter[ConnTuple] = Counter()
    for r in rows:
        out[(r["proto"], r["id.orig_h"], int(r["id.orig_p"]), r["id.resp_h"], int(r["id.resp_p"]),
             int(r["orig_pkts"]), int(r["orig_ip_bytes"]), int(r["resp_pkts"]),
             int(r["resp_ip_bytes"]))] += 1  # fmt: skip
    return out
