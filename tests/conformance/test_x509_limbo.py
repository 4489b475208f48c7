"""x509-limbo (C2SP), regenerated at 8a2e6f41: our checker (``webpki`` profile, CRLs given with
the case checked hard-fail) against ``cryptography``'s verifier alone on the same cases.

Measured (2 cores): ours 252, cryptography 248 of 289; ours gains the CRL cases (revocation,
which the verifier does not do) and the weak-key and wildcard cases its policy catches.
"""

from __future__ import annotations

import pytest
from x509_cases import LIMBO, NEGATIVE_SERIALS, limbo_cases
from x509_score import score

pytestmark = [
    pytest.mark.corpus,
    # The suites hold certificates with zero or negative serials on purpose; cryptography warns
    # about them when it first parses them (even lazily, inside the checkers).
    pytest.mark.filterwarnings(NEGATIVE_SERIALS),
    pytest.mark.skipif(not LIMBO.is_file(), reason=f"x509-limbo not found at {LIMBO}"),
]

#: Cases neither checker can be asked, with why.
SKIPPED = {
    "non-DNS/IP server peer names": "none in this snapshot; a server case naming another kind "
    "of peer could not be asked of either checker",
    "client peer names": "not compared (ours and the verifier both answer for the chain; "
    "cryptography's own harness also compares the client's subjects)",
}

#: Floors: a drop below what was measured is a regression to explain.
MIN_OURS = 252


def test_limbo_agreement_at_least_cryptography(capsys: pytest.CaptureFixture[str]) -> None:
    expressible = []
    skipped = 0
    for _, case in limbo_cases():
        if case is None:
            skipped += 1
        else:
            expressible.append(case)
    result = score(expressible)
    with capsys.disabled():
        print("\n" + result.table(f"x509-limbo ({skipped} skipped)"))
    assert sum(result.ours.values()) >= sum(result.cryptography.values()), result.cryptography_only
    for family, count in result.cryptography.items():
        assert result.ours[family] >= count, (family, result.cryptography_only)
    assert sum(result.ours.values()) >= MIN_OURS
    # The CRL family is where revocation shows: the verifier alone accepts revoked chains.
    assert "crl::revoked-certificate-with-crl" in result.ours_only
