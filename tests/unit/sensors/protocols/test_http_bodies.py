"""HTTP bodies: content codings (and their bombs), multipart uploads, files, hashes, MIME types."""

from __future__ import annotations

import hashlib
import zlib

import brotli
import pytest
from httpkit import EICAR, EICAR_SHA256, chunked, gz, parse, request, response

from sensors.protocols.base import ParserLimits
from sensors.protocols.http.files import clean_name, name_from_target
from sensors.protocols.http.mime import sniff

PAGE = b"<!DOCTYPE html><html><body>" + b"Citizen services portal. " * 200 + b"</body></html>"


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gz(PAGE)),
        ("x-gzip", gz(PAGE)),
        ("deflate", zlib.compress(PAGE)),
        ("deflate", raw_deflate(PAGE)),  # no zlib header, as some servers send it
        ("br", brotli.compress(PAGE)),
        ("gzip, br", brotli.compress(gz(PAGE))),
        ("gzip", gz(PAGE[:1000]) + gz(PAGE[1000:])),  # two gzip members
    ],
)  # fmt: skip
def test_content_codings_are_undone_in_any_pieces(coding: str, encoded: bytes) -> None:
    wire = response(200, f"Content-Encoding: {coding}", "Content-Type: text/html", body=encoded)
    for piece in (0, 1, 100):
        facts = parse([("orig", request("GET", "/index.html")), ("resp", wire)], piece=piece)
        (f,) = facts.files
        assert f.data == PAGE and f.sha256 == hashlib.sha256(PAGE).hexdigest(), (coding, piece)
        assert (f.size, f.mime_type, f.name) == (len(PAGE), "text/html", "index.html")
        assert facts.http[0].response_body_len == len(PAGE) and not facts.http[0].problems


def test_chunked_and_gzip_together() -> None:
    wire = response(200, "Transfer-Encoding: chunked", "Content-Encoding: gzip",
                    body=chunked(gz(EICAR), 5))  # fmt: skip
    facts = parse([("orig", request("GET", "/dl/eicar.com")), ("resp", wire)], piece=3)
    (f,) = facts.files
    assert (f.sha256, f.name, f.mime_type) == (EICAR_SHA256, "eicar.com", "text/plain")


def test_a_gzip_bomb_stops_at_the_budget() -> None:
    bomb = gz(bytes(50 * 1024 * 1024))  # 50 MiB of zeros in about 50 KB
    limits = ParserLimits(max_decompressed=1024 * 1024)
    wire = response(200, "Content-Encoding: gzip", body=bomb)
    facts = parse([("orig", request()), ("resp", wire)], limits, piece=1460)
    (h,) = facts.http
    (f,) = facts.files
    assert "decompressed_size_exceeded" in h.problems
    assert f.size == h.response_body_len == 1024 * 1024 and f.truncated


def test_a_brotli_bomb_stops_at_the_budget() -> None:
    bomb = brotli.compress(bytes(20 * 1024 * 1024))
    limits = ParserLimits(max_decompressed=256 * 1024)
    facts = parse([("orig", request()), ("resp", response(200, "Content-Encoding: br", body=bomb))],
                  limits)  # fmt: skip
    assert facts.files[0].size == 256 * 1024
    assert "decompressed_size_exceeded" in facts.http[0].problems


def test_a_body_that_is_not_what_its_coding_says_is_kept_as_sent() -> None:
    facts = parse([("orig", request()),
                   ("resp", response(200, "Content-Encoding: gzip", body=EICAR))])  # fmt: skip
    assert facts.files[0].sha256 == EICAR_SHA256
    assert "gzip_not_encoded" in facts.http[0].problems


