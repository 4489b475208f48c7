"""Console aggregations: what ``AlertStore.aggregate_alerts`` groups by and the buckets it returns.

Every store answers the same questions with the same keys, so that a console chart looks the same
on SQLite and on Elasticsearch: rules by id, endpoints by address (an IPv4-mapped IPv6 address as
its IPv4 form, as Elasticsearch's ``ip`` type keeps it), severities by name, time buckets by the
UTC start of a fixed interval counted from the epoch (Elasticsearch's ``fixed_interval``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cityshield.errors import StoreError

AggregateBy = Literal["rule", "source", "destination", "severity", "time"]

#: Term buckets one call may ask for; time buckets one call may return.
MAX_TERM_BUCKETS = 1000
MAX_TIME_BUCKETS = 2000
DEFAULT_INTERVAL = timedelta(hours=1)


class AlertBucket(BaseModel):
    """One group of alerts: ``key`` is a rule id, an address, a severity name, or (by time) the
    ISO 8601 start of the bucket. Alerts are counted by their ``first_seen``."""

    model_config = ConfigDict(frozen=True)

    key: str
    #: Stored alerts in the group.
    alerts: int
    #: The repeats they stand for (the sum of their ``count``).
    events: int


def check_interval(interval: timedelta | None) -> int:
    """The time bucket width in whole seconds (Elasticsearch's ``fixed_interval`` unit)."""
    interval = DEFAULT_INTERVAL if interval is None else interval
    seconds = interval.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise StoreError(f"a time bucket interval is whole seconds, at least 1; got {interval}")
    return int(seconds)


def check_size(size: int) -> int:
    if not 1 <= size <= MAX_TERM_BUCKETS:
        raise StoreError(f"size is between 1 and {MAX_TERM_BUCKETS}; got {size}")
    return size


def check_time_span(first: datetime, last: datetime, interval_s: int) -> None:
    """Refuse a histogram of more than ``MAX_TIME_BUCKETS`` buckets before building it."""
    buckets = (bucket_start(last, interval_s) - bucket_start(first, interval_s)) // timedelta(
        seconds=interval_s
    ) + 1
    if buckets > MAX_TIME_BUCKETS:
        raise StoreError(
            f"the matching alerts span {buckets} buckets of {interval_s} s; at most "
            f"{MAX_TIME_BUCKETS}: choose a wider interval or a shorter time range"
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_start(at: datetime, interval_s: int) -> datetime:
    """The start of the fixed-interval bucket ``at`` falls in (counted from the epoch)."""
    seconds = (at - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=seconds - seconds % interval_s)
