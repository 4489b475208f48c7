"""Real rule sets and real captures: signature-base and Yara-Rules loaded together (the files
that do not compile are exactly the written lists, everything else loads), and EICAR carried
over the wire in suricata-verify's captures found by our rule through reassembly and parsing.

The expected failures, by cause, as each engine reports them:
* 12 Yara-Rules ``*index*.yar`` files are lists of ``include`` statements; includes are off
  (a rule file must not read other files).
* 8 Yara-Rules files call ``is__elf``, a rule of a file they forget to include.
* libyara 4.5: ``MALW_AZORULT.yar`` uses a ``pe`` field (``sync``) the module no longer has.
* yara-x: ``APT_CrashOverride.yar`` compares a string with an integer and
  ``RAT_PoetRATPython.yar`` has a regular expression that yara-x refuses even in relaxed mode;
  yara-x knows the AZORULT field.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.yara_rules import load_rule_pack
from detectors.yara.engine import EngineName, engine_named
from detectors.yara.filetype import file_externals
from detectors.yara.scanner import ContentScanner
from tests.unit.detectors.yara.yarakit import ENGINES, SAMPLES, config, sample_bytes

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

_INDEX = [
    f"yara-rules/{n}_index.yar"
    for n in (
        "antidebug_antivm", "capabilities", "crypto", "cve_rules", "email", "exploit_kits",
        "maldocs", "malware", "packers", "webshells",
    )
] + ["yara-rules/index.yar", "yara-rules/index_w_mobile.yar"]  # fmt: skip
_IS_ELF = [
    f"yara-rules/malware/{n}.yar"
    for n in (
        "MALW_Httpsd_ELF", "MALW_Mirai_Okiru_ELF", "MALW_Mirai_Satori_ELF",
        "MALW_Rebirth_Vulcan_ELF", "MALW_TinyShell_Backdoor_gen", "MALW_Torte_ELF",
        "TOOLKIT_Mandibule",
    )
]  # fmt: skip
EXPECTED_FAILURES: dict[EngineName, set[str]] = {
    "yara-python": {*_INDEX, *_IS_ELF, "yara-rules/malware/MALW_AZORULT.yar"},
    "yara-x": {
        *_INDEX,
        *_IS_ELF,
        "yara-rules/malware/APT_CrashOverride.yar",
        "yara-rules/malware/RAT_PoetRATPython.yar",
    },
}
EICAR = sample_bytes(SAMPLES / "CityShield_EICAR_Test_File" / "pos_eicar_com.b64")


@pytest.fixture(scope="module")
def yara_corpus(corpus: Path) -> Path:
    folder = corpus / "yara"
    if not (folder / "signature-base").is_dir() or not (folder / "yara-rules").is_dir():
        pytest.skip(f"no signature-base or yara-rules under {folder}")
    return folder


@pytest.mark.parametrize("engine", ENGINES)
def test_signature_base_and_yara_rules_load_together(yara_corpus: Path, engine: EngineName) -> None:
    dirs = [yara_corpus / "signature-base", yara_corpus / "yara-rules"]
    loaded = load_rule_pack(dirs, engine_named(engine))
    failed = {Path(p).relative_to(yara_corpus).as_posix() for p in loaded.failed}
    report = "\n".join(str(p) for p in loaded.problems if p.fatal)
    assert failed == EXPECTED_FAILURES[engine], f"rule files that failed:\n{report}"
    # Every failure names its file and line.
    assert all(p.line is not None for p in loaded.problems if p.fatal), report
    # Everything else loaded: every rule file but the failing ones.
    assert len(loaded.loaded) == len(loaded.files) - len(failed)
    assert loaded.rules is not None
    assert loaded.rules.rule_count > 18_000  # 5,884 signature-base + 12,746 Yara-Rules, roughly

    # The externals rule sets expect are declared: EICAR, as a file, is found by both sets.
    scanner = ContentScanner(loaded.rules, config(engine=engine))
    outcome = scanner.scan(EICAR, file_externals("eicar.com", EICAR, path="/tmp/eicar.com"))
    names = {f.match.rule for f in outcome.findings}
    assert "SUSP_Just_EICAR" in names, sorted(names)


# -- EICAR over the wire ---------------------------------------------------------------------


def _eicar_tests(verify: Path) -> list[tuple[str, Path, bool, str | None]]:
    """(test, pcap, EICAR in clear in the capture, file name Suricata's fileinfo expects) for every
    test whose capture carries EICAR in clear or whose checks or rules name it."""
    found = []
    for test_yaml in sorted(verify.glob("tests/**/test.yaml")):
        folder = test_yaml.parent
        pcaps = sorted(folder.glob("*.pcap"))
        if len(pcaps) != 1:
            continue
        text = test_yaml.read_text(errors="replace")
        rules = "".join(p.read_text(errors="replace") for p in folder.glob("*.rules"))
        raw = pcaps[0].read_bytes()
        clear = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in raw
        if not clear and not re.search("eicar|X5O", text + rules, re.I):
            continue
        # The file name Suricata's fileinfo reports, for captures that carry HTTP (our parser).
        name = re.search(r"fileinfo\.filename:\s*\"?([^\s\"]+)", text)
        if b"HTTP/1." not in raw:
            name = None
        test = folder.relative_to(verify / "tests").as_posix()
        found.append((test, pcaps[0], clear, name[1] if name else None))
    return found


@pytest.fixture(scope="module")
def eicar_runs(corpus: Path) -> list[tuple[str, bool, str | None, set[str], bool]]:
    """Each EICAR capture through the whole pipeline: (test, in clear, expected file name, names
    of files our EICAR rule fired on, whether it fired at all)."""
    from api.analysis import Analysis
    from api.composition import build_engine, build_pipeline
    from api.settings import settings_from

    verify = corpus / "pcaps" / "suricata-verify"
    if not verify.is_dir():
        pytest.skip(f"no suricata-verify under {verify}")
    settings = settings_from(None)
    runs = []
    for test, pcap, clear, expected_name in _eicar_tests(verify):
        summary = Analysis(build_engine(settings), build_pipeline(settings), None).run([pcap])
        eicar = [a for a in summary.alerts if a.rule.name == "CityShield_EICAR_Test_File"]
        files = {
            str(a.data["file"]["name"])  # type: ignore[index]
            for a in eicar
            if isinstance(a.data.get("file"), dict)
        }
        runs.append((test, clear, expected_name, files, bool(eicar)))
    return runs


def test_eicar_in_suricata_verify_captures_is_found(
    eicar_runs: list[tuple[str, bool, str | None, set[str], bool]],
) -> None:
    assert len(eicar_runs) >= 8
    hits = [t for t, _, _, _, fired in eicar_runs if fired]
    misses = [t for t, _, _, _, fired in eicar_runs if not fired]
    print(f"EICAR found in {len(hits)}/{len(eicar_runs)} captures; misses: {misses}")
    # In clear over TCP (HTTP, SMB, SMTP), reassembly alone brings it to the rule, whatever the
    # segmentation; misses may only be encoded forms we do not decode yet (SMTP base64 MIME).
    missed_in_clear = [t for t, clear, _, _, fired in eicar_runs if clear and not fired]
    assert missed_in_clear == []
    assert len(hits) / len(eicar_runs) >= 0.8, misses


def test_eicar_files_carry_the_name_suricata_extracts(
    eicar_runs: list[tuple[str, bool, str | None, set[str], bool]],
) -> None:
    from sensors.protocols.registry import STREAM_PARSERS

    if "http" not in STREAM_PARSERS:
        pytest.skip("no HTTP parser yet: files are not extracted (issue 3, the lead's part)")
    named = [(t, name, files) for t, _, name, files, _ in eicar_runs if name]
    wrong = [(t, name, sorted(files)) for t, name, files in named if name not in files]
    print(f"file names right in {len(named) - len(wrong)}/{len(named)}; wrong: {wrong}")
    assert len(named) - len(wrong) >= 0.9 * len(named), wrong
