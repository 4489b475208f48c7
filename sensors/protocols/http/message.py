"""Message heads: the start line and header fields (RFC 9112 sections 3 to 5), read leniently.

An IDS must read what lenient servers accept, not what the RFC allows: bare LF line ends, runs of
spaces, obsolete line folding, whitespace before the colon, missing versions (HTTP/0.9). Each
deviation is accepted and named in ``problems``: smuggling and evasion live in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: RFC 9110 section 5.6.2: a token (methods and field names).
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)", re.IGNORECASE)
_STATUS = re.compile(rb"[ \t]*HTTP/(\d+)\.(\d+)[ \t]+(\d{3})(?:[ \t]+([^\r\n]*))?[ \t\r]*", re.I)


def text(raw: bytes) -> str:
    """Bytes from the wire as text: UTF-8 where it is, escapes where it is not (never lossy)."""
    return raw.decode("utf-8", "backslashreplace")


@dataclass(slots=True)
class Head:
    """A request or response head. For a request ``first`` is (method, target, version); for a
    response (version, status, reason). ``version`` is like Zeek's: "1.1", "1.0", "0.9"."""

    first: tuple[str, str, str]
    headers: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _index: dict[str, list[str]] | None = None

    def values(self, name: str) -> list[str]:
        """Every value of a header, in order (``name`` in lower case)."""
        if self._index is None:
            self._index = {}
            for key, value in self.headers:
                self._index.setdefault(key.lower(), []).append(value)
        return self._index.get(name, [])

    def get(self, name: str) -> str | None:
        """The first value of a header (``name`` in lower case)."""
        found = self.values(name)
        return found[0] if found else None


def request_line(line: bytes) -> tuple[str, str, str] | None:
    """(method, target, version) of a request line; None when it is not one. A line with a method
    and a target only is HTTP/0.9; a method and a version have an empty target (Zeek's no-uri);
    a word alone is not a request (Zeek's bad_HTTP_request)."""
    words = line.split()
    if len(words) < 2 or not _TOKEN.fullmatch(words[0]):
        return None
    method = text(words[0])
    last = _VERSION.fullmatch(words[-1])
    if last is None and words[-1][:5].upper() != b"HTTP/":
        # No version: HTTP/0.9 (RFC 1945 section 4.1), the target being what follows the method.
        return method, text(line.strip().split(None, 1)[1]), "0.9"
    # A target with spaces in it (servers that split on the first and last space accept it).
    target = line.strip()[len(words[0]) : -len(words[-1])].strip()
    if last is None:  # "HTTP/1." and the like: a version, if a broken one
        return method, text(target), text(words[-1][5:])
    return method, text(target), f"{last[1].decode()}.{last[2].decode()}"


def is_version(version: str) -> bool:
    """A well-formed version ("1.1", "0.9"), as ``request_line`` and ``status_line`` give."""
    return len(version) == 3 and version[0].isdigit() and version[1] == "." and version[2].isdigit()


def status_line(line: bytes) -> tuple[str, str, str] | None:
    m = _STATUS.fullmatch(line)
    if m is None:
        return None
    return f"{int(m[1])}.{int(m[2])}", m[3].decode(), text(m[4] or b"")


#: A well-formed field line (RFC 9112 section 5): name, colon, value without surrounding space.
_FIELD = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\r?$", re.M)


def header_block(
    block: bytes, max_headers: int, max_line: int, problems: list[str]
) -> list[tuple[str, str]]:
    """Header fields of the lines of a head after its start line. Well-formed heads (nearly
    all) take one regular expression over the whole block; others go line by line."""
    if not block:
        return []
    if len(block) <= max_line:
        txt = text(block)
        found = _FIELD.findall(txt)
        if len(found) == txt.count("\n") + 1 and len(found) <= max_headers:
            return found
    return header_fields(block.split(b"\n"), max_headers, max_line, problems)


def header_fields(
    lines: list[bytes], max_headers: int, max_line: int, problems: list[str]
) -> list[tuple[str, str]]:
    """Header fields of a head's lines (after the start line), in order, names as sent."""
    out: list[tuple[str, str]] = []
    for raw in lines:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line:
            continue
        if len(line) > max_line:
            add_problem(problems, "header_too_long")
            line = line[:max_line]
        if line[0] in b" \t":
            # Obsolete line folding (RFC 9112 section 5.2): a continuation of the previous field;
            # with no previous field, a field of its own (as some clients read it).
            add_problem(problems, "obsolete_line_folding")
            if out:
                name, previous = out[-1]
                out[-1] = (name, f"{previous} {text(line.strip())}")
                continue
            line = line.lstrip(b" \t")
        key, colon, value = line.partition(b":")
        if not colon:
            add_problem(problems, "header_without_colon")
            continue
        if key != key.rstrip(b" \t"):
            add_problem(problems, "space_before_colon")  # RFC 9112 section 5.1: must be rejected
            key = key.rstrip(b" \t")
        if not _TOKEN.fullmatch(key):
            add_problem(problems, "bad_header_name")
        if len(out) >= max_headers:
            add_problem(problems, "too_many_headers")
            break
        out.append((text(key), text(value.strip(b" \t"))))
    return out


def add_problem(problems: list[str], problem: str, limit: int = 32) -> None:
    """Name a problem once (a record lists each kind once, and only so many kinds)."""
    if problem not in problems and len(problems) < limit:
        problems.append(problem)
