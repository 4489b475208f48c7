"""Token strings: ``cs_<id>.<secret>``. The id finds the row; only the secret's hash is stored.

The prefix makes a leaked token easy to spot by secret scanners (as GitHub's ``ghp_`` does).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

PREFIX = "cs_"
_TOKEN = re.compile(r"cs_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class TokenParts:
    token_id: str
    secret: str

    @property
    def plaintext(self) -> str:
        return f"{PREFIX}{self.token_id}.{self.secret}"

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.secret.encode()).digest()


def new_token() -> TokenParts:
    """A fresh token: a 64-bit public id and a 256-bit secret."""
    return TokenParts(secrets.token_hex(8), secrets.token_urlsafe(32))


def parse_token(text: str) -> TokenParts | None:
    match = _TOKEN.fullmatch(text)
    return TokenParts(match[1], match[2]) if match else None


class TokenCache:
    """Which token secrets argon2 has verified in this process, as SHA-256 digests (never the
    secrets). A hit skips argon2; revocation and expiry are still checked in the database on every
    request, so a revoked token stops working at once in every worker."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._digests: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def verified(self, parts: TokenParts) -> bool:
        with self._lock:
            digest = self._digests.get(parts.token_id)
            if digest is None:
                return False
            self._digests.move_to_end(parts.token_id)
        return secrets.compare_digest(digest, parts.digest)

    def remember(self, parts: TokenParts) -> None:
        with self._lock:
            self._digests[parts.token_id] = parts.digest
            self._digests.move_to_end(parts.token_id)
            while len(self._digests) > self._size:
                self._digests.popitem(last=False)

    def forget(self, token_id: str) -> None:
        with self._lock:
            self._digests.pop(token_id, None)
