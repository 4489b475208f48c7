"""``cityshield pki check FILE|HOST:PORT``: a certificate chain's verdict, readable or as JSON.

Exit status: 0 valid, 4 not valid, 1 settings, 2 an unreadable file or unreachable server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.serialization import Encoding
from rich.markup import escape

from api.cli.common import EXIT_CAPTURE, ConfigOpt, JsonOpt, fail, load, out, user_errors
from api.composition import build_pki
from cityshield.errors import DecodeError
from pki.encoding import load_certificate_files, load_crls, read_bytes
from pki.model import Profile, Purpose, RevocationMode, Severity, Verdict
from pki.probe import ProbeError, fetch_chain
from pki.rfc5280 import RevocationInputs

EXIT_INVALID = 4


def check(
    target: Annotated[str, typer.Argument(help="A PEM/DER/PKCS#7 file, or HOST:PORT to connect.")],
    intermediate: Annotated[
        list[Path] | None, typer.Option("--intermediate", help="Extra intermediates (repeatable).")
    ] = None,
    trust: Annotated[
        list[Path] | None, typer.Option("--trust", help="Extra trust anchors (repeatable).")
    ] = None,
    crl: Annotated[list[Path] | None, typer.Option("--crl", help="CRL files (repeatable).")] = None,
    ocsp_response: Annotated[
        list[Path] | None, typer.Option("--ocsp-response", help="DER OCSP responses.")
    ] = None,
    at: Annotated[
        datetime | None, typer.Option("--at", help="Validation time (ISO 8601, UTC if no zone).")
    ] = None,
    profile: Annotated[Profile | None, typer.Option("--profile")] = None,
    revocation: Annotated[RevocationMode | None, typer.Option("--revocation")] = None,
    purpose: Annotated[Purpose, typer.Option("--purpose")] = Purpose.TLS_SERVER,
    host: Annotated[
        str | None, typer.Option("--host", help="Name to match (default: HOST of HOST:PORT).")
    ] = None,
    starttls: Annotated[
        bool, typer.Option("--smtp-starttls", help="HOST:PORT is SMTP: STARTTLS first.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a chain from a file or a server and print the verdict with its reason codes."""
    with user_errors():
        settings = load(config)
        service = build_pki(settings)
        when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
        given = RevocationInputs(
            crls=[
                c.public_bytes(Encoding.DER)
                for path in crl or []
                for c in load_crls(read_bytes(path), where=str(path))
            ],
            ocsp_responses=[read_bytes(p) for p in ocsp_response or []],
        )
        staple: bytes | None = None
        try:
            if Path(target).exists() or ":" not in target:
                certs = load_certificate_files([Path(target)])
            else:
                name, port = host_port(target)
                handshake = fetch_chain(
                    name,
                    port,
                    server_name=host,
                    starttls="smtp" if starttls else None,
                    timeout=settings.pki.probe_timeout_seconds,
                )
                certs, staple = handshake.chain, handshake.stapled_ocsp
                host = host or name
        except (DecodeError, ProbeError, ValueError) as exc:
            fail(str(exc), EXIT_CAPTURE)
        if staple:
            given.ocsp_responses.append(staple)
        certs += load_certificate_files(intermediate or [])
        anchors = tuple(load_certificate_files(trust or [], max_certs=5000))
        options = service.options(
            purpose,
            profile=profile,
            revocation=revocation,
            host=host,
            at=when,
            given=given,
            extra_anchors=anchors,
        )
        verdict = service.check_certificates(certs, options)
    if as_json:
        out.print_json(json.dumps(verdict.model_dump(mode="json")))
    else:
        _render(verdict)
    if not verdict.valid:
        raise typer.Exit(EXIT_INVALID)


def _render(verdict: Verdict) -> None:
    state = "[bold green]VALID[/]" if verdict.valid else "[bold red]NOT VALID[/]"
    out.print(f"{state}  {verdict.purpose} / {verdict.profile} / revocation {verdict.revocation}")
    if verdict.presented:
        leaf = verdict.presented[0]
        out.print(f"  leaf     {escape(leaf.subject)}")
        out.print(f"  issuer   {escape(leaf.issuer)}")
        out.print(f"  valid    {leaf.not_before:%Y-%m-%d} .. {leaf.not_after:%Y-%m-%d}")
        out.print(f"  sha256   {leaf.sha256}")
    for i, cert in enumerate(verdict.path):
        out.print(f"  path[{i}]  {escape(cert.subject)}")
    for f in verdict.findings:
        mark = "[red]error[/]  " if f.severity is Severity.ERROR else "[yellow]warning[/]"
        where = f" (certificate {f.position})" if f.position is not None else ""
        out.print(f"  {mark} {f.code}{where}: {escape(f.message)}")


def host_port(target: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT``; a ``ValueError`` names what is wrong."""
    name, _, port = target.rpartition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{target}: not HOST:PORT (or a file that exists)")
    return name.strip("[]"), int(port)
