"""Alerts: the ECS-shaped ``Alert`` model, aggregation of repeats, triage state, and the stores.

* :mod:`alerts.model`: ``Alert`` and its parts (``Severity``, ``RuleRef``, ``Endpoint``,
  ``Triage``), ``Alert.raised`` for detectors, ``to_ecs``/``from_ecs`` for the stored format.
* :mod:`alerts.evidence`: ``Evidence``, bounded references to flows, Community IDs and frames.
* :mod:`alerts.aggregation`: ``AlertAggregator`` folds repeats of a rule into one alert.
* :mod:`alerts.triage`: ``apply_triage``, the transition rules every store enforces.
* :mod:`alerts.stores`: the ``AlertStore`` interface, ``SqliteAlertStore`` (the default) and
  ``open_store``.
"""
