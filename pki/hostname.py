"""Does a certificate name a host? RFC 9525 (which replaced RFC 6125) matching, written here because
``cryptography`` matches names only inside its verifier, and a certificate that fails path
validation still deserves an answer on its name.

Only subjectAltName counts (RFC 9525 section 6.4.4: no common-name fallback). A wildcard is the
whole leftmost label and matches one label (section 6.3).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from cryptography import x509
from pydantic import AfterValidator

#: One label of a host name as resolvers take it: letters, digits, hyphens (RFC 1123 section 2.1),
#: and the underscores that internal names often carry.
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def matches_host(cert: x509.Certificate, host: str) -> bool:
    """True when ``host`` (a DNS name or an IP address) is among the certificate's names."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        wanted = _labels(host)
        return wanted is not None and any(
            _dns_match(name, wanted) for name in san.get_values_for_type(x509.DNSName)
        )
    return address in san.get_values_for_type(x509.IPAddress)


def _labels(name: str) -> list[str] | None:
    name = name.rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None
    labels = name.split(".")
    return labels if all(labels) and len(name) <= 253 else None


def _dns_match(pattern: str, wanted: list[str]) -> bool:
    labels = _labels(pattern)
    if labels is None or len(labels) != len(wanted):
        return False
    if labels[0] == "*":
        # Not on a bare public suffix or a single label: "*.com" names nobody legitimately.
        return len(labels) > 2 and labels[1:] == wanted[1:]
    return labels == wanted


def endpoint_host(value: str) -> str:
    """A host to connect to, normalised: an IP address, or a DNS name (IDNA-encoded, lower case,
    without the root dot). A ``ValueError`` says what is wrong (pydantic turns it into a 422)."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    name = text.rstrip(".").lower()
    try:
        name = name if name.isascii() else name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a host name IDNA can encode") from None
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise ValueError("not a host name (letters, digits, hyphens; labels of 1 to 63) or an IP")
    return name


#: A host name or address in a request (an endpoint to check, a registered service).
HostName = Annotated[str, AfterValidator(endpoint_host)]
