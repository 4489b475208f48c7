"""Cases: alerts merged into one investigation, with observables extracted from them (IPs,
domains, hashes, certificates), comments, severity, TLP, status and history (the audit log)."""
