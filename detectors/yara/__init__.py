"""YARA content detection: rule packs compiled by yara-x or yara-python, scans of reassembled
streams and decoded files within budgets, and alerts with the rule's metadata and evidence.

* :mod:`detectors.yara.engine`: the small engine interface and the engines by name.
* :mod:`detectors.yara.engine_x`, :mod:`detectors.yara.engine_python`: the two engines; a rule
  file that does not compile is reported with file and line, and the others load.
* :mod:`detectors.yara.scanner`: one buffer scanned within the budgets, candidates validated.
* :mod:`detectors.yara.validator`: citizen-data validators (resident ID check digit, Luhn).
* :mod:`detectors.yara.detector`: ``YaraDetector``, facts in, alerts out.

Reading rule files from disk is I/O and lives with the composition root (``api.yara_rules``).
"""
