"""Alerts about the city's registered credentials (``pki.registry``): a certificate about to
expire or expired, another certificate or another issuer on a registered endpoint, a revoked
certificate still in use, an endpoint that fails its check or cannot be reached.

The registry says each condition once; these are its words as ``Alert`` objects, with rule ids
``pki.<kind>`` (``pki.expiry``, ``pki.fingerprint_changed``, ``pki.revoked_in_use``, ...). One
alert per credential and certificate: its id comes from them and the time, so a scan repeated at
the same moment stores the same alerts.
"""

from __future__ import annotations

from alerts.evidence import Evidence
from alerts.model import Alert, Endpoint, RuleRef, Severity
from pki.registry_model import EventKind, RegistryEvent

#: Rule id, name and severity per kind. Expiry alerts grow in severity as the day comes closer.
RULES: dict[EventKind, tuple[str, str, Severity]] = {
    EventKind.EXPIRING: ("pki.expiry", "Registered certificate expires soon", Severity.LOW),
    EventKind.EXPIRED: ("pki.expired", "Registered certificate expired", Severity.HIGH),
    EventKind.FINGERPRINT_CHANGED: (
        "pki.fingerprint_changed",
        "Registered endpoint presents another certificate",
        Severity.MEDIUM,
    ),
    EventKind.ISSUER_CHANGED: (
        "pki.issuer_changed",
        "Registered endpoint presents a certificate from another issuer",
        Severity.HIGH,
    ),
    EventKind.REVOKED_IN_USE: (
        "pki.revoked_in_use",
        "Revoked certificate still in use",
        Severity.CRITICAL,
    ),
    EventKind.ENDPOINT_INVALID: (
        "pki.endpoint_invalid",
        "Registered endpoint fails its certificate check",
        Severity.HIGH,
    ),
    EventKind.ENDPOINT_UNREACHABLE: (
        "pki.endpoint_unreachable",
        "Registered endpoint could not be checked",
        Severity.LOW,
    ),
}
#: ATT&CK: adversary-in-the-middle (T1557) when an endpoint's certificate is swapped.
_TECHNIQUES = {EventKind.ISSUER_CHANGED: ["T1557"]}
AGGREGATION_FIELDS = ("cityshield.alert.data.credential_id", "cityshield.alert.data.sha256")


def registry_alerts(events: list[RegistryEvent], *, observer: str) -> list[Alert]:
    return [registry_alert(e, observer=observer) for e in events]


def registry_alert(
    event: RegistryEvent, *, observer: str, evidence: Evidence | None = None
) -> Alert:
    rule_id, name, severity = RULES[event.kind]
    credential = event.credential
    cert = credential.certificate
    if event.kind is EventKind.EXPIRING:
        threshold = event.details.get("threshold_days")
        if isinstance(threshold, int):
            severity = _expiry_severity(threshold)
    return Alert.raised(
        rule=RuleRef(id=rule_id, name=name, category="credential"),
        severity=severity,
        message=f"{credential.system}: {event.message}"[:1000],
        observer=observer,
        first_seen=event.at,
        destination=Endpoint(ip=event.ip, port=event.port) if event.ip else None,
        techniques=_TECHNIQUES.get(event.kind, []),
        aggregation_fields=AGGREGATION_FIELDS,
        evidence=evidence,
        data={
            "credential_id": credential.id,
            "system": credential.system,
            "owner": credential.owner,
            "endpoint": credential.endpoint,
            "server_name": credential.name,
            "source": event.source,
            "sha256": cert.sha256,
            "subject": cert.subject,
            "issuer": cert.issuer,
            "serial": cert.serial,
            "not_after": cert.not_after.isoformat(),
            **event.details,
        },
    )


def _expiry_severity(threshold_days: int) -> Severity:
    if threshold_days <= 7:
        return Severity.HIGH
    if threshold_days <= 14:
        return Severity.MEDIUM
    return Severity.LOW
