"""Run a command; print its wall seconds and peak RSS (KiB) as ``SECONDS KIB``.

Linux keeps a process's peak RSS across exec, and a child starts from its parent's
(fork copies the high-water mark; vfork shares it). Spawned from the big benchmark
process, every child would report the benchmark's own peak, so children are spawned
from this small launcher instead.

    python bench/peak_rss.py COMMAND [ARG...]
"""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    argv = sys.argv[1:]
    started = time.perf_counter()
    # The command's own output is not ours to print; only the measurement is.
    quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=quiet)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    print(f"{elapsed:.6f} {usage.ru_maxrss}")
    return code


if __name__ == "__main__":
    sys.exit(main())
