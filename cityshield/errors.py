"""The error tree. Each class is named for who must react to it.

Errors about content (captures, rule files, playbooks) carry a location so that a person can find
the problem: the file and, where it applies, the frame, byte offset, line or step.
"""

from __future__ import annotations


class CityShieldError(Exception):
    """Base of every error CityShield raises on purpose."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(CityShieldError):
    """Bad configuration: stop at start-up and name the file and key."""


class DecodeError(CityShieldError):
    """Content that cannot be decoded (a packet, a record, a certificate)."""


class CaptureError(DecodeError):
    """A capture that cannot be read: missing, corrupt, or of an unknown link type."""


class DetectorError(CityShieldError):
    """A detector failed or was configured wrongly."""


class ActionError(CityShieldError):
    """A response action failed."""


class StoreError(CityShieldError):
    """The alert or flow store failed or refused a request."""


class NotFoundError(StoreError):
    """A record asked for by id does not exist."""


class ConflictError(StoreError):
    """A change based on an old version of a record: someone else changed it first.

    Nothing was changed; re-read the record (``current_version``) and decide again."""

    def __init__(
        self, message: str, *, where: str | None = None, current_version: int | None = None
    ) -> None:
        super().__init__(message, where=where)
        self.current_version = current_version


class BudgetExceeded(CityShieldError):
    """A named resource budget was exceeded. Sensors count these instead of raising them."""
