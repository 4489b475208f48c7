"""PKI credential checks: trust stores (``trust``), path validation (``path``, ``rfc5280``), policy
checks with reason codes (``policy``, ``reasons``), revocation by CRL and OCSP (``revocation``,
``fetch``), active TLS checks (``probe``), CRL issuing (``issuing``); ``checker.ChainChecker`` and
``service.PkiService`` put them together.
"""
