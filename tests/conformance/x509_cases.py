"""The x509 conformance families of ``../shared/corpus/x509`` as cases, and the two checkers run on
them: ours (``pki.ChainChecker``) and ``cryptography``'s verifier alone, on the same inputs.

Each family's test scores both on accept/reject against the suite's expectation and asserts ours
is at least as good. Cases a checker cannot be asked (a feature out of scope) are skipped with a
written reason in the family's test file.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from pki.checker import ChainChecker, CheckOptions
from pki.encoding import PARSE_ERRORS
from pki.model import Profile, Purpose, RevocationMode
from pki.policy import PolicySettings
from pki.rfc5280 import RevocationInputs
from pki.trust import TrustStore

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "x509"
#: A pytest warning filter for the suites' zero and negative serials (cryptography warns).
NEGATIVE_SERIALS = "ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning"


@dataclass
class Case:
    id: str
    family: str
    trusted: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    leaf: x509.Certificate
    at: datetime | None
    expect_valid: bool
    purpose: Purpose = Purpose.TLS_SERVER
    host: str | None = None
    crls: list[bytes] = field(default_factory=list)
    max_depth: int | None = None
    features: frozenset[str] = frozenset()
    profile: Profile = Profile.WEBPKI


def load_pem(data: str | bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        # Suites hold certificates with negative serials on purpose; cryptography warns on them.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_pem_x509_certificate(data.encode() if isinstance(data, str) else data)


def load_pem_all(data: bytes) -> list[x509.Certificate]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        certs: list[x509.Certificate] = []
        for block in data.split(b"-----END CERTIFICATE-----")[:-1]:
            try:
                certs.append(x509.load_pem_x509_certificate(block + b"-----END CERTIFICATE-----"))
            except (ValueError, x509.InvalidVersion):
                continue  # Botan's loader skips what it cannot decode too
        return certs


# -- the checkers ---------------------------------------------------------------------------------

#: The suites test path validation, not our site policy: no validity-length limit (their
#: certificates live for years) and RSA from 1024 bits (some use 1024-bit test keys). Everything
#: else of the policy stays on.
SUITE_POLICY = PolicySettings(max_leaf_validity_days=None, min_rsa_bits=1024, expiry_warning_days=0)


def ours(case: Case) -> bool:
    checker = ChainChecker(
        {case.purpose: TrustStore(case.trusted)},
        policy={case.profile: SUITE_POLICY},
        max_depth=case.max_depth if case.max_depth is not None else 8,
    )
    options = CheckOptions(
        purpose=case.purpose,
        profile=case.profile,
        host=case.host,
        at=case.at,
        revocation=RevocationMode.HARD_FAIL if case.crls else RevocationMode.OFF,
        given=RevocationInputs(crls=case.crls),
        fetch=False,
    )
    return checker.check([case.leaf, *case.intermediates], options).valid


def cryptography_alone(case: Case) -> bool:
    """``cryptography``'s verifier as its own limbo harness runs it (tests/x509/verification)."""
    builder = PolicyBuilder().store(Store(case.trusted))
    builder = builder.time(case.at or datetime.now(UTC))
    if case.max_depth is not None:
        builder = builder.max_chain_depth(case.max_depth)
    try:
        if case.purpose is Purpose.TLS_SERVER and case.host:
            name = case.host
            subject: x509.verification.Subject
            try:
                subject = x509.IPAddress(ipaddress.ip_address(name))
            except ValueError:
                subject = x509.DNSName(name)
            builder.build_server_verifier(subject).verify(case.leaf, case.intermediates)
        elif case.purpose is Purpose.TLS_CLIENT:
            builder.build_client_verifier().verify(case.leaf, case.intermediates)
        else:  # no TLS usage: the CA rules stay, the leaf's extensions are not the CA/B's business
            builder = builder.extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=ExtensionPolicy.permit_all(),
            )
            builder.build_client_verifier().verify(case.leaf, case.intermediates)
    except (VerificationError, *PARSE_ERRORS):
        return False
    return True


# -- limbo ----------------------------------------------------------------------------------------

