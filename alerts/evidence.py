"""Evidence: bounded references from an alert to the flows, Community IDs and frames behind it.

A port sweep of ten thousand probes must stay one small alert, so every list has a bound and merging
keeps the oldest references (the start of an attack is what an analyst pivots from first) and says,
with ``truncated``, that more existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

#: Bounds on evidence references: enough to pivot to the flows and frames, never a whole scan.
MAX_EVIDENCE_IDS = 50
MAX_EVIDENCE_FRAMES = 200

_T = TypeVar("_T")


class Evidence(BaseModel):
    """References to the facts behind an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow_ids: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE_IDS)
    community_ids: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE_IDS)
    capture_file: str | None = None
    frames: list[int] = Field(default_factory=list, max_length=MAX_EVIDENCE_FRAMES)
    #: Some references were dropped to keep the bounds.
    truncated: bool = False

    @classmethod
    def bounded(
        cls,
        *,
        flow_ids: Sequence[str] = (),
        community_ids: Sequence[str] = (),
        capture_file: str | None = None,
        frames: Sequence[int] = (),
    ) -> Evidence:
        """Evidence from any number of references: keeps the first ones within the bounds."""
        return cls().merge(
            cls.model_construct(
                flow_ids=list(flow_ids),
                community_ids=list(community_ids),
                capture_file=capture_file,
                frames=list(frames),
                truncated=False,
            )
        )

    def merge(self, other: Evidence) -> Evidence:
        """Union of both, oldest references first; ``truncated`` when anything did not fit."""
        flows, cut_flows = _bounded_union(self.flow_ids, other.flow_ids, MAX_EVIDENCE_IDS)
        cids, cut_cids = _bounded_union(self.community_ids, other.community_ids, MAX_EVIDENCE_IDS)
        capture, frames, cut_frames = _merge_frames(self, other)
        truncated = self.truncated or other.truncated or cut_flows or cut_cids or cut_frames
        return Evidence(
            flow_ids=flows,
            community_ids=cids,
            capture_file=capture,
            frames=frames,
            truncated=truncated,
        )


def _bounded_union(first: list[_T], second: list[_T], bound: int) -> tuple[list[_T], bool]:
    merged = list(dict.fromkeys([*first, *second]))
    return merged[:bound], len(merged) > bound


def _merge_frames(first: Evidence, second: Evidence) -> tuple[str | None, list[int], bool]:
    """Capture file and frames of the merge, and whether frames were dropped."""
    if first.capture_file == second.capture_file:
        frames, cut = _bounded_union(first.frames, second.frames, MAX_EVIDENCE_FRAMES)
        return first.capture_file, frames, cut
    if first.capture_file is None and not first.frames:
        frames, cut = _bounded_union([], second.frames, MAX_EVIDENCE_FRAMES)
        return second.capture_file, frames, cut
    if second.capture_file is None and not second.frames:
        return first.capture_file, first.frames, False
    # Frame numbers only mean something within their capture file and one Evidence names one file,
    # so the second file and its frames cannot be kept.
    return first.capture_file, first.frames, True
