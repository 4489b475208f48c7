"""``YaraDetector`` on constructed content facts: alerts carry the rule's metadata, strings and
evidence; budgets are counted; overlaps are not reported twice; rules swap between batches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.model import Severity
from detectors.pipeline import DetectionPipeline
from detectors.yara.detector import YaraDetector
from detectors.yara.engine import EngineName
from sensors.events import ContentFacts
from tests.unit.detectors.yara.yarakit import (
    ENGINES,
    FLOW,
    chunk,
    compile_text,
    config,
    file_seen,
    pack,
)

SHELL = b"<?php @eval($_POST['pass']);?>"
UPLOAD = (
    b"POST /upload.php HTTP/1.1\r\nHost: portal\r\n"
    b"Content-Type: multipart/form-data; boundary=b\r\n"
    b'\r\n--b\r\nContent-Disposition: form-data; name="f"; filename="a.php"\r\n\r\n'
    + SHELL
    + b"\r\n--b--\r\n"
)


def detector(engine: EngineName, **changes: object) -> YaraDetector:
    d = YaraDetector(config(engine=engine, **changes), observer="tap-1")
    d.use_rules(pack(engine))
    return d


@pytest.mark.parametrize("engine", ENGINES)
def test_a_webshell_upload_in_a_stream_is_an_alert_with_metadata_and_evidence(
    engine: EngineName,
) -> None:
    alerts = detector(engine).on_stream_chunks([chunk(UPLOAD, offset=1000)])
    assert [a.rule.name for a in alerts] == ["CityShield_Webshell_PHP_Eval_Request"]
    a = alerts[0]
    assert a.rule.id == "yara:webshells_php.yar:CityShield_Webshell_PHP_Eval_Request"
    assert a.severity is Severity.CRITICAL
    assert a.techniques == ["T1505.003"]
    assert a.source is not None and a.source.ip == FLOW.orig_ip
    assert a.destination is not None and a.destination.port == 80
    assert a.community_id == FLOW.community_id
    assert a.evidence.flow_ids == ["f-1"]
    assert a.evidence.capture_file == "portal.pcap"
    assert a.evidence.frames == [4, 9]
    yara = a.data["yara"]
    assert isinstance(yara, dict)
    assert yara["engine"] == engine
    assert yara["meta"]["author"] == "CityShield"  # type: ignore[index]
    strings = yara["strings"]
    assert isinstance(strings, list) and strings
    offsets = {s["id"]: s["offset"] for s in strings}  # type: ignore[index]
    # Offsets are positions in the direction's stream, not in the chunk.
    assert offsets["$sink"] == 1000 + UPLOAD.index(b"eval")
    assert a.data["stream"] == {"direction": "orig", "offset": 1000, "protocol": "http"}
    assert "to server" in a.message


@pytest.mark.parametrize("engine", ENGINES)
def test_matched_strings_are_truncated_and_escaped(engine: EngineName) -> None:
    rules = compile_text(engine, "rule R { strings: $a = /A\\x00\\\\[B]{10,}/ condition: $a }")
    d = YaraDetector(config(engine=engine, alert_string_bytes=8), observer="t")
    d.use_rules(rules)
    (alert,) = d.on_stream_chunks([chunk(b"xxA\x00\\" + b"B" * 100)])
    (s,) = alert.data["yara"]["strings"]  # type: ignore[index, misc]
    assert s == {"id": "$a", "offset": 2, "length": 103, "data": "A\\x00\\x5cBBBBB"}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_match_inside_the_overlap_is_not_reported_again(engine: EngineName) -> None:
    d = detector(engine)
    first = d.on_stream_chunks([chunk(b"x" * 500 + SHELL, offset=0)])
    tail = (b"x" * 500 + SHELL)[-100:]
    again = d.on_stream_chunks([chunk(tail + b"y" * 50, offset=431, overlap=100)])
    across = d.on_stream_chunks([chunk(SHELL[:10], offset=0)]) + d.on_stream_chunks(
        [chunk(SHELL[:10] + SHELL[10:], offset=0, overlap=10)]
    )
    assert len(first) == 1
    assert again == []
    assert len(across) == 1  # a pattern across the boundary is found in the second chunk


@pytest.mark.parametrize("engine", ENGINES)
def test_stream_depth_and_batch_budget_are_counted(engine: EngineName) -> None:
    d = detector(engine, stream_depth=4096, max_batch_bytes=2048)
    late = chunk(b"z" * 1000 + SHELL, offset=5000)  # beyond the depth: not scanned
    partly = chunk(b"z" * 3000 + SHELL, offset=0)  # cut at the batch budget
    assert d.on_stream_chunks([late, partly]) == []
    stats = d.stats()
    assert stats["stream_bytes_skipped"] == len(late.data)
    assert stats["batch_bytes_skipped"] == len(partly.data) - 2048
    assert stats["bytes_scanned"] == 2048


@pytest.mark.parametrize("engine", ENGINES)
def test_encrypted_protocols_are_not_scanned(engine: EngineName) -> None:
    d = detector(engine)
    assert d.on_stream_chunks([chunk(SHELL, protocol="tls")]) == []
    assert d.stats()["scans"] == 0
    d = detector(engine, skip_protocols=[])
    assert len(d.on_stream_chunks([chunk(SHELL, protocol="tls")])) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_files_are_scanned_with_their_name_and_hashes(engine: EngineName) -> None:
    rules = compile_text(
        engine,
        'rule Named { condition: extension == ".php" and filetype == "PHP" and '
        'filename == "a.php" }',
    )
    d = YaraDetector(config(engine=engine), observer="t")
    d.use_rules(rules)
    f = file_seen(b"<?php echo 1; ?>", name="../../a.php")
    (alert,) = d.on_files_seen([f])
    assert alert.data["file"]["sha256"] == f.sha256  # type: ignore[index]
    assert alert.data["file"]["name"] == "../../a.php"  # type: ignore[index]
    assert "upload" in alert.message
    # A stream has no file name: the same rule does not fire on the same bytes in a stream.
    assert d.on_stream_chunks([chunk(f.data)]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_citizen_data_is_confirmed_and_redacted(engine: EngineName) -> None:
    ids = ["440304198503121235", "310101199001014566", "11010519491231002X"]
    bad = ["440304198503121230", "310101199001014560"]  # wrong check digits
    body = ",".join(f'"{v}"' for v in [*ids, *bad]).encode()
    d = detector(engine)
    (alert,) = d.on_files_seen([file_seen(b"[" + body + b"]", name="export.json")])
    validation = alert.data["yara"]["validation"]  # type: ignore[index]
    assert validation == {
        "validator": "cn_resident_id",
        "valid": 3,
        "rejected": 2,
        "sample": ["**************1235", "**************4566", "**************002X"],
    }
    text = alert.model_dump_json()
    assert not any(v in text for v in ids)  # never a full number in an alert
    # Two valid ones are below min_valid: nothing.
    short = ",".join(f'"{v}"' for v in [*ids[:2], *bad]).encode()
    assert d.on_files_seen([file_seen(b"[" + short + b"]")]) == []
    assert d.stats()["candidates_rejected"] == 4


@pytest.mark.parametrize("engine", ENGINES)
def test_a_scan_over_its_time_budget_is_counted_not_raised(engine: EngineName) -> None:
    slow = compile_text(
        engine,
        "rule Slow { condition: for any i in (0..filesize) : "
        "( for any j in (0..filesize) : ( uint8(i) == uint8(j) + 1000 ) ) }",
    )
    d = YaraDetector(config(engine=engine, timeout_seconds=1), observer="t")
    d.use_rules(slow)
    assert d.on_files_seen([file_seen(b"a" * 200_000)]) == []
    assert d.stats()["scan_timeouts"] == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_new_rules_from_the_provider_apply_from_the_next_batch(engine: EngineName) -> None:
    d = YaraDetector(config(engine=engine), observer="t")
    assert d.on_stream_chunks([chunk(SHELL)]) == []  # no rules yet
    offered = [pack(engine)]
    d.rules_provider = lambda: offered.pop() if offered else None
    assert len(d.on_stream_chunks([chunk(SHELL)])) == 1
    other = compile_text(engine, 'rule Other { strings: $a = "zzz" condition: $a }')
    d.rules_provider = lambda: other
    assert d.on_stream_chunks([chunk(SHELL)]) == []
    stats = d.stats()
    assert stats["reloads"] == 1  # the first set is a load, the second a reload
    assert stats["rules"] == 1
    assert stats["matches"] == 1  # kept across the swap


def test_through_the_pipeline_stream_and_file_alerts_aggregate_apart() -> None:
    from dataclasses import replace

    pipeline = DetectionPipeline([detector("yara-x")])
    upload = file_seen(SHELL, name="a.php")
    alerts = pipeline.on_content(ContentFacts(stream_chunks=[chunk(UPLOAD)], files=[upload]))
    by_kind = {("file" if "file" in a.data else "stream"): a for a in alerts}
    assert set(by_kind) == {"stream", "file"}
    assert by_kind["file"].data["file"]["name"] == "a.php"  # type: ignore[index]
    # The same file uploaded over another connection: one file alert, two flows as evidence.
    other = replace(FLOW, flow_id="f-2", orig_port=51001)
    (again,) = pipeline.on_content(ContentFacts(files=[file_seen(SHELL, name="b.php", flow=other)]))
    assert again.id == by_kind["file"].id
    assert again.count == 2
    assert again.evidence.flow_ids == ["f-1", "f-2"]
    assert pipeline.health["yara"].errors == 0


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=4096),
    offset=st.integers(0, 1 << 21),
    overlap=st.integers(0, 5000),
    direction=st.sampled_from(["orig", "resp"]),
)
def test_any_chunk_is_scanned_without_error(
    data: bytes, offset: int, overlap: int, direction: str
) -> None:
    d = FUZZ_DETECTOR
    alerts = d.on_stream_chunks([chunk(data, offset=offset, overlap=overlap, direction=direction)])
    alerts += d.on_files_seen([file_seen(data, name=data[:20].decode("latin-1") or None)])
    for alert in alerts:
        assert alert.rule.id.startswith("yara:")
    assert d.stats()["scan_errors"] == 0


FUZZ_DETECTOR = detector("yara-x")
