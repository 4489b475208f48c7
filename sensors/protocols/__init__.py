"""Application protocol parsers: sans-io, fed reassembled bytes or datagrams, emitting facts.

* :mod:`sensors.protocols.base`: ``StreamParser`` (TCP) and ``DatagramParser`` (UDP) base classes.
* :mod:`sensors.protocols.registry`: the built-in parsers by id, and how a connection's protocol
  is recognised (content first, then ports).
* One module per protocol: :mod:`~sensors.protocols.dns`, :mod:`~sensors.protocols.http`,
  :mod:`~sensors.protocols.tls`, :mod:`~sensors.protocols.ssh`.

A parser that meets bytes it cannot parse stops for that connection (counted, like Zeek's
analyzer violations); it never raises out of the sensor.
"""
