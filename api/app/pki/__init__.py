"""PKI routes: chain checks (JSON, raw upload, a live endpoint) and the credential registry."""
