"""Emergency response: playbook schema and validation, the engine, actions, approvals and runs.

Nothing here yet beyond the package itself; see the playbooks issue.
"""
