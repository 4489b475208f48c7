"""Sensors: packets in, facts out.

* :mod:`sensors.sources`: capture readers (pcap, pcapng, gzip, stdin) yielding packet batches.
* :mod:`sensors.decode`: vectorised decoding of link, network and transport headers and tunnels.
* :mod:`sensors.flows`: the bounded bidirectional flow table (Community ID, Zeek-style state).
* :mod:`sensors.events`: the facts sensors report (``FlowEnded``, ``WeirdSeen``, ``SensorStats``).
* :mod:`sensors.engine`: the sensor engine that runs a source through decode and flow tracking.

Sensors report facts, never verdicts; they do not import ``alerts`` or ``pki``.
"""
