"""A deterministic demo capture of a city's e-government network, with planted attacks.

* :func:`api.demo.generator.generate` writes ``egov-demo.pcap`` and ``egov-demo.manifest.json``;
  ``python -m api.demo OUT_DIR`` does the same from the shell. The same seed gives the same bytes.
* :mod:`api.demo.manifest`: the manifest's models (ground truth per connection and per attack).
* The bundled ``egov-demo.pcap`` and ``egov-demo.manifest.json`` next to this file are the output
  for the default seed; ``python -m api.demo api/demo`` regenerates them.

The traffic is built with scapy: a small TCP session builder (:mod:`api.demo.tcp`), the wire formats
of the protocols spoken (HTTP, TLS 1.2, DNS, SSH, SMTP, IMAP, RDP, NTP, ICMP echo) and the scenario
(:mod:`api.demo.citizens`, :mod:`api.demo.naming`, :mod:`api.demo.operations`,
:mod:`api.demo.attacks`).
"""
