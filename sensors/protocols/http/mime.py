"""MIME types sniffed from a file's first bytes, whatever the sender declared.

Binary formats come from ``filetype`` (pure Python, no system libmagic that a CI machine may lack;
``puremagic`` was measured ten times slower per file and names a bare ZIP as a Word document).
``filetype`` knows no text formats, so the few that matter for web traffic (HTML, XML, scripts,
JSON, plain text) are recognised here by their openings. The declared type is the last resort.
"""

from __future__ import annotations

import re

import filetype

#: ``filetype`` reads at most this many bytes (its own signature window).
SNIFF_BYTES = 8192
_TEXT_OPENINGS = [
    (re.compile(rb"\s*<\?php", re.I), "text/x-php"),
    (re.compile(rb"\s*<%@?\s*(?:page|language|@)", re.I), "text/x-asp"),
    (re.compile(rb"\s*<\?xml", re.I), "text/xml"),
    (re.compile(rb"\s*(?:<!doctype\s+html|<html|<head|<body|<script|<title|<!--)", re.I),
     "text/html"),
    (re.compile(rb"#!"), "text/x-shellscript"),
    (re.compile(rb"\s*[{\[]\s*[\"{\[\]}0-9-]"), "application/json"),
]  # fmt: skip
#: Bytes that do not occur in text (C0 controls other than tab, line feed, form feed, CR, ESC;
#: DEL).
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
#: Binary formats whose first bytes may all be text.
_TEXT_MAGIC = (b"%PDF", b"{\\rtf", b"GIF8", b"ID3", b"OggS", b"fLaC", b"FLV", b"RIFF",
               b"BM", b"8BPS", b"II*", b"MM", b"wOF", b"#!AMR", b"FORM", b"CWS", b"FWS",
               b"ZWS")  # fmt: skip


def sniff(head: bytes, declared: str | None = None) -> str | None:
    """The MIME type of a file starting with ``head`` (None for an empty file)."""
    if not head:
        return None
    head = head[:SNIFF_BYTES]
    # Text (most web bodies) skips ``filetype``'s ninety matchers, except for the few binary
    # formats that open with text.
    texty = not _BINARY.search(head, 0, 512) and not head.startswith(_TEXT_MAGIC)
    found: str | None = None if texty else filetype.guess_mime(head)
    if found:
        return found
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or not _BINARY.search(head):
        text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        for pattern, mime in _TEXT_OPENINGS:
            if pattern.match(text):
                return mime
        return "text/plain"
    if declared:
        return declared.split(";", 1)[0].strip().lower() or None
    return "application/octet-stream"
