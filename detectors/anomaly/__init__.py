"""Anomaly detection: flows scored against a site's benign baseline by a scikit-learn model.

* :mod:`detectors.anomaly.features`: the documented feature list (names, units, transforms).
* :mod:`detectors.anomaly.extractor`: ``FeatureExtractor``, flows and content facts to feature
  rows, the same in training and scoring; per-host sliding windows in
  :mod:`detectors.anomaly.hosts`, on the vectorised ``WindowTable`` of
  :mod:`detectors.anomaly.windows`.
* :mod:`detectors.anomaly.model`: ``AnomalyModel``, what the detector is handed (estimator,
  threshold, baseline); :mod:`detectors.anomaly.explain`: readable reasons and ATT&CK techniques.
* :mod:`detectors.anomaly.detector`: ``AnomalyDetector`` (id ``anomaly``), off unless a model is
  given. Loading, training and calibration live in ``api.models``: detectors do no I/O.
"""
