"""``cityshield scan`` as a user runs it: a real process, files and folders, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.detectors.yara.yarakit import SAMPLES, sample_bytes

SHELL = (SAMPLES / "CityShield_Webshell_PHP_Eval_Request" / "pos_chopper.txt").read_bytes()
EICAR = sample_bytes(SAMPLES / "CityShield_EICAR_Test_File" / "pos_eicar_com.b64")


def cityshield(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSHIELD_")}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "uploads" / "2026").mkdir(parents=True)
    (root / "uploads" / "2026" / "avatar.php").write_bytes(SHELL)
    (root / "index.html").write_text("<html>welcome</html>")
    (root / "eicar.com").write_bytes(EICAR)
    os.mkfifo(root / "uploads" / "pipe")  # would block a naive reader
    (root / "loop").symlink_to(root)  # would loop a naive walker
    return root


def test_matches_in_a_folder_exit_1_with_json(tree: Path) -> None:
    run = cityshield("scan", "--json", str(tree), cwd=tree.parent)
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    found = sorted((Path(m["path"]).name, m["rule"]) for m in report["matches"])
    assert found == [
        ("avatar.php", "CityShield_Webshell_PHP_Eval_Request"),
        ("eicar.com", "CityShield_EICAR_Test_File"),
    ]
    assert report["files_scanned"] == 3  # the FIFO and the link to a folder are skipped
    assert report["problems"] == []


@pytest.mark.parametrize("engine", ["yara-x", "yara-python"])
def test_clean_files_exit_0(tree: Path, engine: str) -> None:
    run = cityshield("scan", "--engine", engine, str(tree / "index.html"), cwd=tree.parent)
    assert run.returncode == 0, run.stderr
    assert "0 matches" in run.stdout


def test_problems_without_matches_exit_2_and_name_the_file(tree: Path) -> None:
    rules = tree.parent / "rules"
    rules.mkdir()
    (rules / "bad.yar").write_text("rule X {\n condition: nope\n}\n")
    (rules / "ok.yar").write_text('rule Ok { strings: $a = "welcome" condition: $a }')
    run = cityshield(
        "scan", "--rules", str(rules), str(tree / "index.html"), str(tree / "missing"),
        cwd=tree.parent,
    )  # fmt: skip
    assert run.returncode == 1  # a match wins over problems
    assert f"{rules / 'bad.yar'}:2" in run.stderr
    assert "missing: No such file or directory" in run.stderr
    run = cityshield("scan", "--rules", str(rules), str(tree / "missing"), cwd=tree.parent)
    assert run.returncode == 2


def test_max_size_scans_the_start_of_large_files(tree: Path) -> None:
    big = tree / "big.bin"
    big.write_bytes(b"\0" * 5000 + SHELL)
    run = cityshield("scan", "--json", "--max-size", "4096", str(big), cwd=tree.parent)
    assert run.returncode == 0
    assert json.loads(run.stdout)["truncated"] == [str(big)]
    run = cityshield("scan", "--json", "--max-size", "8192", str(big), cwd=tree.parent)
    assert run.returncode == 1


def test_a_bad_engine_is_an_error(tree: Path) -> None:
    run = cityshield("scan", "--engine", "clamav", str(tree), cwd=tree.parent)
    assert run.returncode == 2
    assert "engine" in run.stderr
