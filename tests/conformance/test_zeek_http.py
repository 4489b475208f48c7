"""HTTP records against Zeek's http.log baselines: method, host, URI, status, body lengths.

Every baseline in ``../shared/corpus/pcaps/zeek`` with an http.log whose trace is in the corpus is
replayed through ``SensorEngine``; each of Zeek's records must have one of ours with the same
method, host, URI, status code and request and response body lengths (the columns the baseline
has: zeek-cut subsets keep fewer). At least 95% of the comparable records must agree, and every
baseline that differs must be listed in ``EXPECTED_DIFFERENCES`` with why.

How Zeek writes these fields, and how ours are read the same way:

* Zeek's ``uri`` is percent-decoded, with bytes outside printable ASCII as ``\\xNN``; ours is the
  target as sent (ECS ``url.original``), decoded here the same way for the comparison.
* An empty URI is ``(empty)``; a response without a status line (HTTP/0.9) has status 0.
* Reassembly runs without its per-flow depth (1 MiB by default, like Suricata's): Zeek's HTTP
  analyzer has no such budget, and some traces carry more.
* Records with nothing in them (no method, host, URI or status, no body) are a Zeek artefact
  after HTTP/0.9 exchanges and are not comparable (counted apart).
* Zeek appends a CRLF to a message body that does not end in one (zeek/zeek#1598, fixed by
  #1691 against an evasion) and counts it: its body length is then ours + 2. Such a length agrees
  (the test prints how many records needed it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from zeeklog import read_log

from sensors.content import ContentSettings
from sensors.engine import SensorEngine, SensorSettings
from sensors.events import HttpSeen
from sensors.streams.settings import StreamSettings

pytestmark = pytest.mark.corpus

MIN_MATCH_RATE = 0.95
FIELDS = ("method", "host", "uri", "status_code", "request_body_len", "response_body_len")


@dataclass(frozen=True, slots=True)
class Known:
    reason: str
    comparable: bool = True  # False: Zeek analysed something we do not, the baseline says nothing


EXPECTED_DIFFERENCES: dict[str, Known] = {
    "scripts.base.protocols.http.http-09-content-length-confusion": Known(
        "the server sends a status line and 'Content-Length: 4' before any request: we frame "
        "that response by its length (4 bytes of the later reply), Zeek logs it with an empty "
        "body and gives all 19 bytes to the HTTP/0.9 reply"
    ),
    "scripts.base.protocols.http.http-bad-request-with-version": Known(
        "4 bytes of junk precede 'GET /txt HTTP/1.1' on the same line; the server skipped them "
        "and answered 200, and so do we (GET /txt, 200); Zeek logs the response alone"
    ),
    "scripts.base.protocols.http.curl-http-09": Known(
        "an HTTP/1.1 request answered without a status line: we read the answer as an HTTP/0.9 "
        "response, a body of 51 bytes (browsers that still accept HTTP/0.9 see it so, and an "
        "evasion may use it); Zeek (like curl since 7.66) does not take it as a response"
    ),
    "scripts.base.protocols.websocket.wstunnel-http": Known(
        "Zeek's WebSocket analyzer parses the HTTP tunnelled inside the WebSocket frames (and "
        "pairs the tunnel's 301 with the upgrade request); we stop parsing after a successful "
        "Upgrade, by design",
        comparable=False,
    ),
    "scripts.policy.protocols.ssl.decryption": Known(
        "Zeek decrypts TLS with keys the test script loads; we see TLS only", comparable=False
    ),
}


def unescape(uri: str) -> str:
    """A request target as Zeek writes it: percent-decoded, non-printable bytes as \\xNN."""
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]),
                 uri.encode("utf-8", "surrogateescape"))  # fmt: skip
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw) or "(empty)"


def as_zeek(h: HttpSeen) -> dict[str, str]:
    responded = bool(h.response_headers or h.response_body_len or h.reason is not None)
    status = str(h.status) if h.status is not None else ("0" if responded else "-")
    return {"method": h.method or "-", "host": h.host or "-",
            "uri": unescape(h.uri) if h.uri is not None else "-", "status_code": status,
            "request_body_len": str(h.request_body_len),
            "response_body_len": str(h.response_body_len)}  # fmt: skip


def empty(row: dict[str, str]) -> bool:
    """A record of Zeek's with nothing in it (see the module docstring)."""
    return all(row.get(f, "-") in ("-", "0") for f in FIELDS)


def ours(trace: Path) -> list[HttpSeen]:
    deep = ContentSettings(streams=StreamSettings(depth=256 * 1024 * 1024))
    engine = SensorEngine(SensorSettings(content=deep), seed=1)
    records: list[HttpSeen] = []
    for result in engine.read(trace):
        records += result.content.http
    records += engine.finish().content.http
    return records


def same(field: str, zeek: str, ours: str) -> int:
    """0: different; 1: the same; 2: the same once Zeek's added CRLF is taken off."""
    if zeek == ours:
        return 1
    lengths = field.endswith("_body_len") and zeek.isdigit() and ours.isdigit()
    return 2 if lengths and int(zeek) == int(ours) + 2 else 0


def agree(
    theirs: list[dict[str, str]], got: list[dict[str, str]]
) -> tuple[list[dict[str, str]], int]:
    """Zeek's records that have no record of ours with the same fields (each of ours used once),
    and how many agreed only with Zeek's added CRLF taken off."""
    left = list(got)
    missing = []
    crlf = 0
    for row in theirs:
        fields = [f for f in FIELDS if f in row]
        for i, g in enumerate(left):
            verdicts = [same(f, row[f], g[f]) for f in fields]
            if all(verdicts):
                crlf += 2 in verdicts
                del left[i]
                break
        else:
            missing.append({f: row[f] for f in fields})
    return missing, crlf


def test_http_records_agree_with_zeek(corpus: Path) -> None:
    zeek = corpus / "pcaps" / "zeek"
    index = json.loads((zeek / "INDEX.json").read_text())
    matched = total = apart = crlf = 0
    report: list[str] = []
    for t in index["tests"]:
        if "http.log" not in t.get("log_record_counts", {}) or not t["trace_included"]:
            continue
        name = t["baseline_dir"].removeprefix("Baseline/")
        known = EXPECTED_DIFFERENCES.get(name)
        rows = read_log(zeek / t["baseline_dir"] / "http.log")
        if known is not None and not known.comparable:
            apart += len(rows)
            report.append(f"  not comparable {name}: {known.reason}")
            continue
        theirs = [r for r in rows if not empty(r)]
        apart += len(rows) - len(theirs)
        got = [as_zeek(h) for h in ours(zeek / t["trace"])]
        missing, added = agree(theirs, got)
        crlf += added
        total += len(theirs)
        matched += len(theirs) - len(missing)
        if missing:
            why = f"expected: {known.reason}" if known else "UNEXPECTED"
            report.append(f"  differs {name}: {len(theirs) - len(missing)}/{len(theirs)} ({why})"
                          f"\n    zeek only: {missing[:2]}\n    ours: {got[:2]}")  # fmt: skip
    rate = matched / total
    summary = (
        f"Zeek http.log conformance: {matched} of {total} comparable records agree "
        f"({rate:.1%}, at least {MIN_MATCH_RATE:.0%} required; {crlf} with Zeek's added "
        f"CRLF taken off); {apart} not comparable"
    )
    print("\n" + summary + "\n" + "\n".join(report))
    assert rate >= MIN_MATCH_RATE, summary + "\n" + "\n".join(report)
    assert not [r for r in report if "UNEXPECTED" in r], "\n".join(report)
