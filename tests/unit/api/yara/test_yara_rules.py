"""Rule folders on disk: discovery, broken files reported with file and line while the others
load, namespaces per file, hostile files (too large, not UTF-8, special), reload and polling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.yara_rules import MAX_RULE_FILE_BYTES, RulePack, attach_rules, load_rule_pack
from cityshield.errors import ConfigError
from detectors.yara.config import YaraConfig
from detectors.yara.detector import YaraDetector
from detectors.yara.engine import EngineName, engine_named
from tests.unit.detectors.yara.yarakit import ENGINES, chunk

GOOD = 'rule Good {{ strings: $a = "{word}" condition: $a }}\n'
BROKEN = 'rule Broken {\n  strings: $a = "x"\n  condition: $a and nope\n}\n'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_a_broken_file_is_reported_with_line_and_the_others_load(
    tmp_path: Path, engine: EngineName
) -> None:
    write(tmp_path, "a.yar", GOOD.format(word="alpha"))
    write(tmp_path, "sub/b.yara", GOOD.format(word="beta"))  # same rule name, own namespace
    broken = write(tmp_path, "c.yar", BROKEN)
    write(tmp_path, ".hidden.yar", BROKEN)
    write(tmp_path, "notes.txt", BROKEN)
    loaded = load_rule_pack([tmp_path], engine_named(engine))
    assert loaded.rules is not None
    assert loaded.rules.rule_count == 2
    (problem,) = loaded.problems
    assert problem.origin == str(broken)
    assert problem.line == 3
    assert "nope" in problem.message
    assert loaded.failed == {str(broken)}
    assert sorted(Path(p).name for p in loaded.loaded) == ["a.yar", "b.yara"]
    if engine == "yara-x":  # yara-python does not report namespaces of compiled rules
        assert sorted(i.namespace for i in loaded.rules.info) == ["a.yar", "sub/b.yara"]


@pytest.mark.parametrize("engine", ENGINES)
def test_includes_are_refused(tmp_path: Path, engine: EngineName) -> None:
    write(tmp_path, "secret.txt", "rule Leak { condition: true }")
    inc = write(tmp_path, "inc.yar", 'include "secret.txt"\n')
    loaded = load_rule_pack([tmp_path], engine_named(engine))
    assert loaded.rules is None
    assert [p.origin for p in loaded.problems] == [str(inc)]
    assert "include" in loaded.problems[0].message


def test_hostile_files_are_reported_not_fatal(tmp_path: Path) -> None:
    write(tmp_path, "ok.yar", GOOD.format(word="ok"))
    big = tmp_path / "big.yar"
    with big.open("wb") as fh:
        fh.truncate(MAX_RULE_FILE_BYTES + 1)
    latin = tmp_path / "latin.yar"
    latin.write_bytes(b'rule Latin { meta: author = "Jos\xe9" condition: true }\n')
    os.mkfifo(tmp_path / "fifo.yar")
    loaded = load_rule_pack([tmp_path], engine_named("yara-x"))
    by_file = {Path(p.origin).name: p for p in loaded.problems}
    assert "larger than" in by_file["big.yar"].message
    assert not by_file["latin.yar"].fatal and "not UTF-8" in by_file["latin.yar"].message
    assert "not a regular file" in by_file["fifo.yar"].message
    assert loaded.rules is not None and loaded.rules.rule_count == 2  # ok and latin


def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rule folder not found"):
        load_rule_pack([tmp_path / "nope"], engine_named("yara-x"))


def test_unknown_validators_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "v.yar", 'rule V { meta: validator = "iban" strings: $a = "x" condition: $a }')
    loaded = load_rule_pack([tmp_path], engine_named("yara-x"))
    (problem,) = loaded.problems
    assert "unknown validator 'iban'" in problem.message and not problem.fatal


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pack_in(folder: Path, engine: EngineName, clock: FakeClock) -> RulePack:
    pack = RulePack.open([folder], engine, interval=5.0)
    pack.clock = clock
    pack._checked = 0.0
    return pack


def touch(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a later mtime


@pytest.mark.parametrize("engine", ENGINES)
def test_reload_applies_good_changes_and_keeps_old_rules_on_breakage(
    tmp_path: Path, engine: EngineName
) -> None:
    rule = write(tmp_path, "r.yar", GOOD.format(word="alpha"))
    clock = FakeClock()
    pack = pack_in(tmp_path, engine, clock)
    detector = YaraDetector(YaraConfig(engine=engine), observer="t")
    assert pack.current is not None and pack.current.rules is not None
    detector.use_rules(pack.current.rules)
    detector.rules_provider = pack.poll
    assert len(detector.on_stream_chunks([chunk(b"alpha")])) == 1

    touch(rule, GOOD.format(word="beta"))
    assert detector.on_stream_chunks([chunk(b"beta")]) == []  # not checked yet (interval)
    clock.now = 6.0
    assert len(detector.on_stream_chunks([chunk(b"beta")])) == 1  # reloaded
    assert detector.on_stream_chunks([chunk(b"alpha")]) == []

    touch(rule, BROKEN)
    clock.now = 12.0
    outcome = pack.reload()
    assert not outcome.applied and "fail now" in outcome.reason
    assert [p.line for p in outcome.problems] == [3]
    clock.now = 18.0
    assert len(detector.on_stream_chunks([chunk(b"beta")])) == 1  # the old rules still run
    assert pack.refused == 1 and pack.reloads == 1

    touch(rule, GOOD.format(word="gamma"))
    clock.now = 24.0
    assert len(detector.on_stream_chunks([chunk(b"gamma")])) == 1  # fixed: applied again
    assert detector.stats()["reloads"] == 2


def test_a_file_broken_from_the_start_does_not_block_reloads(tmp_path: Path) -> None:
    write(tmp_path, "bad.yar", BROKEN)
    good = write(tmp_path, "good.yar", GOOD.format(word="one"))
    pack = pack_in(tmp_path, "yara-x", FakeClock())
    touch(good, GOOD.format(word="two"))
    outcome = pack.reload()
    assert outcome.applied
    assert [Path(p.origin).name for p in outcome.problems] == ["bad.yar"]


def test_attach_rules_uses_rules_dir_yara_by_default(tmp_path: Path) -> None:
    write(tmp_path / "yara", "r.yar", GOOD.format(word="alpha"))
    detector = YaraDetector(YaraConfig(), observer="t")
    (pack,) = attach_rules([detector], tmp_path)
    assert pack.dirs == (tmp_path / "yara",)
    assert detector.stats()["rules"] == 1
    empty = YaraDetector(YaraConfig(), observer="t")
    assert attach_rules([empty], tmp_path / "elsewhere") == []
    assert empty.stats()["rules"] == 0


def test_the_settings_file_configures_engine_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.composition import build_pipeline
    from api.settings import settings_from

    for key in [k for k in os.environ if k.startswith("CITYSHIELD_")]:
        monkeypatch.delenv(key)
    rules = tmp_path / "mine"
    write(rules, "x.yar", GOOD.format(word="alpha"))
    settings_file = tmp_path / "cityshield.toml"
    settings_file.write_text(
        f'[detectors.yara]\nengine = "yara-python"\nrule_dirs = ["{rules}"]\nstream_depth = 64\n'
    )
    pipeline = build_pipeline(settings_from(settings_file))
    (yara,) = [d for d in pipeline.detectors if isinstance(d, YaraDetector)]
    assert yara.config.engine == "yara-python"
    assert yara.config.stream_depth == 64
    assert yara.rules is not None and yara.rules.engine == "yara-python"
    assert [i.rule for i in yara.rules.info] == ["Good"]
