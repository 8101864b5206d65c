"""The machine a measurement ran on, as `compare` and `benchmark` report it, and the thread count that
suits it while other work shares its cores."""

import os
import platform
from pathlib import Path

import torch


def processor_name() -> str:
    """The CPU's model name ("Intel(R) Xeon(R) Processor"); Python's own guess where /proc/cpuinfo is absent."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages; None where the system does not keep them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def idle_core_threads() -> int:
    """torch's default thread count (one per core), less the cores other work keeps busy (the 1-minute
    load average), at least 1.

    Why: with OpenMP's default busy-waiting, two threads on a machine where another job holds a core
    wait for each other at every parallel region; measured here, a GRU training step took 4.5x longer
    with 2 threads than with 1 while another job ran, and the quick benchmark 4:53 minutes instead of
    about 1:30. On an idle machine this is torch's default.
    """
    load = load_average()
    if load is None:
        return torch.get_num_threads()
    busy = round(load[0])
    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - busy))


def describe() -> dict:
    """Processor, cores, torch threads, GPU, Python and torch versions: what a report names the machine by."""
    return {
        "processor": processor_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
