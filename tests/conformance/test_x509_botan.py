"""Botan's path validation data (x509test, name_constraints, extended, path_building, pss_certs)
run as Botan's own tests run them (see ``x509_cases.botan_cases``): our checker (``webpki``
profile) against ``cryptography``'s verifier alone, scored on accept/reject.

Measured: ours 331, cryptography 331 of 436. Ours gains the name-constraint cases where a TLS
server certificate has no subjectAltName (RFC 9525 allows no common-name fallback, so our policy
rejects it, as Botan expects for the invalid ones) and loses the valid ones of the same kind.
"""

from __future__ import annotations

import pytest
from x509_cases import BOTAN, NEGATIVE_SERIALS, botan_cases
from x509_score import score

pytestmark = [
    pytest.mark.corpus,
    # The suites hold certificates with zero or negative serials on purpose; cryptography warns
    # about them when it first parses them (even lazily, inside the checkers).
    pytest.mark.filterwarnings(NEGATIVE_SERIALS),
    pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning"),  # C=USA cases
    pytest.mark.skipif(not BOTAN.is_dir(), reason=f"Botan's x509 data not found at {BOTAN}"),
]

#: Folders and cases not run, with why.
SKIPPED = {
    "bsi/, nist/": "listed in SOURCES.md but absent from the corpus snapshot",
    "pss_certs with a .crl or .csr, or without root.crt": "Botan checks a CRL's or a CSR's "
    "signature there, or a lone certificate's self-signature, not a path",
    "*.vec": "DN and GeneralName parsing vectors, not path validation",
}
MIN_OURS = 331


def test_botan_agreement_at_least_cryptography(capsys: pytest.CaptureFixture[str]) -> None:
    result = score(botan_cases())
    with capsys.disabled():
        print("\n" + result.table("Botan x509 path validation"))
    assert sum(result.ours.values()) >= sum(result.cryptography.values()), result.cryptography_only
    assert sum(result.ours.values()) >= MIN_OURS
