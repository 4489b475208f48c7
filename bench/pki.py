"""PKI chain checks per second on one core, with and without revocation (cached).

    .venv/bin/python -m bench.pki                  # writes the "PKI" section of bench/RESULTS.md
    .venv/bin/python -m bench.pki --seconds 2 --no-write

The chains are those of the tests' city PKI (``tests/unit/pki/pkikit.py``: root, issuing CA,
P-256 leaves with CRL distribution points and OCSP pointers), served by a real CRL and OCSP
server on loopback. Each row checks leaf + issuing CA against the root with ``ChainChecker``
(the object the CLI, the API, scans and the passive detector share):

* revocation off: path building and policy (``cryptography``'s verifier and our checks);
* revocation soft-fail, cached: the RFC 5280 stage (pyhanko-certvalidator) with each leaf's
  OCSP answer (or the CA's CRL) already in the ``RevocationCache``, as a sensor runs once warm;
* the first check of a leaf, cache cold: the same plus an HTTP fetch from the loopback server
  (which runs in this process, on the same core).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/pki.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import machine
from bench.capture import ROOT
from cityshield.clock import FixedClock
from pki.checker import ChainChecker, CheckOptions
from pki.fetch import HttpFetcher
from pki.model import Profile, Purpose, RevocationMode
from pki.revocation import RevocationCache
from pki.trust import TrustStore
from tests.unit.pki.pkikit import NOW, CityPki, Responder, revocation_server

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = re.compile(r"<!-- pki:start.*?<!-- pki:end -->\n?", re.DOTALL)
LEAVES = 200


def rate(check: Callable[[int], object], seconds: float) -> tuple[float, int]:
    """Checks per second over at least ``seconds`` (and at least one pass over the leaves)."""
    done = 0
    start = time.perf_counter()
    while True:
        check(done)
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and done >= LEAVES:
            return done / elapsed, done


def rows(pki: CityPki, responder: Responder, seconds: float) -> list[tuple[str, float, int, str]]:
    clock = FixedClock(NOW)
    names = [f"svc{i}.city.example" for i in range(LEAVES)]
    leaves = [pki.leaf(name) for name in names]
    trust = TrustStore([pki.root.cert])

    def checker(cache: RevocationCache | None) -> ChainChecker:
        return ChainChecker({Purpose.TLS_SERVER: trust}, cache=cache, clock=clock)

    def run(c: ChainChecker, options: Callable[[str], CheckOptions]) -> Callable[[int], None]:
        def one(i: int) -> None:
            leaf = leaves[i % LEAVES]
            verdict = c.check([leaf.cert, pki.issuing.cert], options(names[i % LEAVES]))
            if not verdict.valid:
                raise SystemExit(f"unexpected verdict: {verdict.findings}")

        return one

    def opts(
        mode: RevocationMode, profile: Profile = Profile.WEBPKI
    ) -> Callable[[str], CheckOptions]:
        fetch = mode is not RevocationMode.OFF
        return lambda name: CheckOptions(host=name, revocation=mode, profile=profile, fetch=fetch)

    found: list[tuple[str, float, int, str]] = []
    off = run(checker(None), opts(RevocationMode.OFF))
    found.append(("webpki, revocation off", *rate(off, seconds), "path and policy only"))
    rfc = run(checker(None), opts(RevocationMode.OFF, Profile.RFC5280))
    found.append(("rfc5280, revocation off", *rate(rfc, seconds), "+ pyhanko path validation"))

    ocsp_cache = RevocationCache(HttpFetcher(), clock)
    warm = run(checker(ocsp_cache), opts(RevocationMode.SOFT_FAIL))
    fetched = responder.ocsp_requests
    cold_rate, cold_n = _cold(warm)
    found.append(("webpki, soft-fail, cold (OCSP fetch)", cold_rate, cold_n,
                  f"{responder.ocsp_requests - fetched} OCSP requests to loopback"))  # fmt: skip
    before = responder.ocsp_requests
    r, n = rate(warm, seconds)
    found.append(("webpki, soft-fail, OCSP cached", r, n,
                  f"{responder.ocsp_requests - before} requests while measuring; "
                  f"{ocsp_cache.hits:,} cache hits"))  # fmt: skip

    responder.ocsp_enabled = False  # only the CRL answers now
    crl_cache = RevocationCache(HttpFetcher(), clock)
    crl_check = run(checker(crl_cache), opts(RevocationMode.SOFT_FAIL))
    for i in range(LEAVES):  # warm: the responder refuses, the CRL is fetched once and kept
        crl_check(i)
    before = responder.crl_requests
    r, n = rate(crl_check, seconds)
    found.append(("webpki, soft-fail, CRL cached (OCSP down)", r, n,
                  f"{responder.crl_requests - before} CRL requests while measuring"))  # fmt: skip
    return found


def _cold(check: Callable[[int], None]) -> tuple[float, int]:
    start = time.perf_counter()
    for i in range(LEAVES):
        check(i)
    return LEAVES / (time.perf_counter() - start), LEAVES


def markdown(found: list[tuple[str, float, int, str]], seconds: float, facts: dict[str, str],
             load_before: str) -> str:  # fmt: skip
    lines = [
        "<!-- pki:start (bench/pki.py; not written by bench.run) -->",
        "## PKI",
        "",
        f"Generated by `python -m bench.pki` on {facts['date']}: `ChainChecker.check` of leaf + "
        f"issuing CA against the city root, {LEAVES} distinct P-256 leaves in turn, one core "
        f"(pinned), at least {seconds:g} s per row; revocation answers from a CRL and OCSP "
        "server on loopback (the tests' city PKI).",
        "",
        "| check | checks/s | checks | notes |",
        "|---|---|---|---|",
        *[f"| {name} | {r:,.0f} | {n:,} | {note} |" for name, r, n, note in found],
        "",
        _reading(found),
        "",
        f"Machine: {facts['cpu']}, {facts['cores']}, {facts['ram']}, Python {facts['python']}, "
        f"CityShield {facts['cityshield']}. Load average before / after: {load_before} / "
        f"{machine.load_average()} (the machine is shared with other engineers' processes).",
        "<!-- pki:end -->",
    ]
    return "\n".join(lines) + "\n"


def _reading(found: list[tuple[str, float, int, str]]) -> str:
    by = {name: r for name, r, _, _ in found}
    off, cached = by["webpki, revocation off"], by["webpki, soft-fail, OCSP cached"]
    return (
        f"Revocation costs {off / cached:.0f}x: {1000 / cached:.1f} ms a check against "
        f"{1000 / off:.1f} ms. With revocation on, each check runs pyhanko-certvalidator's "
        "RFC 5280 validation of the built path and verifies the cached OCSP answers (leaf and "
        "issuing CA) "
        "again, signatures included; the cache saves the network, not the verification. The "
        "passive detector judges a chain once per `recheck_seconds` (an hour by default), so a "
        "sensor pays this per distinct chain it sees, not per handshake; a responder that fails "
        "is not asked again for `pki.cache.failure_ttl_seconds`, which is why the CRL row stays "
        "close to the OCSP one while the OCSP server answers 503."
    )


def write(section: str, path: Path = RESULTS) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if SECTION.search(text):
        text = SECTION.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pki", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="per row (default 5)")
    p.add_argument("--cpu", type=int, default=0, help="core to pin to (default 0)")
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = p.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    load_before = machine.load_average()
    with revocation_server() as (pki, responder):
        found = rows(pki, responder, args.seconds)
    for name, r, n, note in found:
        print(f"{name:45} {r:10,.0f} checks/s  ({n:,} checks; {note})")
    if not args.no_write:
        write(markdown(found, args.seconds, machine.describe(), load_before))
        print(f"wrote the PKI section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
