"""Live capture on the loopback interface through libpcap: what is sent is what comes out, a BPF
filter is compiled by libpcap, and a full ring drops and counts instead of growing."""

from __future__ import annotations

import os
import random
import socket
import time

import pytest

from cityshield.errors import CaptureError, ConfigError
from sensors.live import LiveCapture, LiveSettings

pytest.importorskip("pcapy", reason="live capture needs pcapy-ng")


def _cannot_capture() -> str | None:
    if os.geteuid() != 0:
        return "live capture needs root (CAP_NET_RAW) to open an interface"
    try:
        LiveCapture("lo").close()
    except CaptureError as exc:  # root without CAP_NET_RAW, as in some containers
        return f"cannot capture on lo here: {exc}"
    return None


_WHY_NOT = _cannot_capture()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=str(_WHY_NOT))


def send(port: int, count: int, size: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            s.sendto(i.to_bytes(4, "big") * (size // 4), ("127.0.0.1", port))


def drain(cap: LiveCapture, expected: int, timeout: float = 30) -> list[bytes]:
    """Payloads of the captured datagrams once ``expected`` packets are accounted for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = cap.counters()
        if c.kernel_received - c.kernel_dropped >= expected:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # the capture thread's last read
    cap.stop()
    frames: list[bytes] = []
    for batch in cap.batches():
        frames += [batch.frame_bytes(i) for i in range(len(batch))]
    return frames


def test_what_is_sent_on_loopback_is_captured_in_order() -> None:
    port = random.randint(20_000, 60_000)
    cap = LiveCapture("lo", f"udp dst port {port}")
    cap.start()
    try:
        send(port, 500, 200)
        frames = drain(cap, 500)
    finally:
        cap.close()
    # Ethernet (14) + IPv4 (20) + UDP (8) + 200 bytes of payload.
    assert [len(f) for f in frames] == [242] * 500
    assert [int.from_bytes(f[42:46], "big") for f in frames] == list(range(500))
    c = cap.counters()
    assert c.packets == 500 and c.ring_dropped == 0 and c.bytes == 500 * 242


def test_a_full_ring_drops_and_counts_what_it_dropped() -> None:
    port = random.randint(20_000, 60_000)
    settings = LiveSettings(ring_mib=1, read_packets=64)
    cap = LiveCapture("lo", f"udp dst port {port}", settings)
    cap.start()
    try:
        send(port, 3000, 1000)  # 3 MB into a 1 MiB ring that nobody empties yet
        frames = drain(cap, 3000)
    finally:
        cap.close()
    c = cap.counters()
    assert c.ring_dropped > 0
    assert len(frames) + c.ring_dropped + c.kernel_dropped == 3000
    assert c.dropped >= c.ring_dropped


def test_a_bpf_filter_that_does_not_compile_names_itself() -> None:
    with pytest.raises(ConfigError, match=r"BPF filter 'tcp port banana' does not compile"):
        LiveCapture("lo", "tcp port banana")


def test_an_unknown_interface_is_a_capture_error_naming_it() -> None:
    with pytest.raises(CaptureError, match="cs-no-such-if"):
        LiveCapture("cs-no-such-if")
