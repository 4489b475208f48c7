"""TLS: records and handshakes of TLS 1.3 and older (SSL 2.0-format hellos recognised), cipher
suite and version names, JA3/JA3S/JA4 fingerprints, certificate chains, and TLS that starts after
a clear-text exchange (STARTTLS and its kin).

* :mod:`~sensors.protocols.tls.parser`: ``TlsParser`` (one ``TlsSeen`` per connection, a
  ``CertificateSeen`` per certificate of a TLS 1.2-or-older chain).
* :mod:`~sensors.protocols.tls.starttls`: ``StartTlsParser`` for SMTP, IMAP, POP3, FTP, XMPP,
  LDAP, PostgreSQL, MySQL and RDP connections that switch to TLS.
* :mod:`~sensors.protocols.tls.quic`: ``QuicParser``, the hellos inside QUIC Initial packets.
* :mod:`~sensors.protocols.tls.records`: the record layer, streamed and bounded.
* :mod:`~sensors.protocols.tls.hello`: ClientHello and ServerHello bodies.
* :mod:`~sensors.protocols.tls.fingerprint`: JA3, JA3S, JA4.
* :mod:`~sensors.protocols.tls.suites`: IANA names of cipher suites, versions and alerts.
"""

from sensors.protocols.tls.parser import TlsParser
from sensors.protocols.tls.quic import QuicParser
from sensors.protocols.tls.starttls import StartTlsParser

__all__ = ["QuicParser", "StartTlsParser", "TlsParser"]
