from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

from tests.api.conftest import Run

RULES = {"port_scan.vertical", "brute_force.ssh"}


def summary(stdout: str) -> dict:  # type: ignore[type-arg]
    return json.loads(stdout)  # type: ignore[no-any-return]


def test_analyze_finds_the_planted_attacks_and_stores_them(
    run: Run, capture: Path, tmp_path: Path
) -> None:
    result = run("analyze", str(capture), "--store", "s.db", "--json")
    assert result.returncode == 0, result.stderr
    s = summary(result.stdout)
    assert s["packets"] == 40 * 2 + 20 * 7 + 5 * 7
    assert s["flows"] == 40 + 20 + 5
    assert {r["rule_id"] for r in s["top_rules"]} == RULES
    by_rule = {r["rule_id"]: r["occurrences"] for r in s["top_rules"]}
    assert by_rule == {"port_scan.vertical": 40, "brute_force.ssh": 20}
    assert s["alerts_by_severity"] == {"medium": 1, "high": 1}
    assert (tmp_path / "s.db").is_file()

    listed = run("alerts", "list", "--store", "s.db", "--json")
    alerts = json.loads(listed.stdout)["alerts"]
    assert {a["rule"]["id"] for a in alerts} == RULES
    ssh = next(a for a in alerts if a["rule"]["id"] == "brute_force.ssh")
    assert ssh["source"]["ip"] == "203.0.113.200"
    assert ssh["destination"] == {"ip": "198.51.100.22", "port": 22}
    assert ssh["event"]["kind"] == "alert"
    assert ssh["threat"]["technique"]["id"] == ["T1110.001"]


def test_human_summary_names_rules_and_store(run: Run, capture: Path) -> None:
    result = run("analyze", str(capture), "--store", "h.db")
    assert result.returncode == 0, result.stderr
    assert "Analysed 1 capture" in result.stdout
    assert "brute_force.ssh" in result.stdout and "port_scan.vertical" in result.stdout
    assert "h.db" in result.stdout


def test_alert_show_update_and_filters(run: Run, capture: Path) -> None:
    run("analyze", str(capture), "--store", "t.db", "--json")
    alerts = json.loads(run("alerts", "list", "--store", "t.db", "--json").stdout)["alerts"]
    scan = next(a for a in alerts if a["rule"]["id"] == "port_scan.vertical")
    alert_id = scan["event"]["id"]
    shown = run("alerts", "show", alert_id, "--store", "t.db")
    assert shown.returncode == 0 and "198.51.100.10" in shown.stdout and "T1046" in shown.stdout

    refused = run(
        "alerts", "update", alert_id, "--status", "closed", "--actor", "ana", "--store", "t.db"
    )
    assert refused.returncode == 1 and "reason" in refused.stderr.lower()
    done = run("alerts", "update", alert_id, "--status", "closed", "--reason", "true_positive",
               "--actor", "ana", "--store", "t.db")  # fmt: skip
    assert done.returncode == 0, done.stderr
    closed = json.loads(
        run("alerts", "list", "--status", "closed", "--store", "t.db", "--json").stdout
    )
    assert [a["event"]["id"] for a in closed["alerts"]] == [alert_id]
    history = json.loads(run("alerts", "show", alert_id, "--store", "t.db", "--json").stdout)
    assert history["cityshield"]["alert"]["triage_history"][0]["actor"] == "ana"

    by_ip = json.loads(
        run("alerts", "list", "--ip", "203.0.113.0/24", "--store", "t.db", "--json").stdout
    )
    assert [a["rule"]["id"] for a in by_ip["alerts"]] == ["brute_force.ssh"]
    high = json.loads(
        run("alerts", "list", "--min-severity", "high", "--store", "t.db", "--json").stdout
    )
    assert high["total"] == 1


def test_flows_are_stored_with_ecs_fields(run: Run, capture: Path) -> None:
    run("analyze", str(capture), "--store", "f.db", "--json")
    flows = json.loads(
        run("flows", "list", "--ip", "203.0.113.5", "--store", "f.db", "--json").stdout
    )
    assert len(flows) == 5
    f = flows[0]
    assert f["network"]["transport"] == "tcp" and f["destination"]["port"] == 443
    assert f["cityshield"]["flow"]["conn_state"] == "SF"
    assert f["source"]["packets"] == 4 and f["destination"]["packets"] == 3
    assert f["network"]["community_id"].startswith("1:")


