"""Detectors: facts in, alerts out. No I/O of their own.

* :mod:`detectors.base`: the ``Detector`` base class and its typed configuration.
* :mod:`detectors.registry`: the explicit list of built-in detectors (plus entry-point plugins).
* :mod:`detectors.pipeline`: ``DetectionPipeline`` feeds events to detectors and collects alerts.
* :mod:`detectors.heuristics`: port scans and password brute force.
"""
