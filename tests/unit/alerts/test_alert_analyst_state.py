"""alerts.model and alerts.triage: tags, comments and the analyst version in the stored format."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from alerts.model import Alert, Comment, Triage, TriageStatus
from alerts.triage import TriageError, apply_triage

AlertFactory = Callable[..., Alert]
AT = datetime(2024, 6, 1, tzinfo=UTC)


def test_analyst_state_round_trips_through_ecs(make_alert: AlertFactory) -> None:
    alert = make_alert().model_copy(
        update={
            "triage": Triage(status=TriageStatus.ACKNOWLEDGED, tags=["b", "a"], updated_at=AT),
            "comments": [Comment(id="c1", author="ana", text="hi", at=AT)],
            "version": 3,
        }
    )
    doc = json.loads(json.dumps(alert.to_ecs()))
    assert doc["tags"] == ["a", "b"]  # ECS top-level tags, for Kibana filters
    assert doc["cityshield"]["alert"]["version"] == 3
    assert doc["cityshield"]["alert"]["comments"][0]["at"] == "2024-06-01T00:00:00.000000Z"
    assert Alert.from_ecs(doc) == alert


def test_an_untouched_alert_keeps_its_document_shape(make_alert: AlertFactory) -> None:
    doc = make_alert().to_ecs()
    assert "tags" not in doc
    assert {"version", "comments"}.isdisjoint(doc["cityshield"]["alert"])
    assert Alert.from_ecs(doc).version == 0


def test_tag_edits() -> None:
    tagged = apply_triage(Triage(), tags_add=["x", "y"], at=AT)
    assert tagged.tags == ["x", "y"]
    assert tagged.updated_at == AT
    assert apply_triage(tagged, tags_remove=["x"], tags_add=["z"], at=AT).tags == ["y", "z"]
    assert apply_triage(tagged, tags=["y", "x"], at=AT) is tagged  # the same set: no change
    assert apply_triage(tagged, tags_remove=["absent"], at=AT) is tagged
    with pytest.raises(TriageError, match=r"tags\.0.*'a b'"):
        apply_triage(Triage(), tags=["a b"], at=AT)
    with pytest.raises(TriageError, match="not both"):
        apply_triage(Triage(), tags=[], tags_remove=["x"], at=AT)
