"""Anomaly models: training, safe persistence, model cards, calibration and evaluation.

* :mod:`api.models.dataset`: captures through the sensor engine into feature rows (and labels).
* :mod:`api.models.training`: ``train`` fits a scikit-learn pipeline (scaling, then
  IsolationForest or LocalOutlierFactor in novelty mode) on benign flows and calibrates it.
* :mod:`api.models.calibration`: thresholds from benign score quantiles for a target FPR.
* :mod:`api.models.card`: ``ModelCard``, the JSON next to each model file.
* :mod:`api.models.store`: ``ModelStore`` saves with skops (never pickle) and loads refusing any
  unexpected type, a changed file, another feature list or other library versions.
* :mod:`api.models.evaluation`: ROC AUC, PR AUC and detection rates per attack type.
"""
