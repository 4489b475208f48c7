"""A city PKI for tests: a root, an issuing CA and leaves made with ``cryptography``, and a
real HTTP server on loopback that serves the issuing CA's CRL and answers OCSP (RFC 6960) for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.issuing import IssuingCa, RevokedEntry, issue_crl

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "City of Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Credential:
    cert: x509.Certificate
    key: Key

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def make_ca(
    cn: str,
    issuer: Credential | None,
    *,
    path_length: int | None = None,
    base_url: str = "",
    now: datetime = NOW,
) -> Credential:
    key = ec_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer.cert.subject if issuer else name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer = issuer.key if issuer else key
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        builder = _revocation_pointers(builder, base_url, issuer_name=issuer.cert.subject)
    return Credential(builder.sign(signer, hashes.SHA256()), key)


def _revocation_pointers(
    builder: x509.CertificateBuilder, base_url: str, *, issuer_name: x509.Name
) -> x509.CertificateBuilder:
    if not base_url:
        return builder
    tag = issuer_name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    crl_url = f"{base_url}/crl/{str(tag).replace(' ', '_')}.crl"
    return builder.add_extension(
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]
        ),
        critical=False,
    ).add_extension(
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(f"{base_url}/ocsp"),
                )
            ]
        ),
        critical=False,
    )


def make_leaf(
    issuer: Credential,
    *names: str,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key: Key | None = None,
    base_url: str = "",
    eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
    signature_hash: hashes.HashAlgorithm | None = None,
    self_signed: bool = False,
    now: datetime = NOW,
) -> Credential:
    key = key or ec_key()
    subject = name(names[0] if names else "leaf")
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed else issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=30))
        .not_valid_after(not_after or now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                key.public_key() if self_signed else issuer.key.public_key()
            ),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if not self_signed:
        builder = _revocation_pointers(builder, base_url, issuer_name=issuer.cert.subject)
    signer = key if self_signed else issuer.key
    return Credential(builder.sign(signer, signature_hash or hashes.SHA256()), key)


@dataclass
class CityPki:
    """Root -> issuing CA -> leaves, revocation pointers to ``base_url``; validity around
    ``now`` (tests of real processes pass the real time)."""

    base_url: str = ""
    now: datetime = NOW
    root: Credential = field(init=False)
    issuing: Credential = field(init=False)

    def __post_init__(self) -> None:
        self.root = make_ca("City Root CA", None, now=self.now)
        self.issuing = make_ca(
            "City Issuing CA", self.root, path_length=0, base_url=self.base_url, now=self.now
        )

    def leaf(self, *names: str, **kwargs: object) -> Credential:
        return make_leaf(self.issuing, *names, base_url=self.base_url, now=self.now, **kwargs)  # type: ignore[arg-type]


@dataclass
class Responder:
    """What the revocation server answers: revoked serials per issuing CA, and counters."""

    pki: CityPki
    revoked: dict[int, datetime] = field(default_factory=dict)
    crl_requests: int = 0
    ocsp_requests: int = 0
    crl_next_update: timedelta = timedelta(days=7)
    ocsp_enabled: bool = True

    def crl(self) -> bytes:
        ca = IssuingCa(self.pki.issuing.cert, self.pki.issuing.key)  # type: ignore[arg-type]
        entries = [RevokedEntry(s, at) for s, at in self.revoked.items()]
        return issue_crl(
            ca,
            entries,
            number=1,
            this_update=self.pki.now - timedelta(hours=1),
            validity=self.crl_next_update,
        )

    def root_crl(self) -> bytes:
        ca = IssuingCa(self.pki.root.cert, self.pki.root.key)  # type: ignore[arg-type]
        return issue_crl(ca, [], number=1, this_update=self.pki.now - timedelta(hours=1))

    def ocsp(self, body: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(body)
        digest = hashes.Hash(hashes.SHA1())
        digest.update(self.pki.issuing.cert.subject.public_bytes())
        ours = request.issuer_name_hash == digest.finalize()
        ca = self.pki.issuing if ours else self.pki.root
        revoked_at = self.revoked.get(request.serial_number) if ours else None
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=request.hash_algorithm,
                cert_status=ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD,
                this_update=self.pki.now - timedelta(minutes=5),
                next_update=self.pki.now + timedelta(hours=12),
                revocation_time=revoked_at,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.cert)
        )
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@contextmanager
def revocation_server(
    make: type[CityPki] = CityPki, now: datetime = NOW
) -> Iterator[tuple[CityPki, Responder]]:
    """A running CRL and OCSP server on 127.0.0.1 and a PKI whose certificates point at it."""
    holder: dict[str, Responder] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            responder = holder["r"]
            if self.path == "/crl/City_Issuing_CA.crl":
                responder.crl_requests += 1
                self._send(responder.crl(), "application/pkix-crl")
            elif self.path == "/crl/City_Root_CA.crl":
                responder.crl_requests += 1
                self._send(responder.root_crl(), "application/pkix-crl")
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            responder = holder["r"]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            responder.ocsp_requests += 1
            if not responder.ocsp_enabled:
                self.send_error(503)
                return
            self._send(responder.ocsp(body), "application/ocsp-response")

        def _send(self, data: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        pki = make(base_url=f"http://127.0.0.1:{server.server_address[1]}", now=now)
        holder["r"] = Responder(pki)
        yield pki, holder["r"]
    finally:
        server.shutdown()
        server.server_close()
