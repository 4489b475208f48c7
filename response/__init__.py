"""Emergency response: playbooks (schema, YAML with line numbers, validation that reports every
problem), the engine that runs them step by step from a run database of its own, actions behind a
registry with typed parameters, and approvals by people with the right roles.

``response`` never imports ``api``: the API hands it an auditor, a case desk and the settings.
"""
