"""Contract: triage, tags, comments and optimistic concurrency behave alike in every store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from alerts.model import MAX_COMMENT_LENGTH, MAX_TAGS, Alert, CloseReason, TriageStatus
from alerts.stores import AlertQuery, AlertStore, TriageChange
from alerts.triage import TriageError
from cityshield.clock import FixedClock
from cityshield.errors import ConflictError, NotFoundError

AlertFactory = Callable[..., Alert]


@pytest.fixture
def alert(store: AlertStore, make_alert: AlertFactory) -> Alert:
    raised = make_alert()
    store.upsert_alerts([raised])
    return raised


def test_triage_changes_are_applied_versioned_and_logged(
    store: AlertStore, alert: Alert, clock: FixedClock
) -> None:
    acked = store.update_triage(
        alert.id, status=TriageStatus.ACKNOWLEDGED, assignee="ana", actor="ana"
    )
    assert (acked.triage.status, acked.triage.assignee, acked.version) == (
        TriageStatus.ACKNOWLEDGED,
        "ana",
        1,
    )
    assert acked.triage.updated_at == clock.now()
    assert store.get_alert(alert.id) == acked
    # A change to nothing is no change: no new version, no log row.
    assert store.update_triage(alert.id, assignee="ana", actor="bo") == acked
    clock.advance(timedelta(minutes=1))
    closed = store.update_triage(
        alert.id,
        status=TriageStatus.CLOSED,
        close_reason=CloseReason.FALSE_POSITIVE,
        expected_version=1,
        actor="bo",
    )
    assert closed.version == 2
    history = store.triage_history(alert.id)
    assert [(h.actor, h.after["status"]) for h in history] == [
        ("ana", "acknowledged"),
        ("bo", "closed"),
    ]
    assert history[1].before["status"] == "acknowledged"
    assert history[1].at == clock.now()
    assert store.stats()["triage_changes"] == 2
    assert store.stats()["alerts_closed"] == 1


def test_refused_triage_changes_change_nothing(store: AlertStore, alert: Alert) -> None:
    with pytest.raises(TriageError, match="close reason"):
        store.update_triage(alert.id, status=TriageStatus.CLOSED, actor="ana")
    with pytest.raises(TriageError, match="actor"):
        store.update_triage(alert.id, status=TriageStatus.ACKNOWLEDGED, actor=" ")
    with pytest.raises(NotFoundError):
        store.update_triage("missing", status=TriageStatus.ACKNOWLEDGED, actor="ana")
    assert store.get_alert(alert.id) == alert
    assert store.triage_history(alert.id) == []


def test_tags_are_replaced_or_edited_and_found(store: AlertStore, make_alert: AlertFactory) -> None:
    one, two = make_alert(src="10.0.0.1"), make_alert(src="10.0.0.2")
    store.upsert_alerts([one, two])
    tagged = store.update_triage(one.id, tags=["phishing", " case:4711 ", "phishing"], actor="ana")
    assert tagged.triage.tags == ["case:4711", "phishing"]
    store.update_triage(two.id, tags_add=["phishing", "vip"], actor="bo")
    edited = store.update_triage(two.id, tags_add=["x"], tags_remove=["vip"], actor="bo")
    assert edited.triage.tags == ["phishing", "x"]
    assert edited.version == 2
    assert {a.id: a.triage.tags for a in store.query_alerts(AlertQuery()).items} == {
        one.id: ["case:4711", "phishing"],
        two.id: ["phishing", "x"],
    }
    assert ids_tagged(store, ["phishing"]) == {one.id, two.id}
    assert ids_tagged(store, ["x", "case:4711"]) == {one.id, two.id}
    assert ids_tagged(store, ["case:4711"]) == {one.id}
    assert ids_tagged(store, ["vip"]) == set()
    assert ids_tagged(store, []) == set()
    cleared = store.update_triage(one.id, tags=[], actor="ana")
    assert cleared.triage.tags == []
    assert ids_tagged(store, ["case:4711"]) == set()


def ids_tagged(store: AlertStore, tags: list[str]) -> set[str]:
    query = AlertQuery(tags=tags)
    assert store.count_alerts(query) == len(store.query_alerts(query).items)
    return {a.id for a in store.query_alerts(query).items}


def test_bad_tags_are_refused_with_the_tag_named(store: AlertStore, alert: Alert) -> None:
    with pytest.raises(TriageError, match="not both"):
        store.update_triage(alert.id, tags=["a"], tags_add=["b"], actor="ana")
    with pytest.raises(TriageError, match="'two words'"):
        store.update_triage(alert.id, tags_add=["ok", "two words"], actor="ana")
    with pytest.raises(TriageError, match="tags"):
        store.update_triage(alert.id, tags=[f"t{i}" for i in range(MAX_TAGS + 1)], actor="ana")
    with pytest.raises(TriageError):
        store.update_triage(alert.id, tags=["x" * 65], actor="ana")
    assert store.get_alert(alert.id) == alert


def test_comments_come_with_the_alert_in_order(
    store: AlertStore, alert: Alert, clock: FixedClock
) -> None:
    first = store.add_comment(alert.id, author="ana", text="  looks like the March scan  ")
    clock.advance(timedelta(seconds=5))
    second = store.add_comment(
        alert.id, author="bo", text="blocked at the edge", expected_version=1
    )
    assert first.text == "looks like the March scan"
    assert (first.author, second.author) == ("ana", "bo")
    assert second.at - first.at == timedelta(seconds=5)
    assert first.id != second.id
    stored = store.get_alert(alert.id)
    assert stored.comments == [first, second]
    assert stored.version == 2
    (listed,) = store.query_alerts(AlertQuery()).items
    assert listed.comments == [first, second]
    log = store.triage_history(alert.id)
    assert [(h.actor, h.before, h.after["comment"]["text"]) for h in log] == [
        ("ana", {}, first.text),
        ("bo", {}, second.text),
    ]


def test_bad_comments_are_refused(store: AlertStore, alert: Alert) -> None:
    with pytest.raises(TriageError, match="text"):
        store.add_comment(alert.id, author="ana", text=" \n ")
    with pytest.raises(TriageError, match="author"):
        store.add_comment(alert.id, author="", text="hi")
    with pytest.raises(TriageError):
        store.add_comment(alert.id, author="ana", text="x" * (MAX_COMMENT_LENGTH + 1))
    with pytest.raises(NotFoundError):
        store.add_comment("missing", author="ana", text="hi")
    assert store.get_alert(alert.id) == alert


def test_a_change_based_on_an_old_version_is_a_conflict(store: AlertStore, alert: Alert) -> None:
    # Two analysts read version 0; the first one's change wins, the second is told.
    store.update_triage(alert.id, assignee="ana", expected_version=0, actor="ana")
    with pytest.raises(ConflictError, match="version 1, not 0") as info:
        store.update_triage(alert.id, assignee="bo", expected_version=0, actor="bo")
    assert info.value.current_version == 1
    with pytest.raises(ConflictError):
        store.add_comment(alert.id, author="bo", text="mine", expected_version=0)
    stored = store.get_alert(alert.id)
    assert (stored.triage.assignee, stored.comments, stored.version) == ("ana", [], 1)
    assert len(store.triage_history(alert.id)) == 1


def test_concurrent_edits_of_one_version_let_exactly_one_through(
    store: AlertStore, alert: Alert
) -> None:
    outcomes = _race(
        8,
        lambda i: store.update_triage(
            alert.id, tags_add=[f"analyst-{i}"], expected_version=0, actor=f"a{i}"
        ),
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Alert"] + ["ConflictError"] * 7
    stored = store.get_alert(alert.id)
    assert stored.version == 1
    assert len(stored.triage.tags) == 1


def test_concurrent_edits_without_a_version_all_land(store: AlertStore, alert: Alert) -> None:
    # tags_add and comments are merges: none may be lost, whatever the interleaving.
    outcomes = _race(
        6,
        lambda i: (
            store.update_triage(alert.id, tags_add=[f"t{i}"], actor=f"a{i}")
            if i % 2
            else store.add_comment(alert.id, author=f"a{i}", text=f"note {i}")
        ),
    )
    assert not [o for o in outcomes if isinstance(o, BaseException)]
    stored = store.get_alert(alert.id)
    assert stored.triage.tags == ["t1", "t3", "t5"]
    assert sorted(c.text for c in stored.comments) == ["note 0", "note 2", "note 4"]
    assert stored.version == 6
    assert len(store.triage_history(alert.id)) == 6


def _race(n: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` for i in range(n) on n threads released at once; results or errors."""
    barrier = threading.Barrier(n)
    outcomes: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = work(i)
        except Exception as exc:  # collected and asserted on by the caller
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_a_copied_triage_history_is_added_once(
    store: AlertStore, alert: Alert, clock: FixedClock
) -> None:
    history = [
        TriageChange(
            alert_id=alert.id,
            actor=f"a{i}",
            at=clock.now() + timedelta(minutes=i),
            before={"n": i},
            after={"n": i + 1},
        )
        for i in range(3)
    ]
    assert store.append_triage_log(alert.id, history[:2]) == 2
    assert store.append_triage_log(alert.id, history) == 1
    assert store.append_triage_log(alert.id, history) == 0
    assert store.triage_history(alert.id) == history
