"""``pki.revoke_certificate``: revoke a credential of the PKI registry and publish a new CRL
signed by the city CA (``pki.registry.RegistryService.revoke``, handed in by the composition
root). Idempotent: the registry answers a second revocation of the same credential with the
first one (``already_revoked``) and issues no new CRL."""

from __future__ import annotations

from typing import Protocol

from pydantic import Field

from cityshield.errors import ActionError, CityShieldError
from pki.registry_model import Revocation, RevocationReason
from response.actions.base import Action, ActionContext, ActionParams, Result


class CertificateRevoker(Protocol):
    def revoke(self, credential_id: str, reason: RevocationReason, *, by: str) -> Revocation: ...


class RevokeParams(ActionParams):
    credential_id: str = Field(min_length=1, max_length=100)
    reason: RevocationReason = RevocationReason.KEY_COMPROMISE


class RevokeCertificateAction(Action):
    id = "pki.revoke_certificate"
    Params = RevokeParams
    idempotent = True
    summary = "Revoke a registered credential and publish a new CRL signed by the city CA"

    def __init__(self, revoker: CertificateRevoker | None) -> None:
        self.revoker = revoker

    def plan(self, params: RevokeParams) -> str:
        return f"revoke credential {params.credential_id} ({params.reason.value}) and issue a CRL"

    def run(self, params: RevokeParams, ctx: ActionContext) -> Result:
        if self.revoker is None:
            raise ActionError("no credential registry configured ([pki.registry])")
        try:
            done = self.revoker.revoke(
                params.credential_id, params.reason, by=f"playbook:{ctx.run_id}"
            )
        except CityShieldError as exc:
            raise ActionError(f"revoking {params.credential_id}: {exc}") from None
        return done.model_dump(mode="json")
