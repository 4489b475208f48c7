"""Budgets of TCP reassembly (Suricata calls the per-direction one the reassembly depth)."""

from __future__ import annotations

from pydantic import Field

from cityshield.settings import Section


class StreamSettings(Section):
    enabled: bool = True
    #: Bytes reassembled per direction of a connection; what follows is not inspected (counted).
    depth: int = Field(1024 * 1024, ge=0, le=1024 * 1024 * 1024)
    #: Bytes held in all streams at once (out-of-order segments and undelivered chunks).
    memory: int = Field(256 * 1024 * 1024, ge=1024 * 1024)
    #: Connections reassembled at once; more are counted and left alone.
    max_streams: int = Field(200_000, ge=16)
    #: Out-of-order bytes held per direction before the hole is given up as a gap.
    max_pending: int = Field(512 * 1024, ge=4096)
    #: Out-of-order segments held per direction (many tiny ones are an evasion and a DoS).
    max_pending_segments: int = Field(2048, ge=8)
    #: Reassembled bytes handed to content detectors (YARA) at a time, and how much of the end of
    #: one chunk starts the next so that a pattern across the boundary is still seen.
    chunk_bytes: int = Field(64 * 1024, ge=1024)
    chunk_overlap: int = Field(1024, ge=0)
