"""File extraction: named by SHA256, budgets per file and per run, only whole files."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

from httpkit import FLOW

from sensors.events import FileSeen
from sensors.extract import FileExtractor, FileSettings


def seen(data: bytes, **changes: object) -> FileSeen:
    f = FileSeen(FLOW, 1, "F1", "HTTP", "resp", "../../etc/cron.d/evil", "text/plain", len(data),
                 hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
                 hashlib.sha256(data).hexdigest(), data)  # fmt: skip
    return dataclasses.replace(f, **changes)  # type: ignore[arg-type]


def test_files_are_written_under_their_hash_once(tmp_path: Path) -> None:
    stats: Counter[str] = Counter()
    ex = FileExtractor(FileSettings(extract_dir=tmp_path / "x"), stats)
    a, again = ex.extract([seen(b"payload"), seen(b"payload")])
    assert a.extracted == again.extracted == str(tmp_path / "x" / a.sha256)
    assert Path(a.extracted).read_bytes() == b"payload"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [a.sha256]  # no traffic names
    assert (stats["files_extracted"], stats["files_extracted_again"]) == (1, 1)


def test_budgets_and_incomplete_files_are_counted_not_written(tmp_path: Path) -> None:
    stats: Counter[str] = Counter()
    settings = FileSettings(extract_dir=tmp_path, extract_max_file=10, extract_max_total=15)
    ex = FileExtractor(settings, stats)
    out = ex.extract([
        seen(b"0123456789"), seen(b"too big for one file"), seen(b"abcdefghij"),
        seen(b"abc", truncated=True), seen(b"abc", missing_bytes=2, size=5),
    ])  # fmt: skip
    assert [f.extracted is not None for f in out] == [True, False, False, False, False]
    assert stats == Counter(files_extracted=1, files_extracted_bytes=10,
                            files_not_extracted_too_big=1, files_not_extracted_budget=1,
                            files_not_extracted_incomplete=2)  # fmt: skip
    assert len(list(tmp_path.iterdir())) == 1
