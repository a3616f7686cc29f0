"""How many samples the torch engine attacks at once: the largest batch that fits the device.

A gradient attack's batch is bounded by the memory of one forward+backward pass of the
model; bigger batches amortise the per-call work of every step (kernel launches on a GPU,
the Python of the attack loop everywhere). The bound is found once per (model, input
shape, device) and kept, in the process and under the per-user cache
(`dii_hpc.cache.cache_dir("batch-sizes")`, a JSON file per key), so later attacks and later
processes on the same device type pay nothing:
- CUDA: the largest power of two whose forward+backward runs, doubling until the device
  says out of memory (or `MAX_BATCH`); half of it is used (the attack's own tensors and
  the allocator's fragmentation need the rest);
- CPU: the bytes one sample keeps for the backward pass (the tensors autograd saves,
  measured on a batch of two), against a quarter of the memory available now (the
  cgroup's limit where a Slurm job has one): memory, not speed, bounds a CPU batch.
The batch never changes an outcome: every attack of the engine treats samples
independently (its random draws are per sample).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

MAX_BATCH = 4096  # beyond this no device runs a step faster per sample
CPU_SHARE = 0.25  # of the available memory, for one attack's activations
_KNOWN: dict[str, dict[str, Any]] = {}  # key -> what the cache file holds
PROBES: list[str] = []  # keys probed by this process (tests read it)


def key(module: Any, shape: tuple[int, ...], device: Any) -> str:
    """Model fingerprint (architecture, parameter shapes and dtypes) + input shape + device."""
    import torch

    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    params = [(n, tuple(p.shape), str(p.dtype)) for n, p in module.named_parameters()]
    text = json.dumps([repr(module), params, list(shape), dev.type, name, torch.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def size(target: Any, x: Any) -> int:
    """The batch for attacking `x` (a tensor of samples) with `target`'s model: the
    device's bound for this model, at most len(x) (at least 1)."""
    shape = tuple(int(d) for d in x.shape[1:])
    return max(1, min(len(x), bound(target.module, shape, target.device)))


def bound(module: Any, shape: tuple[int, ...], device: Any) -> int:
    """The largest batch for (module, shape, device), from the caches or measured once."""
    import torch

    k = key(module, shape, device)
    entry = _KNOWN.get(k) or _read(k)
    if entry is None:
        PROBES.append(k)
        if torch.device(device).type == "cuda":
            entry = {"max_batch": _probe_cuda(module, shape, device)}
        else:
            entry = {"sample_bytes": _sample_bytes(module, shape, device)}
        _write(k, entry)
    _KNOWN[k] = entry
    if "max_batch" in entry:
        return int(entry["max_batch"])
    per = max(int(entry["sample_bytes"]), 1)
    return int(min(MAX_BATCH, max(1, CPU_SHARE * available_bytes() // per)))


def _path(k: str) -> Path:
    from dii_hpc.cache import cache_dir

    return cache_dir("batch-sizes") / f"{k}.json"


def _read(k: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(_path(k).read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry else None


def _write(k: str, entry: dict[str, Any]) -> None:
    """Best effort: a cache that cannot be written costs a probe next time, nothing else."""
    path = _path(k)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(entry))
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _step(module: Any, x: Any) -> None:
    """One forward and input-gradient backward, as an attack step does."""
    import torch

    x = x.requires_grad_(True)
    with torch.enable_grad():
        out = module(x)
        torch.autograd.grad(out.float().logsumexp(1).sum(), [x])


def _sample_bytes(module: Any, shape: tuple[int, ...], device: Any) -> int:
    """Bytes autograd keeps per sample for the backward pass (a batch of two, halved)."""
    import torch

    saved = 0

    def pack(t: Any) -> Any:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _step(module, torch.zeros((2, *shape), device=device))
    inputs = 4 * 4 * int(torch.tensor(shape).prod())  # x, gradient, best point, momentum
    return saved // 2 + inputs


def available_bytes() -> int:
    """Memory this process may still use: MemAvailable, or less under a cgroup limit."""
    avail = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(avail, 1 << 28)


def _probe_cuda(module: Any, shape: tuple[int, ...], device: Any) -> int:
    """The largest power of two (up to MAX_BATCH) whose step runs on the GPU."""
    import torch

    batch, fits = 1, 0
    while batch <= MAX_BATCH:
        try:
            _step(module, torch.zeros((batch, *shape), device=device))
            torch.cuda.synchronize(device)
            fits, batch = batch, batch * 2
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            torch.cuda.empty_cache()
    return max(fits // 2 if fits >= 2 else fits, 1)  # headroom for the attack's own tensors
