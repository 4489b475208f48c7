"""Playbook actions: one class per action id, typed parameters, a registry of the built-ins."""
