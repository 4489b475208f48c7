"""The action registry: the built-in action classes (explicit list), and instances made with
their dependencies. A duplicate id stops start-up with a clear error."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from alerts.stores.base import AlertStore
from cityshield.errors import ConfigError
from response.actions.base import Action
from response.actions.control import HttpRequestAction, WaitAction
from response.actions.dns import SinkholeDomainAction
from response.actions.evidence import CollectEvidenceAction
from response.actions.firewall import BlockIpAction, Nftables, UnblockIpAction
from response.actions.notify import EmailAction, WebhookAction
from response.actions.pki import CertificateRevoker, RevokeCertificateAction
from response.actions.records import (
    AlertUpdateAction,
    CaseCreateAction,
    CaseDesk,
    CaseUpdateAction,
)
from response.settings import ResponseSettings

BUILT_INS: tuple[type[Action], ...] = (
    BlockIpAction,
    UnblockIpAction,
    SinkholeDomainAction,
    RevokeCertificateAction,
    EmailAction,
    WebhookAction,
    CollectEvidenceAction,
    CaseCreateAction,
    CaseUpdateAction,
    AlertUpdateAction,
    WaitAction,
    HttpRequestAction,
)


def action_types(extra: Iterable[type[Action]] = ()) -> dict[str, type[Action]]:
    """Action classes by id (what validation needs: parameters, idempotence)."""
    found: dict[str, type[Action]] = {}
    for cls in (*BUILT_INS, *extra):
        if cls.id in found:
            raise ConfigError(f"two actions have the id {cls.id!r}", where=cls.__module__)
        found[cls.id] = cls
    return found


class ActionRegistry:
    """Action instances by id, ready to run."""

    def __init__(self, actions: Iterable[Action]) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            if action.id in self._actions:
                raise ConfigError(f"two actions have the id {action.id!r}", where="actions")
            self._actions[action.id] = action

    def get(self, action_id: str) -> Action | None:
        return self._actions.get(action_id)

    def ids(self) -> list[str]:
        return sorted(self._actions)


def build_actions(
    settings: ResponseSettings,
    *,
    store: AlertStore | None = None,
    revoker: CertificateRevoker | None = None,
    cases: CaseDesk | None = None,
    ring: Callable[[str], Path | None] | None = None,
) -> ActionRegistry:
    """The built-in actions with their dependencies (the composition root hands them in)."""
    nft = Nftables(settings.firewall)
    actions: list[Action] = [
        BlockIpAction(nft),
        UnblockIpAction(nft),
        SinkholeDomainAction(settings.dns),
        RevokeCertificateAction(revoker),
        EmailAction(settings.smtp),
        WebhookAction(settings.webhooks),
        CollectEvidenceAction(store, settings.evidence_dir, settings.evidence_max_bytes, ring),
        CaseCreateAction(cases),
        CaseUpdateAction(cases),
        AlertUpdateAction(store),
        WaitAction(),
        HttpRequestAction(settings.http),
    ]
    unknown = set(settings.disabled_actions) - {a.id for a in actions}
    if unknown:
        raise ConfigError(
            f"no action(s) {', '.join(sorted(unknown))}", where="response.disabled_actions"
        )
    return ActionRegistry(a for a in actions if a.id not in settings.disabled_actions)
