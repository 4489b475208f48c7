"""The deterministic gzip encoder: any inflater reads it back, and its bytes never change."""

from __future__ import annotations

import gzip
import random
import zlib

import pytest

from api.demo.deflate import deflate, gzip_compress
from api.demo.http import PAGES

_CASES = {
    "empty": b"",
    "one byte": b"a",
    "longest match": b"z" * 1000,  # runs of 258, the longest DEFLATE match
    "random": random.Random(3).randbytes(3000),  # literals 144-255 take 9-bit codes
    "beyond the window": random.Random(4).randbytes(5000) * 9,  # repeats 45 kB apart
    "html": PAGES["/services"][1],
}


@pytest.mark.parametrize("data", _CASES.values(), ids=_CASES.keys())
def test_round_trip(data: bytes) -> None:
    assert zlib.decompress(deflate(data), wbits=-15) == data
    assert gzip.decompress(gzip_compress(data)) == data


def test_html_shrinks() -> None:
    html = PAGES["/services"][1]
    assert len(gzip_compress(html)) < len(html) * 2 // 3


def test_bytes_are_fixed() -> None:
    # A literal, so that a change to the encoder (which would change the demo capture) shows here.
    assert deflate(b"hello hello hello!") == bytes.fromhex("cb48cdc9c95740221501")
    assert gzip_compress(b"ab") == bytes.fromhex("1f8b08000000000000034b4c02006d48839e02000000")
