"""The labelled evaluation set for anomaly models: benign captures and one per attack type.

``python -m api.demo.labelled DIR`` (or ``cityshield evaluate --generate DIR``) writes, with the
same bytes for the same seed:

* ``baseline.pcap``: two hours of the site's ordinary traffic, to train on;
* ``heldout.pcap``: another hour of it (other seed), never trained on: the false-positive check;
* ``exfiltration.pcap``, ``c2_beaconing.pcap``, ``dns_tunnelling.pcap``, ``slow_scan.pcap``,
  ``brute_force.pcap``: half an hour of ordinary traffic with the attack played over it;
* next to each capture, ``NAME.labels.json``: every flow by 5-tuple and time with its label
  ("benign" or the attack kind).

``scale`` shortens every capture (tests use a few minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from api.demo.intrusions import ATTACKS, Intrusion
from api.demo.rawcapture import RawCapture
from api.demo.site import Site

VERSION = 1
DEFAULT_SEED = 2026
START_US = 1_772_438_400 * 1_000_000  # 2026-03-02T08:00:00Z
BASELINE, HELDOUT = "baseline", "heldout"
LABELS_SUFFIX = ".labels.json"
_SECONDS = {BASELINE: 7200.0, HELDOUT: 3600.0}
_ATTACK_SECONDS = 1800.0


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelledFlow(_Record):
    transport: Literal["tcp", "udp"]
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    first_us: int
    last_us: int
    label: str


class AttackInfo(_Record):
    kind: str
    description: str
    source: str
    mitre: str


class Labels(_Record):
    """The ground truth of one capture of the set (stored format, version 1)."""

    version: int = VERSION
    generator: str = "api.demo.labelled"
    seed: int
    capture: str
    sha256: str
    packets: int
    role: Literal["baseline", "heldout", "attack"]
    attack: AttackInfo | None = None
    flows: list[LabelledFlow]

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        flows = data.pop("flows")
        head = json.dumps(data, indent=2)
        rows = ",\n".join("    " + json.dumps(f) for f in flows)
        return head[:-2] + ',\n  "flows": [\n' + rows + "\n  ]\n}\n"


def labels_path(capture: Path) -> Path:
    return capture.with_name(capture.stem + LABELS_SUFFIX)


def write_capture(
    out_dir: Path, name: str, *, seed: int = DEFAULT_SEED, scale: float = 1.0
) -> Labels:
    """Write ``NAME.pcap`` and its labels: ``baseline``, ``heldout`` or an attack kind."""
    # Reproducible on purpose: nothing here is a secret.
    rng = random.Random(f"{seed}/{name}")  # noqa: S311
    cap = RawCapture(rng)
    seconds = _SECONDS.get(name, _ATTACK_SECONDS) * scale
    start = START_US + (0 if name == BASELINE else int(_SECONDS[BASELINE] * 1e6))
    Site(cap, start, seconds).play()
    attack: Intrusion | None = None
    if name in ATTACKS:
        attack = ATTACKS[name](cap, start, start + int(seconds * 1e6))
    elif name not in _SECONDS:
        raise ValueError(f"unknown capture {name!r}: baseline, heldout or {', '.join(ATTACKS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.pcap"
    packets = cap.write(path)
    flows = sorted(cap.flows, key=lambda f: (f.first_us, f.orig_h, f.orig_p))
    labels = Labels(
        seed=seed,
        capture=path.name,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        packets=packets,
        role="attack" if attack else name,
        attack=AttackInfo(**asdict(attack)) if attack else None,
        flows=[LabelledFlow(**asdict(f)) for f in flows],
    )
    labels_path(path).write_bytes(labels.to_json().encode())
    return labels


def generate(out_dir: Path, *, seed: int = DEFAULT_SEED, scale: float = 1.0) -> list[Labels]:
    """The whole set: baseline, held-back benign, and one capture per attack type."""
    return [
        write_capture(out_dir, name, seed=seed, scale=scale)
        for name in (BASELINE, HELDOUT, *ATTACKS)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.demo.labelled", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=1.0, help="capture length factor")
    args = parser.parse_args(argv)
    for labels in generate(args.out_dir, seed=args.seed, scale=args.scale):
        attack = sum(f.label != "benign" for f in labels.flows)
        print(
            f"{args.out_dir / labels.capture}: {labels.packets:,} packets, "
            f"{len(labels.flows):,} flows ({attack:,} attack)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
