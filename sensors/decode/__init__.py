"""Vectorised packet decoding: link layers, VLAN/MPLS/PPPoE, IPv4/IPv6 (with fragment reassembly),
TCP/UDP/SCTP/ICMP, and tunnels (IP-in-IP, GRE/ERSPAN, VXLAN, Geneve, Teredo, AYIYA, GTP-U).

``Decoder.decode(batch)`` turns a ``PacketBatch`` into ``DecodedPackets`` (columns, one row per IP
packet) and counts every packet it could not decode in ``Decoder.stats`` (Zeek-style weird names).
"""

from sensors.decode.decoder import DecodedPackets, Decoder, DecodeSettings
from sensors.decode.fragments import FragmentReassembler, FragmentSettings
from sensors.decode.weird import DecodeStats, WeirdSample

__all__ = [
    "DecodeSettings",
    "DecodeStats",
    "DecodedPackets",
    "Decoder",
    "FragmentReassembler",
    "FragmentSettings",
    "WeirdSample",
]
