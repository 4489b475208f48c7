"""Run one command in its own process, pinned to one core, and account for it like ``time -v``.

Each run is a fresh process (``taskset -c CPU`` when available, else ``sched_setaffinity`` before
exec) with every common thread-pool variable set to 1, started by the small ``bench/launch.py``,
whose ``os.wait4`` gives that child's own resource usage: peak RSS (the largest of the child and
any helper processes it waited for, e.g. nfstream's meter) and user+system CPU including those
helpers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAUNCHER = Path(__file__).resolve().parent / "launch.py"

SINGLE_THREAD_ENV = dict.fromkeys(
    (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "RAYON_NUM_THREADS",
    ),
    "1",
)


@dataclass(frozen=True, slots=True)
class ProcessRun:
    """One finished process."""

    returncode: int
    wall_seconds: float
    cpu_seconds: float  # user + system, the process and the children it waited for
    peak_rss_mib: float
    stdout: str
    stderr: str

    def last_json(self) -> dict[str, Any] | None:
        """The last stdout line that parses as a JSON object (tools may print warnings first)."""
        text = self.stdout.strip()
        if text.startswith("{") and text.endswith("}"):
            try:  # a pretty-printed object spread over many lines
                value = json.loads(text)
                return value if isinstance(value, dict) else None
            except ValueError:
                pass
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    return value
        return None


@dataclass(slots=True)
class Runner:
    """Starts pinned, single-threaded processes."""

    cpu: int = 0
    cwd: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def pinning(self) -> str:
        if shutil.which("taskset"):
            return f"taskset -c {self.cpu}"
        if hasattr(os, "sched_setaffinity"):
            return f"sched_setaffinity({{{self.cpu}}})"
        return "none (no taskset or sched_setaffinity here)"

    def run(
        self, argv: Sequence[str], *, timeout: float | None = None, discard_stdout: bool = False
    ) -> ProcessRun:
        env = {**os.environ, **SINGLE_THREAD_ENV, **self.extra_env}
        preexec: Callable[[], None] | None = None
        prefix: list[str] = []
        taskset = shutil.which("taskset")
        if taskset:
            prefix = [taskset, "-c", str(self.cpu)]
        elif hasattr(os, "sched_setaffinity"):
            cpu = self.cpu

            def preexec() -> None:
                os.sched_setaffinity(0, {cpu})

        # Output goes to files, not pipes: the child never blocks on a full pipe, and reading it
        # does not overlap the measured time.
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            tempfile.NamedTemporaryFile(suffix=".json") as usage_file,
        ):
            cmd = [*prefix, sys.executable, "-I", "-S", str(LAUNCHER), usage_file.name, *argv]
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL if discard_stdout else out,
                stderr=err,
                env=env,
                cwd=self.cwd,
                preexec_fn=preexec,
                start_new_session=True,  # one process group: a timeout kills the tool too
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            stderr = err.read().decode("utf-8", "replace")
            raw = Path(usage_file.name).read_text()
        usage = json.loads(raw) if raw else {}
        if not usage:
            return ProcessRun(
                proc.returncode or -9, 0.0, 0.0, 0.0, stdout, stderr + "\n(timed out)"
            )
        return ProcessRun(
            returncode=usage["returncode"],
            wall_seconds=usage["wall_seconds"],
            cpu_seconds=usage["cpu_seconds"],
            peak_rss_mib=usage["maxrss_kib"] / 1024,  # Linux reports KiB
            stdout=stdout,
            stderr=stderr,
        )