def test_eve_output_has_flows_and_alerts(run: Run, capture: Path, tmp_path: Path) -> None:
    result = run("analyze", str(capture), "--no-store", "--eve", "eve.json", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in (tmp_path / "eve.json").read_text().splitlines()]
    datasets = [d["event"].get("dataset") for d in lines]
    assert datasets.count("cityshield.flow") == 65
    assert datasets.count("cityshield.ssh") == 20  # one record of banners per SSH session
    assert [d["event"]["kind"] for d in lines].count("alert") == 2
    ssh = next(d for d in lines if d["event"].get("dataset") == "cityshield.ssh")
    assert ssh["cityshield"]["ssh"]["server"] == "SSH-2.0-OpenSSH_9.6"
    assert not (tmp_path / "cityshield.db").exists()


def test_stdin_and_gzip_give_the_same_result(run: Run, capture: Path, tmp_path: Path) -> None:
    plain = summary(run("analyze", str(capture), "--no-store", "--json").stdout)
    zipped = tmp_path / "c.pcap.gz"
    zipped.write_bytes(gzip.compress(capture.read_bytes()))
    from_gz = summary(run("analyze", str(zipped), "--no-store", "--json").stdout)
    from_stdin = summary(
        run("analyze", "-", "--no-store", "--json", stdin=capture.read_bytes()).stdout
    )
    for s in (from_gz, from_stdin):
        assert (s["packets"], s["flows"], s["alerts"]) == (
            plain["packets"],
            plain["flows"],
            plain["alerts"],
        )


def test_missing_file_is_one_line_and_exit_2(run: Run) -> None:
    result = run("analyze", "nope.pcap")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: nope.pcap: no such file"
    assert "Traceback" not in result.stderr + result.stdout


def test_corrupt_capture_is_reported_with_frame_and_offset(
    run: Run, capture: Path, tmp_path: Path
) -> None:
    data = bytearray(capture.read_bytes())
    data[24 + 8 : 24 + 12] = (0x7FFFFFFF).to_bytes(4, sys.byteorder)  # first record's caplen
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(data))
    result = run("analyze", str(bad), "--no-store")
    assert result.returncode == 2
    assert f"{bad}, frame 1, byte 24: corrupt record" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_capture_and_unknown_link_type(run: Run, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a capture")
    result = run("analyze", str(text), "--no-store")
    assert result.returncode == 2 and "not a pcap or pcapng capture" in result.stderr
    weird = tmp_path / "wpan.pcap"
    weird.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff0000e6000000"))
    result = run("analyze", str(weird), "--no-store")
    assert result.returncode == 2
    assert f"{weird}: unsupported link type unknown (230)" in result.stderr


def test_a_bad_rules_file_names_file_and_key(run: Run, capture: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "heuristics.toml").write_text("[port_scan]\nvertical_min_ports = -3\n")
    config = tmp_path / "cityshield.toml"
    config.write_text(f'[detectors]\nrules_dir = "{rules}"\n')
    result = run("analyze", str(capture), "--config", str(config), "--no-store")
    assert result.returncode == 1
    assert f"{rules / 'heuristics.toml'}: [port_scan] vertical_min_ports" in result.stderr


def test_environment_settings_apply(run: Run, capture: Path) -> None:
    env = {**os.environ, "CITYSHIELD_SENSOR__NAME": "tap-7"}
    run("analyze", str(capture), "--store", "e.db", "--json", env=env)
    alerts = json.loads(run("alerts", "list", "--store", "e.db", "--json").stdout)["alerts"]
    assert {a["observer"]["name"] for a in alerts} == {"tap-7"}


def test_reading_alerts_without_a_store_says_what_to_do(run: Run) -> None:
    result = run("alerts", "list", "--store", "missing.db")
    assert result.returncode == 3
    assert "run `cityshield analyze CAPTURE` first" in result.stderr
