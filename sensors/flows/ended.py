"""Ended flows, many at a time: what the flow table hands to detectors, stores and writers."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from cityshield.ids import community_ids, record_id_state
from sensors.events import FlowEnded
from sensors.flows.arrays import Columns, empty_columns
from sensors.flows.state import conn_states, histories


class EndReason(IntEnum):
    IDLE_TIMEOUT = 1
    TCP_CLOSED = 2
    ACTIVE_TIMEOUT = 3
    EVICTED = 4
    END_OF_CAPTURE = 5

    @property
    def label(self) -> str:
        return self.name.lower()


TRANSPORT_NAMES = {
    1: "icmp",
    6: "tcp",
    17: "udp",
    58: "ipv6-icmp",
    132: "sctp",
    47: "gre",
    50: "esp",
}


def ip_text(hi: int, lo: int, v6: bool) -> str:
    if not v6:
        return socket.inet_ntop(socket.AF_INET, (lo & 0xFFFFFFFF).to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, hi.to_bytes(8, "big") + lo.to_bytes(8, "big"))


@dataclass(slots=True)
class FlowBatch:
    """Ended flows as columns (see ``sensors.flows.arrays.FIELDS``), ordered by start time.

    Direction-dependent views (``orig_*``/``resp_*``) put the originator first. Derived values
    (conn_state, Community ID, flow ids) are computed once, on first use.
    """

    cols: Columns
    end_reason: npt.NDArray[np.uint8]
    captures: list[str]
    observer: str = ""
    _cache: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def empty(captures: list[str] | None = None, observer: str = "") -> FlowBatch:
        return FlowBatch(empty_columns(0), np.zeros(0, np.uint8), captures or [], observer)

    def __len__(self) -> int:
        return len(self.end_reason)

    @staticmethod
    def concat(parts: list[FlowBatch]) -> FlowBatch:
        parts = [p for p in parts if len(p)]
        if not parts:
            return FlowBatch.empty()
        if len(parts) == 1:
            out = parts[0]
        else:
            cols = {k: np.concatenate([p.cols[k] for p in parts]) for k in parts[0].cols}
            reason = np.concatenate([p.end_reason for p in parts])
            out = FlowBatch(cols, reason, parts[-1].captures, parts[-1].observer)
        order = np.lexsort((out.cols["first_frame"], out.cols["start_ns"]))
        if len(order) > 1 and not (order[1:] > order[:-1]).all():
            out = out.take(order)
        return out

    def take(self, idx: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> FlowBatch:
        return FlowBatch(
            {k: v[idx] for k, v in self.cols.items()},
            self.end_reason[idx],
            self.captures,
            self.observer,
        )

    # -- direction-dependent views --------------------------------------------------------------
    def _pick(self, a: str, b: str) -> npt.NDArray[Any]:
        oa = self.cols["orig_is_a"]
        return np.where(oa, self.cols[a], self.cols[b])

    @property
    def orig_hi(self) -> npt.NDArray[np.uint64]:
        return self._pick("a_hi", "b_hi")

    @property
    def orig_lo(self) -> npt.NDArray[np.uint64]:
        return self._pick("a_lo", "b_lo")

    @property
    def resp_hi(self) -> npt.NDArray[np.uint64]:
        return self._pick("b_hi", "a_hi")

    @property
    def resp_lo(self) -> npt.NDArray[np.uint64]:
        return self._pick("b_lo", "a_lo")

    @property
    def orig_port(self) -> npt.NDArray[np.uint16]:
        return self._pick("pa", "pb")

    @property
    def resp_port(self) -> npt.NDArray[np.uint16]:
        return self._pick("pb", "pa")

    # -- derived values, computed once ---------------------------------------------------------
    def _cached(self, name: str, make: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def conn_states(self) -> list[str]:
        return self._cached("conn_state", lambda: conn_states(self.cols))  # type: ignore[no-any-return]

    def histories(self) -> list[str]:
        return self._cached("history", lambda: histories(self.cols))  # type: ignore[no-any-return]

    def community_ids(self) -> list[str]:
        return self._cached(  # type: ignore[no-any-return]
            "community_id",
            lambda: community_ids(
                self.orig_hi, self.orig_lo, self.resp_hi, self.resp_lo, self.cols["v6"],
                self.cols["proto"], self.orig_port, self.resp_port,
            ),
        )  # fmt: skip

    def flow_ids(self) -> list[str]:
        """Deterministic ids: the same flow of the same capture gets the same id on every run."""

        def make() -> list[str]:
            cids = self.community_ids()
            starts = self.cols["start_ns"].tolist()
            vlans = self.cols["vlan"].tolist()
            # record_id(observer, cid, start, vlan), with the observer hashed once per batch.
            base = record_id_state(self.observer)
            out = []
            for c, s, v in zip(cids, starts, vlans, strict=True):
                h = base.copy()
                h.update(f"{c!r}\x1f{s!r}\x1f{v!r}\x1f".encode())
                out.append(h.hexdigest())
            return out

        return self._cached("flow_id", make)  # type: ignore[no-any-return]

    def orig_ips(self) -> list[str]:
        return self._cached("orig_ip", lambda: self._ips(self.orig_hi, self.orig_lo))  # type: ignore[no-any-return]

    def resp_ips(self) -> list[str]:
        return self._cached("resp_ip", lambda: self._ips(self.resp_hi, self.resp_lo))  # type: ignore[no-any-return]

    def rows(self) -> list[FlowEnded]:
        """One ``FlowEnded`` object per flow, for code that prefers rows to columns."""
        from sensors.flows.ecs import flow_rows  # the row builder lives with the other views

        return flow_rows(self)

    def _ips(self, hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> list[str]:
        return [
            ip_text(h, lo_, v6)
            for h, lo_, v6 in zip(hi.tolist(), lo.tolist(), self.cols["v6"].tolist(), strict=True)
        ]
