"""YARA content detection: rule packs compiled by yara-x or yara-python, scans of reassembled
streams and decoded files within budgets, and alerts with the rule's metadata and evidence.

* :mod:`detectors.yara.engine`: the small engine interface, the externals, the engines by name;
  :mod:`detectors.yara.engine_x` and :mod:`detectors.yara.engine_python` implement it (a rule
  file that does not compile is reported with file and line, and the others load).
* :mod:`detectors.yara.scanner`: one buffer scanned within the budgets, candidates validated.
* :mod:`detectors.yara.validator`: citizen-data validators (resident ID check digit, Luhn).
* :mod:`detectors.yara.filetype`: the file externals (name, extension, LOKI's type names).
* :mod:`detectors.yara.alerting`: findings to alerts (metadata, strings, evidence, aggregation).
* :mod:`detectors.yara.detector`: ``YaraDetector``, facts in, alerts out; ``config`` its settings.

Reading rule files from disk is I/O and lives with the composition root (``api.yara_rules``).
"""
