"""The benchmark: CityShield's decode, flow tracking and ``analyze`` against dpkt, tshark, nfstream,
scapy and pyshark on one large capture, one core each (``python -m bench.run``; see README.md)."""
