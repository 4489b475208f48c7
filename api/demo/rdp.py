"""The clear-text start of an RDP connection ([MS-RDPBCGR] 2.2.1.1 and 2.2.1.2), before TLS.

A client asks for TLS and CredSSP (Network Level Authentication); the server picks CredSSP, the
TLS handshake follows, and the password travels inside CredSSP's NTLM messages.
"""

from __future__ import annotations

import struct

PROTOCOL_SSL, PROTOCOL_HYBRID, PROTOCOL_HYBRID_EX = 0x1, 0x2, 0x8

#: Plaintext sizes of the CredSSP TSRequests an NTLM logon sends ([MS-CSSP] 2.2.1): NEGOTIATE from
#: the client, CHALLENGE from the server, AUTHENTICATE with the password's NTLMv2 response, and the
#: server's TSRequest carrying STATUS_LOGON_FAILURE.
CREDSSP_NEGOTIATE = 57
CREDSSP_CHALLENGE = 234
CREDSSP_AUTHENTICATE = 570
CREDSSP_LOGON_FAILURE = 23


def _tpkt(tpdu: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(tpdu)) + tpdu  # RFC 1006 TPKT, version 3


def connection_request(cookie_user: str, protocols: int) -> bytes:
    """X.224 Connection Request with the mstshash cookie and an RDP Negotiation Request."""
    cookie = f"Cookie: mstshash={cookie_user}\r\n".encode()
    negotiation = struct.pack("<BBHI", 0x01, 0, 8, protocols)
    variable = cookie + negotiation
    # Length indicator, CR CDT (0xE0), DST-REF, SRC-REF, class 0 (ITU-T X.224 13.3).
    header = struct.pack("!BBHHB", 6 + len(variable), 0xE0, 0, 0, 0)
    return _tpkt(header + variable)


def connection_confirm(selected: int, src_ref: int) -> bytes:
    """X.224 Connection Confirm with an RDP Negotiation Response naming the chosen protocol."""
    # Flags: extended client data, DVC graphics, restricted admin, redirected authentication.
    negotiation = struct.pack("<BBHI", 0x02, 0x1F, 8, selected)
    header = struct.pack("!BBHHB", 6 + len(negotiation), 0xD0, 0, src_ref, 0)
    return _tpkt(header + negotiation)
