"""Fork and exec one command, wait for it, and write its own resource usage as JSON.

``python -I -S bench/launch.py RESULT_FILE CMD...``. Why a launcher: Linux carries a process's
RSS high-water mark across fork and exec, so a tool started straight from ``bench.run`` (which
holds the capture's lengths, numpy, rich...) would report at least ``bench.run``'s own peak. Forked
from this small, fresh interpreter, a tool's ``ru_maxrss`` starts near 10 MiB, like under
``/usr/bin/time``. Only the standard library, no site-packages: it stays small.
"""

import json
import os
import sys
import time


def main() -> None:
    result_file, cmd = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    with open(result_file, "w") as out:  # noqa: PTH123 (no pathlib import: keep start-up small)
        json.dump(
            {
                "returncode": os.waitstatus_to_exitcode(status),
                "wall_seconds": wall,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "maxrss_kib": usage.ru_maxrss,
            },
            out,
        )


if __name__ == "__main__":
    main()
