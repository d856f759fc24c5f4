"""Timing one module's pass with convlib.bench's timing path: a helper only the tests use
(test_bench, test_roofline), moved here from convlib.bench, which no chapter or module called."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from convlib import bench
from convlib._checks import as_int, as_module, as_positive_number, as_shape
from convlib.device import as_device


@dataclass(frozen=True)
class Timing:
    """One timed pass. Times in seconds, FLOPs in FLOP (1 multiply-add = 2), bytes in bytes."""

    label: str
    mode: str
    device: str
    threads: int
    input_shape: tuple[int, ...]
    median_s: float
    iqr_s: float
    runs: int  # per-call times the median is taken over (one per block of calls)
    flops: int
    bytes: int
    clock: str = "wall"
    times_s: tuple[float, ...] = field(default=(), repr=False)

    @property
    def achieved_flops(self) -> float:
        """FLOP/s: ``flops / median_s``."""
        return self.flops / self.median_s

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOP/byte: ``flops / bytes``."""
        return self.flops / self.bytes

    def to_dict(self, times: bool = False) -> dict[str, Any]:
        """Plain JSON-ready dict (``input_shape`` as a list); per-call times only if ``times``."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["times_s"] = list(self.times_s)
        if not times:
            del data["times_s"]
        return data


def _as_device(device: Any, module: nn.Module) -> torch.device:
    """``device`` as a ``torch.device``; None means the device of ``module``'s first tensor."""
    if device is not None:
        return as_device(device)
    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _check_timing_args(module: Any, input_shape: Any, mode: Any, min_run_time: Any,
                       min_runs: Any, threads: Any, warmup: Any) -> tuple:
    as_module("module", module)
    return (as_shape("input_shape", input_shape), bench.as_mode(mode),
            as_positive_number("min_run_time", min_run_time), as_int("min_runs", min_runs),
            bench.as_threads(threads), as_int("warmup", warmup, minimum=0))


def time_module(
    module: nn.Module,
    input_shape: Sequence[int],
    *,
    mode: str = "forward",
    min_run_time: float = 0.2,
    min_runs: int = 5,
    threads: int | None = None,
    warmup: int = 2,
    device: str | torch.device | None = None,
    label: str | None = None,
    clock: str = "wall",
) -> Timing:
    """Time one pass of ``mode`` of ``module`` on a random input of ``input_shape``.

    Median and IQR of the per-call times of at least ``min_runs`` blocks of
    ``Timer.blocked_autorange(min_run_time)``, after ``warmup`` untimed calls, with ``threads``
    CPU threads (default: ``torch.get_num_threads()``), read on ``clock`` (``"wall"`` or ``"cpu"``,
    see the module docstring). ``device`` defaults to the module's; another device times a copy of
    the module there. Raises ``TypeError``/``ValueError`` naming a bad argument.
    """
    shape, mode, min_run_time, min_runs, threads, warmup = _check_timing_args(
        module, input_shape, mode, min_run_time, min_runs, threads, warmup)
    target = _as_device(device, module)
    clock = bench.as_clock(clock, target, threads)
    flops, nbytes = bench.pass_flops(module, shape, mode), bench.bytes_moved(module, shape, mode)
    if target != _as_device(None, module):
        module = copy.deepcopy(module).to(target)
    fn = bench.pass_function(module, shape, mode, target)
    with bench.torch_threads(threads):
        for _ in range(warmup):
            fn()
    timed = bench.measure(fn, threads=threads, min_run_time=min_run_time, min_runs=min_runs,
                          clock=clock)
    return Timing(label or type(module).__name__, mode, bench.device_label(target, threads),
                  threads, shape, timed.median, timed.iqr, len(timed.times), flops, nbytes, clock,
                  tuple(timed.times))
