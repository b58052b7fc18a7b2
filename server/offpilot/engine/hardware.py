"""What this machine offers a local model: CPU cores, memory and GPU offload.

GPU offload is probed in a short child process: the language server itself never loads
llama.cpp (see :mod:`offpilot.engine.local`), and a broken accelerated build must not take the
server down with it.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass

from offpilot.engine.modelfile import available_memory

GPU_PROBE_TIMEOUT = 20.0  # seconds; loading a CUDA/Metal/Vulkan build can take a while


def physical_cores() -> int:
    """Physical CPU cores (llama.cpp runs best with one thread per core)."""
    try:
        cores: set[tuple[str, str]] = set()
        phys = core = None
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("physical id"):
                    phys = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":", 1)[1].strip()
                elif not line.strip():
                    if core is not None:
                        cores.add((phys or "0", core))
                    phys = core = None
        if core is not None:
            cores.add((phys or "0", core))
        if cores:
            return len(cores)
    except OSError:
        pass
    # No /proc/cpuinfo (macOS, Windows) or no core ids (some VMs): assume two threads per core.
    return max(1, (os.cpu_count() or 2) // 2)


def total_memory() -> int | None:
    """Bytes of physical memory, or None when the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class GpuSupport:
    offload: bool  # the installed llama.cpp build can offload layers to a GPU
    detail: str  # why not, or which build answered


_PROBE = (
    "import llama_cpp, sys\n"
    "sys.stdout.write('1' if llama_cpp.llama_supports_gpu_offload() else '0')\n"
)


@functools.cache
def gpu_support() -> GpuSupport:
    """Whether the installed llama-cpp-python build supports GPU offload (cached)."""
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                             timeout=GPU_PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return GpuSupport(False, f"could not probe llama-cpp-python: {exc}")
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["unknown error"])[-1]
        return GpuSupport(False, f"llama-cpp-python did not load: {last}")
    if out.stdout.strip() == "1":
        return GpuSupport(True, "llama-cpp-python was built with GPU offload")
    return GpuSupport(False, "llama-cpp-python is a CPU-only build (see docs/models.md to "
                             "install an accelerated build)")


def default_threads(setting: int) -> int:
    """The thread count for a local model: the ``threads`` setting, or the physical cores."""
    return setting if setting > 0 else physical_cores()


def hardware_summary(*, probe_gpu: bool = True) -> dict[str, object]:
    """A plain description of the machine for ``offpilot models list`` and the status view."""
    gpu = gpu_support() if probe_gpu else None
    return {
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count() or 0,
        "total_memory": total_memory(),
        "available_memory": available_memory(),
        "gpu_offload": gpu.offload if gpu else None,
        "gpu_detail": gpu.detail if gpu else "not probed",
    }
