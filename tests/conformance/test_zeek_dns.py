"""DNS records against Zeek's dns.log baselines: query, type, response code and answers.

Zeek writes answers in its own short forms (``MX`` as the exchange, ``TXT 19 v=spf1 ...``,
``RRSIG 1 upenn.edu``); ``zeek_answer`` renders ours the same way for the common types, and for
the others compares the record type only (the leading word), which is what an analyst reads
first. Queries are compared without case, as Zeek lowercases them unless its ``original_case``
policy is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zeeklog import read_log

from sensors.engine import SensorEngine
from sensors.events import DnsAnswer, DnsSeen

pytestmark = pytest.mark.corpus

#: Baselines whose dns.log we do not expect to match, and why.
EXPECTED_DIFFERENCES = {
    "scripts.base.protocols.dns.binds": "BIND's private type 65534: Zeek names it query-65534 and "
    "decodes its signing state as BIND9; we write TYPE65534 records",
    "scripts.base.protocols.dns.wks": "Zeek does not report WKS records as answers; we do",
    "scripts.base.protocols.dns.sshfp": "a query in a snap-length-cut packet that Zeek does not "
    "log; we log it unanswered",
}

Key = tuple[str, str, str]  # transaction id, query (lowercase), qtype name
Value = tuple[str, int, frozenset[str]]  # rcode name, answers, the names and addresses among them


_NAMED = {"A", "AAAA", "CNAME", "NS", "PTR", "DNAME"}  # rdata is an address or a name


def named(a: DnsAnswer) -> str | None:
    """The address or name Zeek writes alone for this answer (None for types it renders with
    more words, which are compared by count only: Zeek's TXT data may itself hold commas)."""
    parts = a.data.split()
    if a.type in _NAMED:
        return a.data.lower()
    if a.type == "MX" and len(parts) == 2:
        return parts[1].lower()
    if a.type == "SRV" and len(parts) == 4:
        return parts[3].lower()
    if a.type == "SOA" and parts:
        return parts[0].lower()
    return None


def ours(records: list[DnsSeen]) -> list[tuple[Key, Value]]:
    out = []
    for r in records:
        answers = [a for a in r.answers if a.section == "answer"]
        names = frozenset(n for a in answers if (n := named(a)) is not None)
        qtype = "*" if r.qtype == "ANY" else (r.qtype or "-")  # Zeek names type 255 "*"
        key = (str(r.transaction_id), (r.query or "-").lower(), qtype)
        out.append((key, (r.rcode or "-", len(answers), names)))
    return out


def theirs(path: Path) -> list[tuple[Key, Value]]:
    out = []
    for r in read_log(path):
        count = 0 if r["TTLs"] == "-" else len(r["TTLs"].split(","))
        items = [] if r["answers"] == "-" else r["answers"].split(",")
        names = frozenset(x.lower() for x in items if x and " " not in x and ("." in x or ":" in x))
        key = (r["trans_id"], r["query"].lower(), r["qtype_name"])
        out.append((key, (r["rcode_name"], count, names)))
    return out


def agree(expected: list[tuple[Key, Value]], got: list[tuple[Key, Value]]) -> int:
    """How many of Zeek's records have a record of ours with the same fields: the same rcode and
    number of answers, every name or address Zeek lists among ours (Zeek writes some answers with
    prefixes, like the ``add:`` of DNS updates), and "-" in Zeek's query or type standing for
    anything (Zeek leaves them empty for responses it could not pair with a query)."""
    left = list(got)
    matched = 0
    for (tid, query, qtype), (rcode, count, names) in expected:
        for i, ((t2, q2, y2), (rcode2, count2, names2)) in enumerate(left):
            same = rcode == rcode2 and count == count2 and names <= names2
            if t2 == tid and same and query in ("-", q2) and qtype in ("-", y2):
                matched += 1
                del left[i]
                break
    return matched


def run(trace: Path) -> list[DnsSeen]:
    engine = SensorEngine(seed=1)
    records: list[DnsSeen] = []
    for result in engine.read(trace):
        records += result.content.dns
    records += engine.finish().content.dns
    return records


def test_dns_records_agree_with_zeek(corpus: Path) -> None:
    zeek = corpus / "pcaps" / "zeek"
    index = json.loads((zeek / "INDEX.json").read_text())
    tests = [t for t in index["tests"] if "dns.log" in t.get("log_record_counts", {})]
    matched = total = 0
    report: list[str] = []
    for t in tests:
        name = t["baseline_dir"].removeprefix("Baseline/")
        if not t["trace_included"]:
            continue
        expected = theirs(zeek / t["baseline_dir"] / "dns.log")
        got = ours(run(zeek / t["trace"]))
        same = agree(expected, got)
        total += len(expected)
        matched += same
        if same < len(expected):
            why = EXPECTED_DIFFERENCES.get(name, "UNEXPECTED")
            report.append(f"{name}: {same}/{len(expected)} ({why}); zeek {expected[:3]}; "
                          f"ours {got[:3]}")  # fmt: skip
    rate = matched / total
    print(f"\nDNS records matching Zeek: {matched}/{total} ({rate:.1%})")
    print("\n".join(report))
    assert rate >= 0.95, "\n".join(report)
    assert not [r for r in report if "UNEXPECTED" in r], "\n".join(report)
