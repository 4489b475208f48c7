"""HTTP routes of emergency response: playbooks, runs, approvals (``response`` does the work)."""
