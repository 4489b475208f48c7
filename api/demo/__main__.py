"""``python -m api.demo OUT_DIR [--seed N]``: write the demo capture and its manifest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.demo.generator import DEFAULT_SEED, MANIFEST_NAME, PCAP_NAME, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api.demo", description="Write the deterministic e-government demo capture."
    )
    parser.add_argument("out_dir", type=Path, help="folder for the pcap and its manifest")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default: %(default)s")
    args = parser.parse_args(argv)
    manifest = generate(args.out_dir, seed=args.seed)
    totals = manifest.totals
    print(
        f"{args.out_dir / PCAP_NAME}: {totals.packets} packets, {totals.bytes} bytes, "
        f"{totals.connections} connections, {len(manifest.attacks)} attacks; "
        f"ground truth in {args.out_dir / MANIFEST_NAME}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
