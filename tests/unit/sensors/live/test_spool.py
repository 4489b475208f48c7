"""The agent's disk spool: ordered replay, acknowledgement, crash safety, the size bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensors.agent.spool import DiskSpool


def spool(path: Path, **kw: object) -> DiskSpool:
    return DiskSpool(path, max_bytes=int(kw.pop("max_bytes", 1 << 20)), **kw)  # type: ignore[arg-type]


def test_batches_replay_in_order_and_acked_ones_are_gone(tmp_path: Path) -> None:
    s = spool(tmp_path, segment_bytes=100)
    seqs = [s.append(lambda seq: f"batch {seq}".encode() * 3) for _ in range(6)]
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert [s.read(e) for e in s.pending()][:2] == [b"batch 1" * 3, b"batch 2" * 3]
    segments = sorted(tmp_path.glob("*.spool"))
    assert len(segments) > 1  # rotated by size
    s.ack(4)
    assert [e.seq for e in s.pending()] == [5, 6]
    assert len(sorted(tmp_path.glob("*.spool"))) < len(segments)  # acknowledged segments deleted
    s.close()
    again = spool(tmp_path, segment_bytes=100)
    assert [e.seq for e in again.pending()] == [5, 6]
    assert again.append(lambda seq: b"x") == 7  # sequence numbers go on, never reused
    again.close()


def test_a_torn_last_record_is_cut_off_and_the_rest_kept(tmp_path: Path) -> None:
    s = spool(tmp_path)
    for _ in range(3):
        s.append(lambda seq: b"payload %d" % seq)
    s.close()
    [segment] = tmp_path.glob("*.spool")
    data = segment.read_bytes()
    segment.write_bytes(data[:-4])  # a crash in the middle of the third record
    again = spool(tmp_path)
    assert [again.read(e) for e in again.pending()] == [b"payload 1", b"payload 2"]
    assert again.append(lambda seq: b"payload %d" % seq) == 3
    assert [again.read(e) for e in again.pending()][-1] == b"payload 3"
    again.close()


def test_a_corrupt_record_stops_the_index_there(tmp_path: Path) -> None:
    s = spool(tmp_path)
    for _ in range(3):
        s.append(lambda seq: b"abcdefgh")
    s.close()
    [segment] = tmp_path.glob("*.spool")
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit in the second record
    segment.write_bytes(bytes(data))
    again = spool(tmp_path)
    assert [e.seq for e in again.pending()] == [1]
    again.close()


def test_a_full_spool_refuses_and_counts(tmp_path: Path) -> None:
    s = spool(tmp_path, max_bytes=200)
    assert s.append(lambda seq: b"x" * 100) == 1
    assert s.append(lambda seq: b"y" * 100) is None
    assert s.refused == 1 and s.size <= 200
    s.ack(1)
    s.close()


def test_batch_ids_carry_the_spools_epoch(tmp_path: Path) -> None:
    a = spool(tmp_path / "a")
    b = spool(tmp_path / "b")
    assert a.batch_id("tap-1", 3) == f"tap-1/{a.epoch}/000000000003"
    assert a.batch_id("tap-1", 3) != b.batch_id("tap-1", 3)
    assert spool(tmp_path / "a").epoch == a.epoch
    a.close()
    b.close()


@pytest.mark.parametrize("policy", ["always", "segment", "never"])
def test_every_fsync_policy_keeps_what_was_appended(tmp_path: Path, policy: str) -> None:
    s = spool(tmp_path, fsync=policy)
    s.append(lambda seq: b"one")
    s.close()
    again = spool(tmp_path, fsync=policy)
    assert [e.seq for e in again.pending()] == [1]
    again.close()


def test_a_full_disk_leaves_no_torn_record_behind(tmp_path: Path) -> None:
    import os
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (a disk that fills up)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        s = spool(mnt, fsync="never", max_bytes=1 << 20)
        assert s.append(lambda seq: b"a" * 20_000) == 1
        with pytest.raises(OSError):
            s.append(lambda seq: b"b" * 60_000)  # does not fit on the disk
        assert s.append(lambda seq: b"c" * 20_000) == 2  # the next one still fits, readable
        assert [s.read(e)[:1] for e in s.pending()] == [b"a", b"c"]
        s.close()
        again = spool(mnt)
        assert [(e.seq, again.read(e)[:1]) for e in again.pending()] == [(1, b"a"), (2, b"c")]
        again.close()
    finally:
        # Lazy: a spool left open by a failing assertion must not keep the mount behind.
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
