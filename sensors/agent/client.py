"""``CentralClient``: the sensor's side of ingest, heartbeats and evidence uploads (httpx).

Every answer is sorted into what the agent must do next: ``stored`` (drop it from the spool),
``retry`` (keep it; the service is down, busy (429) or slow (503): wait ``retry_after``) or
``rejected`` (the service will never take this batch: 400/409/413/422; keep a copy aside and go
on, or one bad batch would hold back everything behind it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from cityshield.errors import ConfigError
from sensors.agent.settings import AgentSettings

log = logging.getLogger(__name__)

Outcome = Literal["stored", "retry", "rejected"]
_REJECTED = {400, 404, 409, 413, 422}


@dataclass(frozen=True, slots=True)
class SendOutcome:
    outcome: Outcome
    status: int | None
    detail: str
    retry_after: float | None = None
    body: dict[str, Any] | None = None
    #: The decoded JSON answer, whatever its shape (``body`` when it is an object).
    data: Any = None


class CentralClient:
    def __init__(self, settings: AgentSettings, token: str) -> None:
        if not settings.central_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the central service's URL is {settings.central_url!r}; set an http(s) URL",
                where="agent.central_url",
            )
        self._http = httpx.Client(
            base_url=settings.central_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.request_timeout_seconds,
            verify=settings.ca_file or True,
        )

    def close(self) -> None:
        self._http.close()

    def ingest(self, gzipped_batch: bytes) -> SendOutcome:
        return self._send(
            "POST",
            "/api/v1/ingest",
            content=gzipped_batch,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    def heartbeat(self, stats: dict[str, Any]) -> SendOutcome:
        return self._send("POST", "/api/v1/sensors/heartbeat", json=stats)

    def aggregation(self) -> SendOutcome:
        """The per-rule aggregation keys analysts set centrally (``GET /api/v1/aggregation``)."""
        return self._send("GET", "/api/v1/aggregation")

    def upload_evidence(
        self, alert_id: str, pcap: bytes, status: str, detail: str, oldest_ns: int | None
    ) -> SendOutcome:
        params: dict[str, Any] = {"alert_id": alert_id, "status": status, "detail": detail[:500]}
        if oldest_ns is not None:
            params["oldest_ns"] = oldest_ns
        return self._send(
            "PUT",
            "/api/v1/evidence",
            content=pcap,
            params=params,
            headers={"Content-Type": "application/vnd.tcpdump.pcap"},
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> SendOutcome:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            return SendOutcome("retry", None, f"{type(exc).__name__}: {exc}")
        code = response.status_code
        if 200 <= code < 300:
            try:
                body = response.json()
            except ValueError:
                body = None
            as_dict = body if isinstance(body, dict) else None
            return SendOutcome("stored", code, "ok", body=as_dict, data=body)
        detail = _detail(response)
        if code in _REJECTED:
            return SendOutcome("rejected", code, detail)
        return SendOutcome("retry", code, detail, retry_after=_retry_after(response))


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and "detail" in body:
            return str(body["detail"])[:500]
    except ValueError:
        pass
    return response.text[:500]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), 3600.0) if value is not None else None
    except ValueError:
        return None
