"""TLS records against Zeek's ssl.log and x509.log baselines in ``../shared/corpus``.

* ssl.log: every record of every baseline whose trace is in the corpus is looked for among our
  ``TlsSeen`` records of the same connection (the 4-tuple, either way round; baselines cut with
  zeek-cut to fewer columns are matched on the columns they keep). It agrees when the server
  name, the negotiated version and the cipher are the same (Zeek's ``-`` is our ``None``).
* x509.log: every certificate (Zeek logs each once, by fingerprint) is looked for among our
  ``CertificateSeen`` by SHA-256; it agrees when subject, issuer and validity are the same, read
  from our ECS ``x509`` document (distinguished names as OpenSSL prints them, like Zeek).

At least 95% of the records must agree, and every difference is listed with its reason.
``EXPECTED`` explains the baselines we know we differ on; anything else is UNEXPECTED and fails.
QUIC's records are compared like the others (their hellos are read from Initial packets);
Zeek's DTLS records are counted apart: DTLS on the ports Zeek finds it (after STUN, by content)
is not something CityShield parses, so those are out of scope, not misses, and listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from zeeklog import read_log

from sensors.engine import SensorEngine
from sensors.events import CertificateSeen, TlsSeen
from sensors.protocols.ecs import x509_document

pytestmark = pytest.mark.corpus

MIN_AGREEMENT = 0.95

#: Baselines we know we do not match, and why (by baseline directory name).
EXPECTED: dict[str, str] = {
    "scripts.base.protocols.ftp.gridftp": "GridFTP's control channel carries TLS inside base64 "
    "GSSAPI ADAT commands (RFC 2228), which only Zeek's GSSAPI analyzer unwraps",
    "scripts.base.protocols.websocket.wstunnel-https": "TLS tunnelled in WebSocket binary "
    "frames after an HTTP upgrade (wstunnel); Zeek's WebSocket analyzer hands the frames' payload "
    "to protocol detection, our HTTP parser does not unwrap WebSocket frames",
    "scripts.base.protocols.rdp.rdp-x509": "the certificates travel in RDP's own security "
    "layer (MS-RDPBCGR 2.2.1.4.3, server proprietary/X.509 certificate in the GCC response), "
    "not in TLS",
}


@dataclass(slots=True)
class Run:
    """Our facts for one trace."""

    tls: list[TlsSeen] = field(default_factory=list)
    certificates: list[CertificateSeen] = field(default_factory=list)


_RUNS: dict[Path, Run] = {}


def ours(trace: Path) -> Run:
    if trace not in _RUNS:
        engine = SensorEngine(seed=1)
        out = Run()
        for result in [*engine.read(trace), engine.finish()]:
            out.tls += result.content.tls
            out.certificates += result.content.certificates
        _RUNS[trace] = out
    return _RUNS[trace]


def baselines(zeek: Path, log: str) -> Iterator[tuple[str, Path, Path]]:
    index = json.loads((zeek / "INDEX.json").read_text())
    for t in index["tests"]:
        if log in t.get("log_record_counts", {}) and t["trace_included"]:
            name = t["baseline_dir"].removeprefix("Baseline/")
            yield name, zeek / t["trace"], zeek / t["baseline_dir"] / log


@dataclass(slots=True)
class Tally:
    what: str
    agree: int = 0
    total: int = 0
    out_of_scope: list[str] = field(default_factory=list)
    report: list[str] = field(default_factory=list)

    def add(self, name: str, same: bool, detail: str) -> None:
        self.total += 1
        if same:
            self.agree += 1
        else:
            why = EXPECTED.get(name, "UNEXPECTED")
            self.report.append(f"  {name}: {detail} ({why})")

    @property
    def rate(self) -> float:
        return self.agree / self.total if self.total else 0.0

    def text(self) -> str:
        head = (f"Zeek {self.what}: {self.agree}/{self.total} records agree ({self.rate:.1%}, at "
                f"least {MIN_AGREEMENT:.0%} required); {len(self.out_of_scope)} DTLS records out "
                "of scope")  # fmt: skip
        lines = [head, *self.report]
        lines += [f"  out of scope: {o}" for o in self.out_of_scope]
        return "\n".join(lines)

    def check(self) -> None:
        text = self.text()
        print("\n" + text)
        assert self.total >= 30, text
        assert self.rate >= MIN_AGREEMENT, text
        assert not [r for r in self.report if "UNEXPECTED" in r], text


def _value(text: str | None) -> str | None:
    return None if text in (None, "-", "(empty)") else text


def _tuple(r: dict[str, str]) -> tuple[str, int, str, int] | None:
    if "id.orig_h" not in r:
        return None
    return (r["id.orig_h"], int(r["id.orig_p"]), r["id.resp_h"], int(r["id.resp_p"]))


def _fields(t: TlsSeen) -> dict[str, str | None]:
    return {"server_name": t.server_name, "version": t.version, "cipher": t.cipher}


def test_tls_records_agree_with_zeek_ssl_log(corpus: Path) -> None:
    tally = Tally("ssl.log")
    for name, trace, log in baselines(corpus / "pcaps" / "zeek", "ssl.log"):
        run = ours(trace)
        left = list(run.tls)
        for r in read_log(log):
            key = _tuple(r)
            if r.get("version", "").startswith("DTLS"):
                tally.out_of_scope.append(f"{name} {r.get('id.orig_h')} > {r.get('id.resp_h')}")
                continue
            wanted = {k: _value(r[k]) for k in ("server_name", "version", "cipher") if k in r}
            same = [t for t in left if key is None or _ends(t) in (key, key[2:] + key[:2])]
            hit = next((t for t in same if all(_fields(t)[k] == v for k, v in wanted.items())),
                       None)  # fmt: skip
            if hit is not None:
                left.remove(hit)
            detail = f"zeek {wanted}, ours {[_fields(t) for t in same][:2] or 'none'}"
            tally.add(name, hit is not None, detail)
    tally.check()


def _ends(t: TlsSeen) -> tuple[str, int, str, int]:
    f = t.flow
    return (f.orig_ip, f.orig_port, f.resp_ip, f.resp_port)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_certificates_agree_with_zeek_x509_log(corpus: Path) -> None:
    tally = Tally("x509.log")
    for name, trace, log in baselines(corpus / "pcaps" / "zeek", "x509.log"):
        by_hash = {c.sha256: c for c in ours(trace).certificates}
        for r in read_log(log):
            cert = by_hash.get(r["fingerprint"])
            if cert is None:
                tally.add(name, False, f"no certificate {r['fingerprint'][:16]}... "
                                       f"({r['certificate.subject'][:60]})")  # fmt: skip
                continue
            doc = x509_document(cert, "conformance")["x509"]
            got = (doc.get("subject", {}).get("distinguished_name"),
                   doc.get("issuer", {}).get("distinguished_name"),
                   _epoch(doc["not_before"]) if "not_before" in doc else None,
                   _epoch(doc["not_after"]) if "not_after" in doc else None)  # fmt: skip
            wanted = (r["certificate.subject"], r["certificate.issuer"],
                      float(r["certificate.not_valid_before"]),
                      float(r["certificate.not_valid_after"]))  # fmt: skip
            tally.add(name, got == wanted, f"zeek {wanted}, ours {got}")
    tally.check()


def test_expected_differences_are_current(corpus: Path) -> None:
    """Every baseline named in EXPECTED still exists (delete entries that no longer apply)."""
    zeek = corpus / "pcaps" / "zeek"
    names = {n for log in ("ssl.log", "x509.log") for n, _, _ in baselines(zeek, log)}
    assert set(EXPECTED) <= names