LIMBO = CORPUS / "limbo" / "limbo.regenerated-from-8a2e6f41023b.json"


def limbo_cases() -> Iterator[tuple[dict[str, object], Case | None]]:
    """(raw test case, Case); the Case is None when the case cannot be expressed at all."""
    for tc in json.loads(LIMBO.read_text())["testcases"]:
        yield tc, _limbo_case(tc)


def _limbo_case(tc: dict[str, object]) -> Case | None:
    peer = tc["expected_peer_name"]
    host = None
    if isinstance(peer, dict):
        if peer["kind"] not in ("DNS", "IP"):
            return None
        host = str(peer["value"])
    kind = tc["validation_kind"]
    if kind not in ("SERVER", "CLIENT"):
        return None
    at = tc["validation_time"]
    crls = [_pem_der(str(c)) for c in tc.get("crls") or []]  # type: ignore[attr-defined]
    case_id = str(tc["id"])
    return Case(
        id=case_id,
        family=case_id.split("::")[0],
        trusted=[load_pem(str(c)) for c in tc["trusted_certs"]],  # type: ignore[attr-defined]
        intermediates=[load_pem(str(c)) for c in tc["untrusted_intermediates"]],  # type: ignore[attr-defined]
        leaf=load_pem(str(tc["peer_certificate"])),
        at=datetime.fromisoformat(str(at)) if at else None,
        expect_valid=tc["expected_result"] == "SUCCESS",
        purpose=Purpose.TLS_SERVER if kind == "SERVER" else Purpose.TLS_CLIENT,
        host=host,
        crls=crls,
        max_depth=tc["max_chain_depth"],  # type: ignore[arg-type]
        features=frozenset(tc["features"] or ()),  # type: ignore[arg-type]
    )


def _pem_der(pem: str) -> bytes:
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


# -- BetterTLS ------------------------------------------------------------------------------------

BETTERTLS = CORPUS / "bettertls" / "pathbuilding.tests.json"


def bettertls_cases() -> Iterator[Case]:
    data = json.loads(BETTERTLS.read_text())
    root = x509.load_der_x509_certificate(base64.b64decode(data["trustRoot"]))
    # The suite's certificates are valid around its export; BetterTLS runs at "now" of then.
    at = datetime(2023, 7, 6, tzinfo=UTC)
    for tc in data["suites"]["pathbuilding"]["testCases"]:
        certs = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in tc["certificates"]]
        yield Case(
            id=f"bettertls::{tc['id']}",
            family="bettertls",
            trusted=[root],
            intermediates=certs[1:],
            leaf=certs[0],
            at=at,
            expect_valid=tc["expected"] == "ACCEPT",
            host=tc["hostname"],
            features=frozenset(tc.get("requiredFeatures") or ()),
        )


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


# -- Botan ----------------------------------------------------------------------------------------

BOTAN = CORPUS / "botan"


