"""``SecretHasher``: argon2id hashes of passwords and token secrets (argon2-cffi).

Both are hashed the same way: the issue asks for argon2 for tokens too. A token's check is then as
slow as a password's (tens of milliseconds), so ``TokenCache`` remembers which secrets verified.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Longer passwords are refused before hashing: argon2 over megabytes is a denial of service.
MAX_SECRET_LENGTH = 1024


class SecretHasher:
    def __init__(
        self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Checked against when a user does not exist, so that the answer takes as long as for a
        # user who does (no user enumeration by timing).
        self._dummy = self._hasher.hash("not a real password, never matches")

    def hash(self, secret: str) -> str:
        if len(secret) > MAX_SECRET_LENGTH:
            raise ValueError(f"a secret is at most {MAX_SECRET_LENGTH} characters")
        return self._hasher.hash(secret)

    def verify(self, hashed: str | None, secret: str) -> bool:
        if len(secret) > MAX_SECRET_LENGTH:
            return False
        try:
            return self._hasher.verify(hashed or self._dummy, secret) and hashed is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
