"""Certificates from the wire, parsed with ``cryptography``.

cryptography still loads some certificates that break RFC 5280 (a serial number that is zero or
negative, for one) but warns about them with ``CryptographyDeprecationWarning``, when the field is
read; from a sensor's point of view those are facts about hostile or sloppy input, so they are
collected as problems rather than raised as warnings (which a test suite, or ``-W error``, would
turn into failures).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography import x509


@contextmanager
def warnings_as_problems(problems: list[str]) -> Iterator[None]:
    """Warnings raised inside the block are appended to ``problems`` (cut to 200 characters)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    problems += [str(w.message)[:200] for w in caught]


def load_certificate(der: bytes, problems: list[str]) -> x509.Certificate | None:
    """The certificate, or None when it does not parse (the reason goes to ``problems``). Read
    its fields inside ``warnings_as_problems`` too: some warnings come only then."""
    with warnings_as_problems(problems):
        try:
            return x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion) as exc:
            problems.append(str(exc)[:200])
            return None