def _expected(folder: Path) -> dict[str, str]:
    lines = (folder / "expected.txt").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def _first_name(cert: x509.Certificate) -> str | None:
    """The host a usage-unspecified case is checked for: its first DNS or IP name."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, *PARSE_ERRORS):
        return None
    names = san.get_values_for_type(x509.DNSName)
    if names:
        return names[0]
    ips = san.get_values_for_type(x509.IPAddress)
    return str(ips[0]) if ips else None


def botan_cases() -> Iterator[Case]:
    """Botan's path validation folders as its tests run them (src/tests/test_x509_path.cpp):
    x509test against root.pem for www.tls.test at 2016-10-21 04:20; name_constraints against
    root.pem; extended with every non-leaf certificate trusted; path_building with the levels as
    intermediates; pss_certs' chain cases at the year of validation_times.txt.

    Botan checks all but x509test with usage unspecified: a leaf that names a host is checked as
    a TLS server for that name, one that names none (document signers, plain end entities) for
    document signing, which neither checker ties to TLS rules."""
    for case in (
        *_botan_x509test(),
        *_botan_name_constraints(),
        *_botan_extended(),
        *_botan_path_building(),
        *_botan_pss(),
    ):
        if case.host is None:
            case.purpose = _purpose_of(case.leaf)
        yield case


def _purpose_of(leaf: x509.Certificate) -> Purpose:
    try:
        ekus = {e.dotted_string for e in leaf.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value}  # fmt: skip
    except (x509.ExtensionNotFound, *PARSE_ERRORS):
        return Purpose.DOCUMENT_SIGNING
    if "1.3.6.1.5.5.7.3.1" in ekus:
        return Purpose.TLS_SERVER
    if "1.3.6.1.5.5.7.3.2" in ekus:
        return Purpose.TLS_CLIENT
    return Purpose.DOCUMENT_SIGNING


def _botan_x509test() -> Iterator[Case]:
    folder = BOTAN / "x509test"
    root = load_pem_all((folder / "root.pem").read_bytes())
    at = datetime(2016, 10, 21, 4, 20, tzinfo=UTC)
    for name, status in _expected(folder).items():
        certs = load_pem_all((folder / name).read_bytes())
        yield Case(f"x509test::{name}", "x509test", root, certs[1:], certs[0], at,
                   status == "Verified", host="www.tls.test")  # fmt: skip


def _botan_name_constraints() -> Iterator[Case]:
    folder = BOTAN / "name_constraints"
    root = load_pem_all((folder / "root.pem").read_bytes())
    at = datetime(2026, 6, 1, tzinfo=UTC)  # inside every certificate's validity (2026 to 2035)
    for name, status in _expected(folder).items():
        certs = load_pem_all((folder / f"{name}.pem").read_bytes())
        if not certs:
            yield Case(f"name_constraints::{name}", "name_constraints", root, [], root[0], at,
                       status == "Verified", features=frozenset({"undecodable"}))  # fmt: skip
            continue
        yield Case(f"name_constraints::{name}", "name_constraints", root, certs[1:], certs[0], at,
                   status == "Verified", host=_first_name(certs[0]))  # fmt: skip


def _botan_extended() -> Iterator[Case]:
    at = datetime(2017, 9, 1, 9, 30, 33, tzinfo=UTC)
    for name, status in _expected(BOTAN / "extended").items():
        folder = BOTAN / "extended" / name
        leaf = load_pem_all((folder / "end.crt").read_bytes())[0]
        trusted = [load_pem_all(p.read_bytes())[0] for p in sorted(folder.glob("*.crt"))
                   if p.name != "end.crt"]  # fmt: skip
        yield Case(f"extended::{name}", "extended", trusted, [], leaf, at, status == "Verified",
                   host=_first_name(leaf))  # fmt: skip


def _botan_path_building() -> Iterator[Case]:
    folder = BOTAN / "path_building"
    root = load_pem_all((folder / "root.pem").read_bytes())
    levels = [c for p in sorted(folder.glob("level*.pem")) for c in load_pem_all(p.read_bytes())]
    for name, status in _expected(folder).items():
        leaf = load_pem_all((folder / name).read_bytes())[0]
        yield Case(f"path_building::{name}", "path_building", root, levels, leaf,
                   leaf.not_valid_before_utc, status == "Verified",
                   host=_first_name(leaf))  # fmt: skip


def _botan_pss() -> Iterator[Case]:
    folder = BOTAN / "pss_certs"
    years = _expected_times(folder / "validation_times.txt")
    for name, status in _expected(folder).items():
        case_dir = folder / name
        if not (case_dir / "root.crt").exists() or not (case_dir / "end.crt").exists():
            continue  # CRL-, CSR- and self-signature-only cases: not path validation
        if any(case_dir.glob("*.crl")):
            continue
        root = load_pem_all((case_dir / "root.crt").read_bytes())
        leaf = load_pem_all((case_dir / "end.crt").read_bytes())
        if not root or not leaf:
            continue
        at = datetime(int(years[name]), 1, 1, tzinfo=UTC)
        yield Case(f"pss_certs::{name}", "pss_certs", root, [], leaf[0], at,
                   status == "Verified", host=_first_name(leaf[0]))  # fmt: skip


def _expected_times(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))
