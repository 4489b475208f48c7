"""alerts.stores.elasticsearch_spool and _deadletter: the disk spool and the dead-letter file, on
a real disk, without a cluster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.stores.elasticsearch_deadletter import DeadLetterFile, reason_of
from alerts.stores.elasticsearch_spool import DiskSpool
from cityshield.errors import StoreError


def test_batches_are_replayed_oldest_first_and_removed(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", 1 << 20)
    assert spool.put("flows", [{"n": 1}, {"n": 2}]) == 2
    assert spool.put("records:dns", [{"n": 3}]) == 1
    assert spool.put("alerts", iter([{"n": 4}])) == 1
    assert spool.pending() == 4
    sent: list[tuple[str, list[dict[str, Any]]]] = []
    assert spool.replay(lambda kind, docs: sent.append((kind, docs))) == 4
    assert sent == [
        ("flows", [{"n": 1}, {"n": 2}]),
        ("records:dns", [{"n": 3}]),
        ("alerts", [{"n": 4}]),
    ]
    assert spool.pending() == 0
    assert list((tmp_path / "spool").iterdir()) == []


def test_replay_stops_at_the_first_failure_and_keeps_the_rest(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, 1 << 20)
    for i in range(3):
        spool.put("flows", [{"batch": i}])
    sent: list[int] = []

    def send(kind: str, docs: list[dict[str, Any]]) -> None:
        if docs[0]["batch"] == 1:
            raise ConnectionError("down again")
        sent.append(docs[0]["batch"])

    with pytest.raises(ConnectionError):
        spool.replay(send)
    assert sent == [0]
    assert spool.pending() == 2
    spool.replay(lambda kind, docs: sent.append(docs[0]["batch"]))
    assert sent == [0, 1, 2]


def test_a_full_spool_refuses_the_batch_whole_and_keeps_what_it_has(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, 200)
    spool.put("flows", [{"n": "x" * 50}])
    with pytest.raises(StoreError, match="spool is full") as info:
        spool.put("flows", ({"n": "y" * 50} for _ in range(10)))
    assert info.value.where == str(tmp_path)
    assert spool.pending() == 1
    assert [p.suffix for p in tmp_path.iterdir()] == [".jsonl"]  # no half-written batch


def test_a_half_written_batch_left_by_a_crash_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "000000000007.tmp").write_bytes(b'{"n": 1}\n{"n"')
    spool = DiskSpool(tmp_path, 1 << 20)
    assert spool.pending() == 0
    assert list(tmp_path.iterdir()) == []
    spool.put("flows", [{"n": 2}])
    assert spool.pending() == 1


def test_the_dead_letter_file_keeps_reasons_within_its_budget(tmp_path: Path) -> None:
    path = tmp_path / "dead" / "letters.jsonl"
    dead = DeadLetterFile(path, 600)
    at = datetime(2024, 5, 1, tzinfo=UTC)
    cause = {"type": "illegal_argument_exception", "reason": "'x' is not an IP"}
    error = {"type": "mapper_parsing_exception", "reason": "failed to parse", "caused_by": cause}
    for i in range(5):
        dead.add(
            at=at, index="i", doc_id=f"d{i}", status=400, reason=reason_of(error), doc={"n": i}
        )
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert 1 <= len(lines) == dead.written < 5
    assert dead.written + dead.dropped == 5
    assert lines[0]["reason"] == (
        "mapper_parsing_exception: failed to parse "
        "(caused by illegal_argument_exception: 'x' is not an IP)"
    )
    assert (lines[0]["id"], lines[0]["status"], lines[0]["document"]) == ("d0", 400, {"n": 0})
