"""``notify.email`` (SMTP, STARTTLS when configured) and ``notify.webhook`` (HTTP POST of JSON,
signed with HMAC-SHA256 over ``<timestamp>.<body>``, the scheme of Stripe's and Slack's webhooks,
so receivers can refuse forgeries and replays). Neither is idempotent: a second run sends twice.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
from email.message import EmailMessage

import httpx
import orjson
from pydantic import Field, JsonValue, field_validator

from cityshield.errors import ActionError
from response.actions.base import Action, ActionContext, ActionParams, Result
from response.settings import SmtpSettings, WebhookTarget

SIGNATURE_HEADER = "X-CityShield-Signature"
TIMESTAMP_HEADER = "X-CityShield-Timestamp"
DELIVERY_HEADER = "X-CityShield-Delivery"
MAX_BODY = 256 * 1024


class EmailParams(ActionParams):
    to: list[str] = Field(min_length=1, max_length=50)
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(max_length=100_000)

    @field_validator("to", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            local, at, domain = address.partition("@")
            if not at or not local or "." not in domain or any(c in address for c in " \r\n<>,"):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.splitlines())  # no header injection through the subject


class EmailAction(Action):
    id = "notify.email"
    Params = EmailParams
    idempotent = False
    summary = "Send an e-mail through the SOC's SMTP relay"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def plan(self, params: EmailParams) -> str:
        s = self.settings
        return f"e-mail {', '.join(params.to)} via {s.host}:{s.port}: {params.subject!r}"

    def run(self, params: EmailParams, ctx: ActionContext) -> Result:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = ", ".join(params.to)
        message["Subject"] = params.subject
        message["X-CityShield-Run"] = f"{ctx.run_id}/{ctx.step_key}"
        message.set_content(params.body)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=ctx.timeout) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username and s.password is not None:
                    smtp.login(s.username, s.password.get_secret_value())
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ActionError(f"SMTP {s.host}:{s.port}: {exc}") from None
        return {
            "to": list[JsonValue](params.to),
            "refused": list[JsonValue](sorted(refused)),
            "message_id": message.get("Message-ID"),
        }


class WebhookParams(ActionParams):
    #: A target named in ``[response.webhooks]`` (its URL and key stay in the settings).
    target: str = Field(min_length=1, max_length=64)
    payload: dict[str, JsonValue] = Field(default_factory=dict)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return (
        "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


class WebhookAction(Action):
    id = "notify.webhook"
    Params = WebhookParams
    idempotent = False
    summary = "POST a signed JSON message to a configured webhook (chat, ticketing, SIRT)"

    def __init__(self, targets: dict[str, WebhookTarget]) -> None:
        self.targets = targets

    def _target(self, params: WebhookParams) -> WebhookTarget:
        target = self.targets.get(params.target)
        if target is None:
            known = ", ".join(sorted(self.targets)) or "none configured"
            raise ActionError(f"no webhook target {params.target!r} ({known})")
        return target

    def plan(self, params: WebhookParams) -> str:
        target = self._target(params)  # a dry run shows a target missing from the settings
        return f"POST a signed message to webhook {params.target!r} ({target.url})"

    def run(self, params: WebhookParams, ctx: ActionContext) -> Result:
        target = self._target(params)
        body = orjson.dumps(
            {"run": ctx.run_id, "step": ctx.step_key, "playbook": ctx.playbook_id, **params.payload}
        )
        if len(body) > MAX_BODY:
            raise ActionError(f"payload larger than {MAX_BODY} bytes")
        timestamp = str(int(ctx.clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(target.secret.get_secret_value().encode(), timestamp, body),
            DELIVERY_HEADER: f"{ctx.run_id}/{ctx.step_key}",  # receivers may drop repeats
        }
        try:
            response = httpx.post(
                target.url,
                content=body,
                headers=headers,
                timeout=ctx.timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise ActionError(f"webhook {params.target!r}: {exc}") from None
        if response.status_code >= 300:
            raise ActionError(f"webhook {params.target!r} answered {response.status_code}")
        return {"target": params.target, "status": response.status_code}
