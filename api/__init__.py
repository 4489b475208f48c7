"""The outside of CityShield: the CLI, the composition root, and (later) the HTTP API and console.

Nothing imports ``api``; it builds settings, registries and stores and hands them down.
"""
