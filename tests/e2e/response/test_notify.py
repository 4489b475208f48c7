"""``notify.email`` to a real SMTP server (aiosmtpd on loopback) and ``notify.webhook`` to a real
HTTP server that checks the HMAC signature and refuses forgeries, driven by a playbook run."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from cityshield.clock import FixedClock
from response.models import RunState, StepState
from response.schema import Playbook
from response.settings import ResponseSettings
from response.store import RunStore
from tests.unit.response.conftest import make_service, sample_alert

pytestmark = pytest.mark.e2e
SECRET = b"webhook key of the SOC chat"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(list(envelope.rcpt_tos))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    port = free_port()
    server = Controller(box, hostname="127.0.0.1", port=port)
    server.start()
    try:
        yield port, box
    finally:
        server.stop()


class Receiver(BaseHTTPRequestHandler):
    """Checks ``X-CityShield-Signature`` = HMAC-SHA256(key, timestamp + "." + body)."""

    received: list[dict[str, Any]] = []
    refused: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers["X-CityShield-Timestamp"]
        expected = (
            "sha256=" + hmac.new(SECRET, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, self.headers.get("X-CityShield-Signature", "")):
            self.refused.append(self.path)
            self.send_response(401)
        else:
            self.received.append(
                {
                    "path": self.path,
                    "delivery": self.headers["X-CityShield-Delivery"],
                    "body": json.loads(body),
                }
            )
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[str]:
    Receiver.received, Receiver.refused = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


PLAYBOOK = {
    "id": "tell",
    "name": "tell people",
    "steps": [
        {
            "id": "mail",
            "action": "notify.email",
            "with": {
                "to": ["soc@city.example", "{{ alert.data.owner }}"],
                "subject": "[CityShield] {{ alert.rule.name }}\r\nBcc: evil@example.com",
                "body": "Source {{ alert.source.ip }}\nCase {{ case.id }}",
            },
        },
        {
            "id": "chat",
            "action": "notify.webhook",
            "with": {
                "target": "soc-chat",
                "payload": {"text": "{{ alert.message }}", "ips": "{{ observables.ip }}"},
            },
        },
        {
            "id": "forged",
            "action": "notify.webhook",
            "on_failure": "continue",
            "with": {"target": "wrong-key", "payload": {"text": "x"}},
        },
    ],
}


def test_email_and_signed_webhooks(
    smtp: tuple[int, Mailbox], webhook: str, run_store: RunStore, clock: FixedClock, tmp_path: Path
) -> None:
    port, box = smtp
    settings = ResponseSettings(
        smtp={"host": "127.0.0.1", "port": port, "sender": "cityshield@city.example"},
        webhooks={
            "soc-chat": {"url": f"{webhook}/chat", "secret": SECRET.decode()},
            "wrong-key": {"url": f"{webhook}/forged", "secret": "not the key"},
        },
    )
    service = make_service(run_store, clock, [Playbook.model_validate(PLAYBOOK)], settings=settings)
    run_id = service.start(
        "tell", actor="ana", role="responder", alert=sample_alert(), case_id="c42"
    )
    assert service.engine.advance(run_id) is RunState.SUCCEEDED

    [message] = box.messages
    assert box.envelopes == [["soc@city.example", "owner@city.example"]]
    assert (
        message["Subject"].strip()
        == "[CityShield] CityShield_Webshell_PHP_Eval_Request Bcc: evil@example.com"
    )
    assert message["Bcc"] is None  # the template could not add a header
    assert message["X-CityShield-Run"] == f"{run_id}/mail"
    assert message.get_content().splitlines() == ["Source 203.0.113.66", "Case c42"]

    [delivery] = Receiver.received
    assert delivery["path"] == "/chat" and delivery["delivery"] == f"{run_id}/chat"
    assert delivery["body"]["text"] == "PHP webshell called on portal.city.example"
    assert delivery["body"]["ips"] == ["203.0.113.66", "198.51.100.10"]
    assert delivery["body"]["run"] == run_id
    assert Receiver.refused == ["/forged"]
    steps = {s.key: s for s in service.detail(run_id).steps}
    assert steps["forged"].state is StepState.FAILED and "answered 401" in (
        steps["forged"].error or ""
    )
    assert steps["mail"].result == {
        "to": ["soc@city.example", "owner@city.example"],
        "refused": [],
        "message_id": None,
    }


def test_an_unreachable_smtp_server_is_a_clear_failure(
    run_store: RunStore, clock: FixedClock
) -> None:
    settings = ResponseSettings(smtp={"host": "127.0.0.1", "port": free_port()})
    pb = Playbook.model_validate({"id": "tell", "name": "n", "steps": [PLAYBOOK["steps"][0]]})  # type: ignore[index]
    service = make_service(run_store, clock, [pb], settings=settings)
    run_id = service.start("tell", actor="ana", role="responder", alert=sample_alert())
    assert service.engine.advance(run_id) is RunState.FAILED
    assert "SMTP 127.0.0.1" in (service.detail(run_id).steps[0].error or "")


class Api(BaseHTTPRequestHandler):
    """An allow-listed API (answers JSON) that redirects /elsewhere to a host not on the list."""

    seen: list[tuple[str, str, bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Api.seen.append((self.command, self.path, self.rfile.read(length)))
        if self.path == "/elsewhere":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.2:9/stolen")
            self.end_headers()
            return
        body = json.dumps({"ticket": 17, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        return None


def test_http_request_to_an_allowed_host(run_store: RunStore, clock: FixedClock) -> None:
    Api.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://localhost:{server.server_address[1]}"
    try:
        settings = ResponseSettings(http={"allowed_hosts": ["localhost"]})
        pb = Playbook.model_validate(
            {
                "id": "api",
                "name": "call",
                "steps": [
                    {
                        "id": "ticket",
                        "action": "http.request",
                        "with": {
                            "method": "POST",
                            "url": f"{base}/tickets",
                            "bearer_token": "s3cret",
                            "json": {"ip": "{{ alert.source.ip }}"},
                        },
                    },
                    {
                        "id": "redirected",
                        "action": "http.request",
                        "with": {"url": f"{base}/elsewhere"},
                    },
                    {
                        "id": "off-list",
                        "action": "http.request",
                        "on_failure": "continue",
                        "with": {"url": "http://127.0.0.1:9/nope"},
                    },
                ],
            }
        )
        service = make_service(run_store, clock, [pb], settings=settings)
        run_id = service.start("api", actor="ana", role="responder", alert=sample_alert())
        assert service.engine.advance(run_id) is RunState.SUCCEEDED
    finally:
        server.shutdown()
        server.server_close()
    steps = {s.key: s for s in service.detail(run_id).steps}
    assert steps["ticket"].result == {
        "status": 201,
        "body": '{"ticket": 17, "auth": "Bearer s3cret"}',
    }
    assert steps["ticket"].params["bearer_token"] == "**********"  # type: ignore[index,call-overload]
    assert Api.seen[0] == ("POST", "/tickets", b'{"ip":"203.0.113.66"}')
    assert steps["redirected"].result == {"status": 302, "body": ""}  # not followed
    assert [p for _, p, _ in Api.seen] == ["/tickets", "/elsewhere"]
    assert "not on the allow-list" in (steps["off-list"].error or "")
