"""Link-layer header types (https://www.tcpdump.org/linktypes.html) that the decoder understands."""

from __future__ import annotations

NULL = 0  # BSD loopback: 4-byte address family in the capturing host's byte order
ETHERNET = 1
PPP = 9
RAW = 101  # raw IPv4 or IPv6, told apart by the version nibble
RAW_OPENBSD = 14
RAW_ALT = 12  # some BSDs write DLT_RAW as 12
LOOP = 108  # OpenBSD loopback: address family in network byte order
LINUX_SLL = 113
IEEE802_11 = 105
IEEE802_11_RADIOTAP = 127
PPP_ETHER = 51  # PPPoE
FDDI = 10
CHDLC = 104
NFLOG = 239
IPV4 = 228
IPV6 = 229
LINUX_SLL2 = 276

NAMES = {
    NULL: "null",
    ETHERNET: "ethernet",
    PPP: "ppp",
    RAW: "raw",
    RAW_OPENBSD: "raw",
    RAW_ALT: "raw",
    LOOP: "loop",
    LINUX_SLL: "linux-sll",
    IEEE802_11: "ieee802.11",
    IEEE802_11_RADIOTAP: "ieee802.11-radiotap",
    PPP_ETHER: "pppoe",
    FDDI: "fddi",
    CHDLC: "cisco-hdlc",
    NFLOG: "nflog",
    IPV4: "ipv4",
    IPV6: "ipv6",
    LINUX_SLL2: "linux-sll2",
}

SUPPORTED = frozenset(NAMES)


def describe(linktype: int) -> str:
    return f"{NAMES.get(linktype, 'unknown')} ({linktype})"
