"""The peak memory of an ``isrcdb`` run, as the process itself saw it.

``ru_maxrss`` of a child is no measure here: Linux carries the parent's high-water mark over ``fork`` and
``exec``, so every child of a test process that has grown to 200 MB reports at least 200 MB. The child instead
reads its own high-water mark (``VmHWM``, counted from its ``exec``) as it exits and writes it to a file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PEAK_FILE = "ISRCDB_TEST_PEAK_FILE"

_WRAPPER = """import atexit, os, runpy, sys
def _report():
    with open('/proc/self/status') as status:
        kib = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    with open(os.environ['ISRCDB_TEST_PEAK_FILE'], 'w') as out:
        out.write(kib)
atexit.register(_report)
sys.argv[0] = 'isrcdb'
runpy.run_module('isrcdb', run_name='__main__', alter_sys=True)
"""


def measured_command(*args: str) -> list[str]:
    """``python -m isrcdb ARGS``, reporting its peak memory to the file named by ``ISRCDB_TEST_PEAK_FILE``."""
    return [sys.executable, "-c", _WRAPPER, *args]


def peak_environment(directory: Path) -> tuple[dict[str, str], Path]:
    """The environment for :func:`measured_command`, and the file its peak lands in."""
    path = directory / f"peak-{os.getpid()}-{len(list(directory.glob('peak-*')))}.txt"
    return {**os.environ, PEAK_FILE: str(path)}, path


def read_peak_mib(path: Path) -> float:
    """The peak resident memory the run reported, in MiB (``inf`` when it reported none: it did not exit cleanly)."""
    try:
        return int(path.read_text()) / 1024
    except (OSError, ValueError):
        return float("inf")
