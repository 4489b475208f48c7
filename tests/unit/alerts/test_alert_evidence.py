"""alerts.evidence: bounded references and how merging keeps the bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.evidence import MAX_EVIDENCE_FRAMES, MAX_EVIDENCE_IDS, Evidence


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_the_bounds_are_validated() -> None:
    with pytest.raises(ValidationError):
        Evidence(flow_ids=_ids("f", MAX_EVIDENCE_IDS + 1))
    with pytest.raises(ValidationError):
        Evidence(frames=list(range(MAX_EVIDENCE_FRAMES + 1)))


def test_bounded_keeps_the_first_references_and_says_it_dropped_some() -> None:
    evidence = Evidence.bounded(flow_ids=_ids("f", 120), frames=range(500), capture_file="a.pcap")
    assert evidence.flow_ids == _ids("f", MAX_EVIDENCE_IDS)
    assert evidence.frames == list(range(MAX_EVIDENCE_FRAMES))
    assert evidence.truncated
    assert not Evidence.bounded(flow_ids=_ids("f", 3)).truncated


def test_merge_dedupes_in_order_without_truncating_what_fits() -> None:
    a = Evidence(flow_ids=_ids("f", 30), community_ids=["1:a="])
    b = Evidence(flow_ids=_ids("f", 40)[10:], community_ids=["1:b=", "1:a="])
    merged = a.merge(b)
    assert merged.flow_ids == _ids("f", 40)
    assert merged.community_ids == ["1:a=", "1:b="]
    assert not merged.truncated


def test_merge_keeps_the_bound_and_sets_truncated() -> None:
    merged = Evidence(flow_ids=_ids("a", 30)).merge(Evidence(flow_ids=_ids("b", 30)))
    assert len(merged.flow_ids) == MAX_EVIDENCE_IDS
    assert merged.flow_ids[:30] == _ids("a", 30)
    assert merged.truncated
    # Once truncated, always truncated: the references are gone.
    assert merged.merge(Evidence()).truncated
    assert Evidence().merge(merged).truncated


def test_frames_of_another_capture_file_are_not_mixed_in() -> None:
    a = Evidence(capture_file="a.pcap", frames=[1, 2])
    same = a.merge(Evidence(capture_file="a.pcap", frames=[2, 3]))
    assert same.frames == [1, 2, 3]
    assert not same.truncated
    other = a.merge(Evidence(capture_file="b.pcap", frames=[9]))
    assert other.capture_file == "a.pcap"
    assert other.frames == [1, 2]
    assert other.truncated
    adopted = Evidence(flow_ids=["f"]).merge(Evidence(capture_file="b.pcap", frames=[9]))
    assert (adopted.capture_file, adopted.frames, adopted.truncated) == ("b.pcap", [9], False)
