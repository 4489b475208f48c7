"""Heuristic detectors over flows: port scans (vertical, horizontal, ping sweeps) and password
brute force against login services. Thresholds come from ``rules/heuristics.toml``.
"""
