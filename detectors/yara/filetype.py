"""External variables for a scan: the file's name, extension and type as rule sets expect them.

Rule sets written for LOKI and THOR (signature-base) compare ``filetype`` with LOKI's type names
("EXE", "PHP", "ZIP", ...) taken from a file's first bytes, and ``extension`` with the lower-case
suffix including the dot (".php"). The magic table is ours and short on purpose: the rules that
use ``filetype`` name few types, and libmagic's names differ from LOKI's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath

from detectors.yara.engine import EXTERNALS

#: (first bytes, LOKI type name), most specific first.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "EXE"),
    (b"\x7fELF", "ELF"),
    (b"\xcf\xfa\xed\xfe", "MACH-O"),
    (b"\xce\xfa\xed\xfe", "MACH-O"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b\x08", "GZIP"),
    (b"BZh", "BZip2"),
    (b"7z\xbc\xaf\x27\x1c", "7Zip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"{\\rt", "RTF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "DOC"),
    (b"MSCF", "CAB"),
    (b"MDMP", "MDMP"),
    (b"<?php", "PHP"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG", "PNG"),
    (b"GIF8", "GIF"),
)


def filetype(data: bytes) -> str:
    """LOKI's name for the type of ``data`` by its first bytes; "" when unknown."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return ""


def file_externals(name: str | None, data: bytes, *, path: str = "") -> Mapping[str, str]:
    """Externals for a file called ``name`` (no folders: the base name is taken) found at ``path``
    (empty for files seen on the network)."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name if name else ""
    suffix = PurePosixPath(base).suffix.lower() if base else ""
    return {
        **EXTERNALS,
        "filename": base,
        "filepath": path,
        "extension": suffix,
        "filetype": filetype(data),
    }
