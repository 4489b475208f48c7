"""``pki.revoke_certificate`` through the real credential registry of a city PKI: a playbook run
revokes a registered credential, and the CRL it publishes, signed by the city CA, lists it."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from cityshield.clock import FixedClock
from response.actions.registry import build_actions
from response.audit import NullAuditor
from response.engine import ResponseEngine
from response.models import RunState
from response.schema import Playbook
from response.service import ResponseService
from response.settings import ResponseSettings
from response.store import RunStore
from tests.unit.pki.pkikit import NOW, CityPki
from tests.unit.pki.test_registry import from_file, registry_for
from tests.unit.response.conftest import make_service, sample_alert

PLAYBOOK = {
    "id": "revoke",
    "name": "revoke",
    "steps": [
        {
            "id": "revoke",
            "action": "pki.revoke_certificate",
            "with": {"credential_id": "{{ alert.data.credential_id }}", "reason": "key_compromise"},
        }
    ],
}


def test_a_run_revokes_and_publishes_a_crl(tmp_path: Path, run_store: RunStore) -> None:
    clock = FixedClock(NOW)
    pki = CityPki()
    registry = registry_for(pki, tmp_path, clock)
    leaf = pki.leaf("portal.city.example")
    credential = registry.add(from_file(leaf, "portal"), by="ana")
    alert = sample_alert("pki.fingerprint_changed", credential_id=credential.id)
    actions = build_actions(ResponseSettings(), revoker=registry)
    engine = ResponseEngine(run_store, actions, NullAuditor(), clock)
    service = ResponseService(
        run_store, engine, {"revoke": Playbook.model_validate(PLAYBOOK)}, clock
    )
    run_id = service.start("revoke", actor="root", role="admin", alert=alert)
    assert engine.advance(run_id) is RunState.SUCCEEDED, service.detail(run_id).reason
    result = service.detail(run_id).steps[0].result
    assert isinstance(result, dict)
    assert result["credential_id"] == credential.id and result["crl_number"] == 1
    assert result["revoked_by"] == f"playbook:{run_id}"
    crl = x509.load_der_x509_crl((tmp_path / "crl" / "city.crl").read_bytes())
    assert crl.issuer == pki.issuing.cert.subject
    assert crl.get_revoked_certificate_by_serial_number(leaf.cert.serial_number) is not None


def test_without_a_registry_the_step_fails_clearly(run_store: RunStore, clock: FixedClock) -> None:
    service = make_service(run_store, clock, [Playbook.model_validate(PLAYBOOK)])
    run_id = service.start("revoke", actor="root", role="admin", alert=sample_alert())
    assert service.engine.advance(run_id) is RunState.FAILED
    assert "no credential registry" in (service.detail(run_id).steps[0].error or "")
