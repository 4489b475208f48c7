"""Alerts: the ECS-shaped ``Alert`` model, aggregation of repeats, triage state, and the stores.

* :mod:`alerts.model`: ``Alert`` and its parts (severity, rule, evidence, triage).
* :mod:`alerts.aggregation`: ``AlertAggregator`` folds repeats of a rule into one alert.
* :mod:`alerts.stores`: the ``AlertStore`` interface and ``SqliteAlertStore`` (the default).
"""