def test_a_corrupt_gzip_stream_stops_with_what_was_decoded() -> None:
    body = " ".join(str(i * 7919 % 100003) for i in range(20000)).encode()
    good = gz(body)
    broken = good[: len(good) // 2] + b"\xff" * 40 + good[len(good) // 2 + 40 :]
    facts = parse([("orig", request()),
                   ("resp", response(200, "Content-Encoding: gzip", body=broken))],
                  piece=1000)  # fmt: skip
    assert "content_decoding_error" in facts.http[0].problems
    f = facts.files[0]
    # What was decoded before zlib saw the damage is kept (as a client would have it).
    assert f.data[:1000] == body[:1000] and f.truncated


def test_unknown_codings_pass_the_body_as_sent() -> None:
    facts = parse(
        [
            ("orig", request()),
            ("resp", response(200, "Content-Encoding: zstd", body=b"\x28\xb5\x2f\xfd")),
        ]
    )
    assert facts.files[0].data == b"\x28\xb5\x2f\xfd"
    assert "unsupported_content_coding" in facts.http[0].problems


def raw_deflate_of(data: bytes) -> bytes:
    return raw_deflate(data)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (("Content-Encoding: gzip", "Content-Encoding: gzip"), gz(EICAR)),  # labelled twice
        (("Content-Encoding: gzip, gzip",), gz(gz(EICAR))),
        (("Content-Encoding: deflate",), gz(EICAR)),  # gzip labelled deflate
        (("Content-Encoding: gzip",), raw_deflate(EICAR)),  # raw deflate labelled gzip
        (("Content-Encoding: x-deflate",), zlib.compress(EICAR)),
        (("Content-Encoding: gzip x",), gz(EICAR)),
        (("Content-Encoding: identity, gzip",), gz(EICAR)),
        (("Content-Encoding:\r\n gzip",), gz(EICAR)),  # folded
        (("Content-Encoding: gzip,deflate,gzip",), gz(zlib.compress(gz(EICAR)))),
        (("Transfer-Encoding: chunked", "Transfer-Encoding: x"), chunked(EICAR)),
        (("Transfer-Encoding : chunked",), chunked(EICAR)),
        (("Transfer-Encoding:\r\n chunked",), chunked(EICAR)),
        (("Transfer-Encoding: chUnked", "Content-Length: 10"), chunked(EICAR)),
        (("Transfer-Encoding: chunked",), b"00044\r\n" + EICAR + b"\r\n00\r\n\r\n"),
        (("Transfer-Encoding: chunked",), b"44 \r\n" + EICAR + b"\n0\n\n"),
        (("Transfer-Encoding: chunked",), b"\r\n44;x=y\r\n" + EICAR + b"\r\n"),  # no final
        (("Transfer-Encoding: chunked", "Content-Encoding: gzip"), chunked(gz(EICAR), 1)),
    ],
)  # fmt: skip
def test_evasive_deliveries_of_eicar(headers: tuple[str, ...], body: bytes) -> None:
    """Deliveries in the spirit of noxxi's HTTP evader: what some browser decodes, we decode."""
    for status in (b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"http/1.10 200 ok"):
        wire = b"\r\n".join([status, *(h.encode() for h in headers)]) + b"\r\n\r\n" + body
        facts = parse([("orig", request("GET", "/eicar.com")), ("resp", wire)], piece=11)
        assert [f.sha256 for f in facts.files] == [EICAR_SHA256], (headers, status)
        assert facts.files[0].name == "eicar.com"


def upload(*parts: bytes, boundary: str = "----b0undary", eol: bytes = b"\r\n") -> bytes:
    delim = b"--" + boundary.encode()
    body = b"".join(delim + eol + p for p in parts) + delim + b"--" + eol
    return request("POST", "/upload.php", f"Content-Type: multipart/form-data; boundary={boundary}",
                   body=body)  # fmt: skip


def test_a_multipart_upload_is_split_into_its_files() -> None:
    shell = b"<?php system($_GET['c']); ?>"
    wire = upload(
        b'Content-Disposition: form-data; name="title"\r\n\r\nreport\r\n',
        b'Content-Disposition: form-data; name="f"; filename="shell.php"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + shell + b"\r\n",
        b"Content-Disposition: form-data; name=\"g\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.txt\r\n"
        b"\r\n" + EICAR + b"\r\n",
    )  # fmt: skip
    for piece in (0, 1, 7):
        facts = parse([("orig", wire), ("resp", response(200))], piece=piece)
        (h,) = facts.http
        got = [(f.name, f.mime_type, f.data) for f in facts.files]
        assert got == [("shell.php", "text/x-php", shell), ("报告.txt", "text/plain", EICAR)]
        assert h.request_files == tuple(f.file_id for f in facts.files)
        assert len(set(h.request_files)) == 2 and not h.problems


