"""BetterTLS path building (Netflix, as exported in rustls/webpki): our checker (``webpki``
profile) against ``cryptography``'s verifier alone, validated at 2023-07-06 (the export's date,
inside every certificate's validity).

Measured: ours 75, cryptography 75 of 81 (the same six: branching cases whose only valid path
needs an intermediate that the verifier's budget-bounded search does not reach first).
"""

from __future__ import annotations

import pytest
from x509_cases import BETTERTLS, NEGATIVE_SERIALS, bettertls_cases
from x509_score import score

pytestmark = [
    pytest.mark.corpus,
    # The suites hold certificates with zero or negative serials on purpose; cryptography warns
    # about them when it first parses them (even lazily, inside the checkers).
    pytest.mark.filterwarnings(NEGATIVE_SERIALS),
    pytest.mark.skipif(not BETTERTLS.is_file(), reason=f"BetterTLS not found at {BETTERTLS}"),
]

SKIPPED: dict[str, str] = {}  # every case is run
MIN_OURS = 75


def test_bettertls_agreement_at_least_cryptography(capsys: pytest.CaptureFixture[str]) -> None:
    result = score(bettertls_cases())
    with capsys.disabled():
        print("\n" + result.table("BetterTLS pathbuilding"))
    assert result.ours["bettertls"] >= result.cryptography["bettertls"], result.cryptography_only
    assert result.ours["bettertls"] >= MIN_OURS
