"""The CPU a measurement ran on, for the tables of benchmarks and tools/compare.py."""
import platform
from pathlib import Path


def cpu_name() -> str:
    """The model name of ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
