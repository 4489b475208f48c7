"""File extraction: the bytes of files seen in traffic written to a folder, within budgets.

Files are named by their SHA256 (never by a name from traffic, which an attacker chooses), so the
same file seen twice is written once. A file is written only when all of it is at hand (its size
within the per-file budget and within the bytes a parser keeps, ``ParserLimits.max_file_data``)
and while the run's total budget lasts; every file left out is counted by reason.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections import Counter
from pathlib import Path

from pydantic import Field

from cityshield.settings import Section
from sensors.events import FileSeen


class FileSettings(Section):
    #: Folder to write extracted files to; None: no extraction.
    extract_dir: Path | None = None
    #: Largest file written (bytes); larger files are counted, not written.
    extract_max_file: int = Field(4 * 1024 * 1024, ge=1)
    #: Bytes written in one run at most; once reached, files are counted, not written.
    extract_max_total: int = Field(256 * 1024 * 1024, ge=1)
    #: File bytes all open bodies may keep at once for detectors (each keeps at most 4 MiB).
    kept_max_total: int = Field(64 * 1024 * 1024, ge=1024 * 1024)


class FileExtractor:
    """Writes files to ``extract_dir`` and returns them with ``extracted`` set."""

    def __init__(self, settings: FileSettings, stats: Counter[str] | None = None) -> None:
        if settings.extract_dir is None:
            raise ValueError("file extraction needs an extract_dir")
        self.dir = settings.extract_dir
        self.max_file = settings.extract_max_file
        self.max_total = settings.extract_max_total
        self.stats: Counter[str] = stats if stats is not None else Counter()
        self.written = 0
        self.dir.mkdir(parents=True, exist_ok=True)

    def extract(self, files: list[FileSeen]) -> list[FileSeen]:
        return [self._one(f) for f in files]

    def _one(self, f: FileSeen) -> FileSeen:
        if f.size > self.max_file:
            self.stats["files_not_extracted_too_big"] += 1
            return f
        if f.truncated or f.missing_bytes or len(f.data) != f.size:
            self.stats["files_not_extracted_incomplete"] += 1
            return f
        path = self.dir / f.sha256
        if not path.exists():
            if self.written + f.size > self.max_total:
                self.stats["files_not_extracted_budget"] += 1
                return f
            # Write to a temporary name and rename: a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(f.data)
                Path(tmp).replace(path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self.written += f.size
            self.stats["files_extracted"] += 1
            self.stats["files_extracted_bytes"] += f.size
        else:
            self.stats["files_extracted_again"] += 1
        return dataclasses.replace(f, extracted=str(path))
