"""What the TLS parsers cost: ``.venv/bin/python -m bench.tls [--capture FILE] [--rounds N]``.

On one core (the process pins itself to CPU 0), best of N rounds:

* microseconds per connection of ``TlsParser`` on the demo's TLS 1.2 handshake (ECDHE, a
  two-certificate chain, then 64 KiB of application data each way), fed as a sensor feeds it
  (one piece per TCP segment run), and of ``QuicParser`` on RFC 9001's client and server Initial
  packets (key derivation, header protection, AES-GCM, CRYPTO reassembly, hellos);
* on the throughput capture (``bench/work/throughput.pcap``, or ``--capture``): the whole sensor
  engine's CPU time with the ``tls``, ``starttls`` and ``quic`` parsers left out and with them,
  and the CPU time spent inside them (their calls wrapped and timed).

CPU time (``time.process_time``) rather than wall time, so that other work on the machine
disturbs the figures less; on a busy machine take the best of more rounds.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/tls.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.demo import tls as demo_tls
from api.demo.certificate import PORTAL_NAME, portal_credential
from bench.capture import ROOT
from sensors.content import ContentSettings
from sensors.engine import SensorEngine, SensorSettings
from sensors.events import ContentFacts, FlowRef
from sensors.protocols.base import ParserLimits
from sensors.protocols.tls import QuicParser, StartTlsParser, TlsParser

THROUGHPUT = ROOT / "bench" / "work" / "throughput.pcap"
FLOW = FlowRef("bench", "1:x", "tcp", "192.0.2.1", 50000, "198.51.100.1", 443, 0, 0, "bench")
#: RFC 9001 appendix A.2 and A.3, as hex in ``tests/unit/sensors/tlskit.py``.
_TLSKIT = ROOT / "tests" / "unit" / "sensors"


def pin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})


def best(rounds: int, work: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def tls12_pieces() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    credential = portal_credential()
    client_random, server_random = rng.randbytes(32), rng.randbytes(32)
    hello = demo_tls.client_hello(client_random, b"", sni=PORTAL_NAME, alpn=["h2", "http/1.1"])
    flight = demo_tls.server_flight(credential, client_random, server_random, rng.randbytes(32),
                                    demo_tls.x25519_share(rng), alpn="h2")  # fmt: skip
    client, server = demo_tls.RecordProtection(rng), demo_tls.RecordProtection(rng)
    return [
        ("orig", hello),
        ("resp", flight),
        ("orig", demo_tls.client_key_exchange(rng.randbytes(32)) + client.finished()),
        ("resp", server.finished()),
        *[("orig", client.seal(demo_tls.APPLICATION_DATA, 16384)) for _ in range(4)],
        *[("resp", server.seal(demo_tls.APPLICATION_DATA, 16384)) for _ in range(4)],
    ]


def per_connection(rounds: int, n: int) -> tuple[float, float]:
    """Microseconds per TLS 1.2 connection and per QUIC Initial pair."""
    sys.path.insert(0, str(_TLSKIT))
    from tlskit import RFC_CLIENT_INITIAL, RFC_SERVER_INITIAL  # the RFC's test vectors

    pieces = tls12_pieces()
    limits = ParserLimits()

    def tls() -> None:
        for _ in range(n):
            parser, facts = TlsParser(FLOW, limits), ContentFacts()
            for direction, data in pieces:
                parser.feed(direction, data, 1, facts)  # type: ignore[arg-type]
            parser.close(2, facts)
            assert len(facts.tls) == 1 and len(facts.certificates) == 2

    def quic() -> None:
        for _ in range(n):
            parser, facts = QuicParser(FLOW, limits), ContentFacts()
            parser.datagram("orig", RFC_CLIENT_INITIAL, 1, facts)
            parser.datagram("resp", RFC_SERVER_INITIAL, 2, facts)
            assert len(facts.tls) == 1

    return best(rounds, tls) / n * 1e6, best(rounds, quic) / n * 1e6


def on_capture(capture: Path, rounds: int) -> tuple[float, float, float]:
    """Engine CPU seconds without and with the TLS parsers, and seconds inside them."""
    inside = [0.0]

    def timed(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: object, *args: object) -> object:
            start = time.process_time()
            try:
                return original(self, *args)
            finally:
                inside[0] += time.process_time() - start

        setattr(cls, name, wrapper)

    def engine(disabled: list[str]) -> Callable[[], None]:
        def work() -> None:
            e = SensorEngine(SensorSettings(content=ContentSettings(disabled_parsers=disabled)))
            for _ in e.read(capture):
                pass
            e.finish()

        return work

    without = best(rounds, engine(["tls", "starttls", "quic"]))
    with_tls = best(rounds, engine([]))
    for cls, names in ((TlsParser, ("feed", "gap", "close")), (StartTlsParser, ("feed",)),
                       (QuicParser, ("datagram", "close"))):  # fmt: skip
        for name in names:
            timed(cls, name)
    engine([])()
    return without, with_tls, inside[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture", type=Path, default=THROUGHPUT)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pin()
    tls_us, quic_us = per_connection(args.rounds, 2000)
    print(f"TlsParser, TLS 1.2 handshake + 64 KiB each way: {tls_us:.0f} us per connection")
    print(f"QuicParser, RFC 9001 client and server Initial: {quic_us:.0f} us per connection")
    if not args.capture.is_file():
        print(f"{args.capture}: not there (python -m bench.run builds it), capture part skipped")
        return
    without, with_tls, inside = on_capture(args.capture, args.rounds)
    mbit = args.capture.stat().st_size * 8 / 1e6
    print(f"engine on {args.capture.name}: {without:.2f} s CPU without the TLS parsers "
          f"({mbit / without:.0f} Mbit/s), {with_tls:.2f} s with them ({mbit / with_tls:.0f} "
          f"Mbit/s); {inside * 1000:.0f} ms inside them")  # fmt: skip


if __name__ == "__main__":
    main()
