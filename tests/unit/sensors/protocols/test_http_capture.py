"""HTTP through the whole sensor: a capture of TCP segments in, HTTP records, files (extracted)
and ECS documents out."""

from __future__ import annotations

from pathlib import Path

from contentkit import Conversation, facts, run, write_pcap
from httpkit import EICAR, EICAR_SHA256, chunked, gz, request, response

from sensors.protocols.ecs import content_documents


def capture(tmp_path: Path, segment: int = 1460) -> Path:
    c = Conversation("10.1.1.5", "198.51.100.80", 50123, 80).handshake()
    c.say("c", request("GET", "/files/eicar.com", "User-Agent: evader"), segment)
    c.say("s", response(200, "Transfer-Encoding: chunked", "Content-Encoding: gzip",
                        body=chunked(gz(EICAR), 3)), segment)  # fmt: skip
    c.say("c", request("POST", "/upload", "Content-Type: multipart/form-data; boundary=b",
                       body=b'--b\r\nContent-Disposition: form-data; name="f"; '
                            b'filename="s.php"\r\n\r\n<?php eval($_POST[1]); ?>\r\n--b--\r\n'),
          segment)  # fmt: skip
    c.say("s", response(200, body=b"ok"), segment)
    return write_pcap(tmp_path / "http.pcap", c.close().frames)


def test_records_and_files_from_a_capture(tmp_path: Path) -> None:
    for segment in (1460, 7):
        out = tmp_path / f"x{segment}"
        results, engine = run(capture(tmp_path, segment), files={"extract_dir": str(out)})
        f = facts(results)
        assert [(h.method, h.uri, h.status) for h in f.http] == [
            ("GET", "/files/eicar.com", 200), ("POST", "/upload", 200)]  # fmt: skip
        eicar, shell, _ok = f.files
        assert (eicar.name, eicar.sha256, eicar.direction) == ("eicar.com", EICAR_SHA256, "resp")
        assert (shell.name, shell.mime_type, shell.direction) == ("s.php", "text/x-php", "orig")
        assert Path(eicar.extracted or "").read_bytes() == EICAR
        assert engine.content.stats["files_extracted"] == 3
        docs = content_documents(f, "sensor-1")
        assert [d["url"]["original"] for d in docs["http"]] == ["/files/eicar.com", "/upload"]
        assert docs["file"][0]["file"]["hash"]["sha256"] == EICAR_SHA256
        assert docs["file"][0]["file"]["path"] == eicar.extracted
