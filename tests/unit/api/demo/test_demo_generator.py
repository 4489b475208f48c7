"""The bundled capture is what the generator makes today, byte for byte, and the CLI drives it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from api.demo import __main__ as cli
from api.demo.generator import MANIFEST_NAME, PCAP_NAME, generate
from api.demo.manifest import Manifest

_STALE = "the bundled demo capture is stale: regenerate it with `python -m api.demo api/demo`"


def test_generate_reproduces_the_bundle(tmp_path: Path, bundle: Path) -> None:
    # One test, so that a parallel run (pytest -n) generates once: it takes seconds.
    manifest = generate(tmp_path)
    for name in (PCAP_NAME, MANIFEST_NAME):
        assert (tmp_path / name).read_bytes() == (bundle / name).read_bytes(), _STALE
    assert manifest.totals.packets > 0


def test_cli_passes_folder_and_seed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], manifest: Manifest
) -> None:
    calls: list[tuple[Path, int]] = []

    def fake_generate(out_dir: Path, *, seed: int) -> Manifest:
        calls.append((out_dir, seed))
        return manifest

    monkeypatch.setattr(cli, "generate", fake_generate)
    assert cli.main(["out"]) == 0
    assert cli.main(["elsewhere", "--seed", "7"]) == 0
    assert calls == [(Path("out"), 2026), (Path("elsewhere"), 7)]
    assert f"{manifest.totals.packets} packets" in capsys.readouterr().out


def test_manifest_names_the_pcap_by_hash(bundle: Path, manifest: Manifest) -> None:
    pcap = (bundle / PCAP_NAME).read_bytes()
    assert manifest.capture.sha256 == hashlib.sha256(pcap).hexdigest()
    assert manifest.capture.file == PCAP_NAME


def test_manifest_serialisation_is_stable(bundle: Path, manifest: Manifest) -> None:
    # Reading and writing again gives the same text: the format has one spelling.
    assert manifest.to_json().encode() == (bundle / MANIFEST_NAME).read_bytes()
    assert manifest.version == 1
    assert manifest.seed == 2026


def test_bundle_stays_small(bundle: Path, manifest: Manifest) -> None:
    assert (bundle / PCAP_NAME).stat().st_size < 1_500_000
    assert 3_000 <= manifest.totals.packets <= 15_000
