"""Counters of what could not be decoded, by kind, in the spirit of Zeek's weird.log.

A malformed packet is data, not an exception: it is counted under a stable name, and the first few
of each kind are kept as samples (capture file and frame) so an analyst can open them in Wireshark.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sensors.events import WeirdSeen

# Names follow Zeek's weird names where one exists.
TRUNCATED_LINK_HEADER = "truncated_link_header"
UNSUPPORTED_LINK_TYPE = "unsupported_link_type"
TRUNCATED_IP_HEADER = "truncated_IP_header"
BAD_IP_VERSION = "bad_IP_version"
BAD_IP_HEADER_LENGTH = "bad_IP_header_length"
TRUNCATED_IP = "truncated_IP"
IP_HDR_LEN_ZERO = "ip_hdr_len_zero"
BAD_IP_LENGTH = "bad_IP_length"
TRUNCATED_IPV6_EXT_HEADER = "truncated_IPv6_extension_header"
TOO_MANY_IPV6_EXT_HEADERS = "too_many_IPv6_extension_headers"
TRUNCATED_TCP_HEADER = "truncated_TCP_header"
BAD_TCP_HEADER_LENGTH = "bad_TCP_header_length"
TRUNCATED_UDP_HEADER = "truncated_UDP_header"
TRUNCATED_ICMP_HEADER = "truncated_ICMP_header"
TRUNCATED_SCTP_HEADER = "truncated_SCTP_header"
TRUNCATED_TUNNEL_HEADER = "truncated_tunnel_header"
TUNNEL_DEPTH_EXCEEDED = "exceeded_tunnel_max_depth"
DECODE_DEPTH_EXCEEDED = "exceeded_decode_max_depth"
TOO_MANY_VLAN_TAGS = "too_many_VLAN_tags"
FRAGMENT_OVERLAP = "fragment_overlap"
FRAGMENT_INCONSISTENCY = "fragment_inconsistency"
FRAGMENT_BUDGET_EXCEEDED = "fragment_budget_exceeded"
FRAGMENT_TIMEOUT = "fragment_timeout"
EXCESSIVELY_LARGE_FRAGMENT = "excessively_large_fragment"
BAD_FRAGMENT = "bad_fragment"

# Not weird, but not flows either: counted so every packet is accounted for.
NON_IP = "non_ip"
ARP = "arp"
ENCRYPTED_802_11 = "encrypted_802_11"


WeirdSample = WeirdSeen


@dataclass(slots=True)
class DecodeStats:
    """What the decoder saw, summed over batches."""

    samples_per_kind: int = 20
    weird: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    samples: list[WeirdSample] = field(default_factory=list)
    new_samples: list[WeirdSample] = field(default_factory=list)
    _sampled: Counter[str] = field(default_factory=Counter)

    def count_weird(
        self, name: str, rows: npt.NDArray[np.int64], *, capture: str, first_frame: int
    ) -> None:
        n = len(rows)
        if n == 0:
            return
        self.weird[name] += n
        room = self.samples_per_kind - self._sampled[name]
        if room > 0:
            for row in np.sort(rows)[:room].tolist():
                sample = WeirdSample(name, capture, first_frame + int(row))
                self.samples.append(sample)
                self.new_samples.append(sample)
            self._sampled[name] += min(room, n)

    def count_other(self, name: str, n: int) -> None:
        if n:
            self.other[name] += n

    def take_new_samples(self) -> list[WeirdSample]:
        out, self.new_samples = self.new_samples, []
        return out
