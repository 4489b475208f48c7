"""PKI credential checks: trust stores, path validation, revocation, the credential registry.

Nothing here yet beyond the package itself; see the PKI issue.
"""