def test_lenient_multipart_bare_lf_and_no_final_boundary() -> None:
    body = (
        b"--zz\nContent-Disposition: form-data; name=a; filename=x.jsp\n\n<% exec %>\n"
        b'--zz\nContent-Disposition: form-data; name=b; filename="y.aspx"\n\n<%@ Page %>'
    )
    wire = request("POST", "/u", "Content-Type: multipart/form-data; boundary=zz", body=body)
    facts = parse([("orig", wire)])
    assert [(f.name, f.data) for f in facts.files] == [
        ("x.jsp", b"<% exec %>"), ("y.aspx", b"<%@ Page %>")]  # fmt: skip
    assert "multipart_unterminated" in facts.http[0].problems


def test_names_from_traffic_are_names_not_paths() -> None:
    assert clean_name("..\\..\\windows\\system32\\evil.dll") == "evil.dll"
    assert clean_name("../../etc/passwd\x00.jpg") == "passwd.jpg"
    assert clean_name("a" * 1000) == "a" * 255
    assert name_from_target("/d/%2e%2e%2fx.exe?y=1") == "x.exe"
    assert name_from_target("http://h/a/b.zip#frag") == "b.zip"
    assert name_from_target("/") is None


def test_content_disposition_names_a_response_file() -> None:
    facts = parse([("orig", request("GET", "/download?id=3")),
                   ("resp", response(200, 'Content-Disposition: attachment; filename="tax.pdf"',
                                     body=b"%PDF-1.4"))])  # fmt: skip
    assert facts.files[0].name == "tax.pdf"


def test_file_bytes_kept_are_bounded_and_hashes_cover_everything() -> None:
    body = bytes(range(256)) * 4000  # ~1 MB
    limits = ParserLimits(max_file_data=1000)
    facts = parse([("orig", request("PUT", "/f.bin", body=body)), ("resp", response(201))],
                  limits, piece=1460)  # fmt: skip
    (f,) = facts.files
    assert (len(f.data), f.size, f.truncated) == (1000, len(body), True)
    assert (f.md5, f.sha1, f.sha256) == tuple(
        h(body).hexdigest() for h in (hashlib.md5, hashlib.sha1, hashlib.sha256))  # fmt: skip
    assert f.direction == "orig" and facts.http[0].request_body_len == len(body)


def test_file_ids_are_deterministic_and_empty_bodies_are_no_files() -> None:
    steps = [("orig", request("GET", "/a") + request("GET", "/b")),
             ("resp", response(200, body=b"one") + response(200))]  # fmt: skip
    first, again = parse(steps), parse(steps)  # type: ignore[arg-type]
    assert [f.file_id for f in first.files] == [f.file_id for f in again.files]
    assert len(first.files) == 1 and first.http[1].response_files == ()


@pytest.mark.parametrize(
    ("head", "declared", "mime"),
    [
        (b"%PDF-1.7", None, "application/pdf"),
        (b"MZ\x90\x00\x03", None, "application/x-msdownload"),
        (b"\x7fELF\x02\x01\x01" + bytes(60), None, "application/x-executable"),
        (b"PK\x03\x04\x14\x00", "text/plain", "application/zip"),
        (b"  <?php echo 1;", "image/png", "text/x-php"),
        (b"<%@ Page Language=\"C#\" %>", None, "text/x-asp"),
        (b"<?xml version='1.0'?><a/>", None, "text/xml"),
        (b'{"id": 1}', None, "application/json"),
        (b"plain words\r\n", "application/octet-stream", "text/plain"),
        (b"\x00\x01\x02\x03", "application/x-thing; q=1", "application/x-thing"),
        (b"\x00\x01\x02\x03", None, "application/octet-stream"),
        (b"", "text/html", None),
    ],
)  # fmt: skip
def test_mime_types_are_sniffed_from_content(head: bytes, declared: str | None,
                                             mime: str | None) -> None:  # fmt: skip
    assert sniff(head, declared) == mime
