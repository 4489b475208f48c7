"""Analyst changes in Elasticsearch: read, check the version, write guarded by ``if_seq_no`` and
``if_primary_term``, and log the change.

The alert's ``version`` (analyst changes) decides whether a change may go ahead; the sequence
number makes "read, then write" atomic: if anything (a detector refresh, another analyst) wrote the
alert in between, the write fails with 409 and the change is worked out again from the new state.
So an edit based on an old version fails with ``ConflictError``, and edits that merge (adding a tag
or a comment without ``expected_version``) all land.

Elasticsearch has no transactions: the triage log entry is written after the alert, with the id
``<alert id>:<version>`` so that writing it again replaces it. Should that second write fail, the
error says that the change was applied but not logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import ConflictError as EsConflictError
from elasticsearch import Elasticsearch

from alerts.model import MAX_COMMENTS, Alert, CloseReason, Comment, TriageStatus, iso
from alerts.stores.base import TriageChange, check_version, new_comment
from alerts.stores.elasticsearch_indices import IndexNames
from alerts.stores.elasticsearch_query import alert_store_fields, micros
from alerts.triage import TriageError, apply_triage
from cityshield.clock import Clock
from cityshield.errors import NotFoundError, StoreError

#: Attempts before giving up on an alert that keeps changing under an edit.
_MAX_ATTEMPTS = 50
_LOG_PAGE = 1000


@dataclass(frozen=True)
class StoredAlert:
    index: str
    seq_no: int
    primary_term: int
    alert: Alert


class TriageWriter:
    def __init__(self, client: Elasticsearch, names: IndexNames, refresh: str, clock: Clock):
        self._es = client
        self._names = names
        self._refresh = refresh
        self._clock = clock

    def current(self, alert_id: str) -> StoredAlert:
        """The alert as stored now: the index from a search, the document from a real-time get
        (a search may be up to a refresh interval old; a get never is)."""
        found = self._es.search(
            index=self._names.alerts_pattern,
            query={"ids": {"values": [alert_id]}},
            source=False,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        hits = found["hits"]["hits"]
        if not hits:
            raise NotFoundError(f"no alert with id {alert_id!r}")
        doc = self._es.get(index=hits[0]["_index"], id=alert_id)
        try:
            alert = Alert.from_ecs(doc["_source"])
        except ValueError as exc:
            raise StoreError(f"a stored alert cannot be read: {exc}") from exc
        return StoredAlert(doc["_index"], doc["_seq_no"], doc["_primary_term"], alert)

    def update(
        self,
        alert_id: str,
        *,
        status: TriageStatus | None,
        assignee: str | None,
        close_reason: CloseReason | None,
        tags: list[str] | None,
        tags_add: list[str],
        tags_remove: list[str],
        expected_version: int | None,
        actor: str,
    ) -> Alert:
        if not actor.strip():
            raise TriageError("a triage change needs an actor", where=alert_id)
        for _ in range(_MAX_ATTEMPTS):
            stored = self.current(alert_id)
            alert = stored.alert
            check_version(alert, expected_version, alert_id)
            now = self._clock.now()
            triage = apply_triage(
                alert.triage,
                status=status,
                assignee=assignee,
                close_reason=close_reason,
                tags=tags,
                tags_add=tags_add,
                tags_remove=tags_remove,
                at=now,
            )
            if triage is alert.triage:
                return alert
            updated = alert.model_copy(update={"triage": triage, "version": alert.version + 1})
            if self._write(stored, updated):
                self._log(
                    updated,
                    actor,
                    now,
                    alert.triage.model_dump(mode="json"),
                    triage.model_dump(mode="json"),
                )
                return updated
        raise StoreError(f"alert {alert_id} kept changing; the triage change was not applied")

    def comment(
        self, alert_id: str, *, author: str, text: str, expected_version: int | None
    ) -> Comment:
        if not author.strip():
            raise TriageError("a comment needs an author", where=alert_id)
        if not text.strip():
            raise TriageError("a comment needs some text", where=alert_id)
        for _ in range(_MAX_ATTEMPTS):
            stored = self.current(alert_id)
            alert = stored.alert
            check_version(alert, expected_version, alert_id)
            if len(alert.comments) >= MAX_COMMENTS:
                raise TriageError(
                    f"the alert has {len(alert.comments)} comments, the most one alert keeps",
                    where=alert_id,
                )
            try:
                note = new_comment(alert, author=author, text=text, at=self._clock.now())
            except ValueError as exc:
                raise TriageError(f"not a valid comment: {exc}", where=alert_id) from None
            updated = alert.model_copy(
                update={"comments": [*alert.comments, note], "version": alert.version + 1}
            )
            if self._write(stored, updated):
                self._log(updated, author, note.at, {}, {"comment": note.model_dump(mode="json")})
                return note
        raise StoreError(f"alert {alert_id} kept changing; the comment was not added")

    def history(self, alert_id: str) -> list[TriageChange]:
        changes: list[TriageChange] = []
        after: list[Any] | None = None
        while True:
            found = self._es.search(
                index=self._names.triage_log,
                query={"term": {"alert_id": alert_id}},
                sort=[{"version": "asc"}],
                size=_LOG_PAGE,
                search_after=after,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            hits = found["hits"]["hits"]
            for hit in hits:
                row = hit["_source"]
                changes.append(
                    TriageChange(
                        alert_id=alert_id,
                        actor=row["actor"],
                        at=row["at"],
                        before=row["before"],
                        after=row["after"],
                    )
                )
            if len(hits) < _LOG_PAGE:
                return changes
            after = hits[-1]["sort"]

    def append(self, alert_id: str, changes: Sequence[TriageChange]) -> int:
        """Rows get the ids a change here would have had (``<alert id>:<n>``), so copying the
        same history again replaces rather than adds."""
        have = len(self.history(alert_id))
        for n, change in enumerate(changes[have:], start=have + 1):
            self._es.index(
                index=self._names.triage_log,
                id=f"{alert_id}:{n}",
                document=_log_row(
                    alert_id, change.actor, change.at, n, change.before, change.after
                ),
                refresh=self._refresh,
            )
        return max(0, len(changes) - have)

    def _write(self, stored: StoredAlert, updated: Alert) -> bool:
        """Write ``updated`` if the alert is still as read; False if someone wrote in between."""
        try:
            self._es.index(
                index=stored.index,
                id=updated.id,
                document=alert_store_fields(updated),
                if_seq_no=stored.seq_no,
                if_primary_term=stored.primary_term,
                refresh=self._refresh,
            )
        except EsConflictError:
            return False
        return True

    def _log(
        self, alert: Alert, actor: str, at: datetime, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        try:
            self._es.index(
                index=self._names.triage_log,
                id=f"{alert.id}:{alert.version}",
                document=_log_row(alert.id, actor, at, alert.version, before, after),
                refresh=self._refresh,
            )
        except Exception as exc:
            raise StoreError(
                f"the change to alert {alert.id} (version {alert.version}) was applied but its "
                f"triage log entry could not be written: {exc}"
            ) from exc


def _log_row(
    alert_id: str,
    actor: str,
    at: datetime,
    version: int,
    before: dict[str, Any],
    after: dict[str, Any],
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "actor": actor,
        "at": iso(at),
        "at_us": micros(at),
        "version": version,
        "before": before,
        "after": after,
    }
