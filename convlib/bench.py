"""Timing a layer's forward (and backward) pass, and what the timing means: FLOP/s and bytes.

Fewer weights, fewer FLOPs and less time are three different things. This module measures the
third and relates it to the other two.

Timing (:func:`measure`). ``torch.utils.benchmark.Timer`` runs the pass: it sets the number
of CPU threads (``threads``, default ``torch.get_num_threads()``), synchronises CUDA around each
block of calls, and its block-size estimate serves as a warm-up; ``warmup`` further calls are
made before it and never timed. ``Timer.blocked_autorange(min_run_time)`` collects blocks of
calls for at least ``min_run_time`` seconds; further blocks are added until there are at least
``min_runs``. The result is the **median** time per call and the inter-quartile range (IQR,
``q75 - q25``) of the per-call times of the blocks, as ``torch.utils.benchmark``'s
``Measurement`` computes them.

:func:`measure` is the one timing loop of convlib: :func:`convlib.latency.measure_layers` calls
it; :func:`pass_function` makes the function one call of which is one pass of a module.

Clocks (``CLOCKS``): ``"wall"`` (default) is wall-clock time (``timeit.default_timer``, with
the accelerator synchronised, as ``Timer`` does by default). ``"cpu"`` is the process's CPU time
(``time.process_time``), allowed only on the CPU with one thread: it does not count the time the
process waits while other programs use the core, so on a machine shared with other jobs it
estimates what the wall clock would read on a quiet machine (cache and memory-bandwidth
contention from the other jobs still count). With several threads the process's CPU time is the
sum over its threads, not a duration, hence the restriction.

Modes (``MODES``):

- ``"forward"``: one forward pass under ``torch.no_grad()`` (inference; autograd records nothing).
- ``"forward_backward"``: one forward pass and the backward pass that computes the gradients of
  the input (it ``requires_grad``, as for any layer inside a network) and of every parameter,
  with ``torch.autograd.grad`` (no accumulation into ``.grad``); the output gradient is fixed.

FLOPs (:func:`pass_flops`, 1 multiply-add = 2 FLOPs): the forward pass is counted by
:func:`convlib.flops.count_flops` (PyTorch's ``FlopCounterMode``: convolutions and matrix
products only). Forward plus backward is counted as **3 x forward**: a convolution's backward
computes the input gradient and the weight gradient, each with exactly the multiply-adds of the
forward pass. (``FlopCounterMode`` can count a real backward pass, but its weight-gradient formula
ignores ``groups``: it counts a grouped convolution's weight gradient ``groups`` times too high, so
a depthwise block would look ~20x more expensive to train than to run. 3 x forward is the
exact count.)

Bytes (:func:`bytes_moved`), the *memory model*: every leaf module reads each of its input
tensors once, reads each of its parameters once and writes each of its outputs once, at the
tensors' own element size (4 bytes in float32). Per leaf with input ``I``, output ``O`` and
parameter bytes ``W``::

    forward           I + W + O
    backward          O (output gradient, read) + I (saved input, read) + W (read)
                      + I (input gradient, written) + W (parameter gradients, written)
    forward_backward  3 I + 2 O + 3 W

A block's bytes are the sum over its leaves, so the tensor between two convolutions is written
once and read once, as eager PyTorch does. This is the traffic of an ideal unfused
implementation: real kernels move more (re-read tiles, im2col buffers, workspaces); a tensor
that stays in cache between two layers moves less to and from main memory.

Arithmetic intensity = FLOPs / bytes (FLOP/byte); achieved = FLOPs / median time (FLOP/s).
See :mod:`convlib.roofline` for the machine's peaks and :mod:`convlib.latency` for the
chapter-8 comparison built on these measurements.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from convlib._checks import as_choice, as_int, as_module, as_positive_number, as_shape
from convlib.device import device_name
from convlib.flops import count_flops

MODES = ("forward", "forward_backward")
CLOCKS = ("wall", "cpu")
FORWARD_BACKWARD_FACTOR = 3
"""Forward + backward FLOPs over forward FLOPs: input gradient + weight gradient + forward."""


# ---------------------------------------------------------------------------- argument checks


def as_mode(mode: Any) -> str:
    """``mode`` if it is one of :data:`MODES`."""
    return as_choice("mode", mode, MODES)


def as_clock(clock: Any, device: Any = "cpu", threads: int = 1) -> str:
    """``clock`` if it is one of ``CLOCKS`` and usable here: ``"cpu"`` needs the CPU and one
    thread (the process's CPU time sums over threads)."""
    as_choice("clock", clock, CLOCKS)
    if clock == "cpu" and (torch.device(device).type != "cpu" or threads != 1):
        raise ValueError(f"clock='cpu' (process CPU time) needs the CPU and threads=1; got device "
                         f"{str(device)!r} with threads={threads}")
    return clock


def clock_function(clock: str) -> Callable[[], float]:
    """The function that reads ``clock``: Timer's default (synchronising) timer or
    ``time.process_time``."""
    if as_clock(clock) == "cpu":
        return time.process_time
    return _benchmark().utils.timer.timer


def as_threads(threads: Any) -> int:
    """``threads`` as a positive int; None means ``torch.get_num_threads()``."""
    return torch.get_num_threads() if threads is None else as_int("threads", threads)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the ``with`` body with ``torch.set_num_threads(threads)``; restore the count after."""
    threads = as_int("threads", threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def device_label(device: torch.device, threads: int) -> str:
    """The device's human name (:func:`convlib.device.device_name`) with ``threads`` CPU threads."""
    with torch_threads(threads):
        return device_name(torch.device(device))


# ---------------------------------------------------------------------------- FLOPs and bytes


def _meta_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` on the meta device: shapes only, no memory, no arithmetic (its
    parameters and buffers are replaced by meta tensors of the same shape and dtype, never
    copied)."""
    memo: dict[int, Any] = {}
    for parameter in module.parameters():
        memo[id(parameter)] = nn.Parameter(torch.empty_like(parameter, device="meta"),
                                           requires_grad=parameter.requires_grad)
    for buffer in module.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device="meta")
    return copy.deepcopy(module, memo)


def _input_dtype(module: nn.Module) -> torch.dtype:
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def pass_flops(module: nn.Module, input_shape: Sequence[int], mode: str = "forward") -> int:
    """FLOPs of one pass of ``mode`` (1 multiply-add = 2 FLOPs).

    ``forward``: :func:`convlib.flops.count_flops` (convolutions and matrix products only).
    ``forward_backward``: ``3 * forward`` (input gradient + weight gradient + forward; see the
    module docstring for why ``FlopCounterMode``'s own backward count is not used).
    The count runs on a meta-device copy of ``module``: instant, whatever the layer's size.
    """
    as_module("module", module)
    shape = as_shape("input_shape", input_shape)
    factor = FORWARD_BACKWARD_FACTOR if as_mode(mode) == "forward_backward" else 1
    return factor * count_flops(_meta_copy(module), shape)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _nbytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def leaf_traffic(module: nn.Module, input_shape: Sequence[int]) -> list[dict[str, Any]]:
    """Per leaf module called in one forward pass: its name and the bytes of its inputs
    (``input``), parameters (``params``) and outputs (``output``), in call order.

    Runs on a meta-device copy (shapes only). A leaf called twice appears twice.
    """
    as_module("module", module)
    shape = as_shape("input_shape", input_shape)
    meta = _meta_copy(module)
    calls: list[dict[str, Any]] = []
    handles = []
    for name, leaf in meta.named_modules():
        if next(leaf.children(), None) is not None:
            continue

        def hook(mod: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
            calls.append({"name": name or type(mod).__name__,
                          "input": _nbytes(_tensors(inputs)),
                          "params": _nbytes(mod.parameters(recurse=False)),
                          "output": _nbytes(_tensors(output))})

        handles.append(leaf.register_forward_hook(hook))
    try:
        with torch.no_grad():
            try:
                meta(torch.zeros(shape, dtype=_input_dtype(module), device="meta"))
            except RuntimeError as error:
                raise ValueError(f"input_shape {shape} does not fit the module: {error}") from error
    finally:
        for handle in handles:
            handle.remove()
    return calls


def bytes_moved(module: nn.Module, input_shape: Sequence[int], mode: str = "forward") -> int:
    """Bytes one pass of ``mode`` moves under the memory model of the module docstring:
    per leaf, forward ``I + W + O``; forward + backward ``3 I + 2 O + 3 W`` (each tensor read or
    written once per use; float32 tensors count 4 bytes per element)."""
    mode = as_mode(mode)
    total = 0
    for call in leaf_traffic(module, input_shape):
        i, w, o = call["input"], call["params"], call["output"]
        total += i + w + o if mode == "forward" else 3 * i + 2 * o + 3 * w
    return total


# ---------------------------------------------------------------------------- timing


def _benchmark() -> Any:
    """``torch.utils.benchmark``, imported on first use: the import takes about 0.25 s and pulls in
    ``torch.utils.cpp_extension``, which logs a warning on machines with a CUDA toolkit folder but
    no GPU; that warning says nothing about timing, so it is silenced during the import."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import torch.utils.benchmark as benchmark  # deferred: see the docstring
    finally:
        log.setLevel(level)
    return benchmark


def measurement(times: Sequence[float], label: str = "fn()") -> Any:
    """A ``torch.utils.benchmark.Measurement`` of per-call ``times`` (seconds, one call each):
    its ``median``, ``iqr`` (``q75 - q25``, linear interpolation) and ``times``."""
    if len(times) == 0:
        raise ValueError("times must not be empty")
    common = _benchmark().utils.common
    return common.Measurement(number_per_run=1, raw_times=[float(t) for t in times],
                              task_spec=common.TaskSpec(stmt=label, setup=""))


def pass_function(module: nn.Module, input_shape: tuple[int, ...], mode: str,
                  device: torch.device) -> Callable[[], Any]:
    """The function one call of which is one pass of ``mode`` (inputs made once, here)."""
    dtype = _input_dtype(module)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(input_shape, generator=generator, dtype=dtype).to(device)
    if as_mode(mode) == "forward":
        def forward() -> Any:
            with torch.no_grad():
                return module(x)
        return forward
    x.requires_grad_(True)
    wrt = [x] + [p for p in module.parameters() if p.requires_grad]
    with torch.no_grad():
        grad_output = torch.ones_like(module(x))

    def forward_backward() -> Any:
        return torch.autograd.grad(module(x), wrt, grad_output)
    return forward_backward


def _timer(fn: Callable[[], Any], threads: int | None, clock: str) -> Any:
    """A ``torch.utils.benchmark.Timer`` of ``fn()`` with ``threads`` threads, read on ``clock``."""
    return _benchmark().Timer(stmt="fn()", globals={"fn": fn}, num_threads=as_threads(threads),
                              timer=clock_function(clock))


def measure(fn: Callable[[], Any], *, threads: int | None = None, min_run_time: float = 0.2,
            min_runs: int = 5, clock: str = "wall") -> Any:
    """Time ``fn()``: ``Timer.blocked_autorange(min_run_time)``, then more blocks of the same size
    until there are ``min_runs``, with ``threads`` CPU threads, read on ``clock`` (see the module
    docstring). Returns the ``Measurement`` of the per-call times, one per block (its ``median``
    and ``iqr``); ``Measurement.merge`` pools several rounds."""
    min_run_time = as_positive_number("min_run_time", min_run_time)
    min_runs = as_int("min_runs", min_runs)
    timer = _timer(fn, threads, clock)
    block = timer.blocked_autorange(min_run_time=min_run_time)
    times = list(block.times)
    while len(times) < min_runs:
        times.extend(timer.timeit(block.number_per_run).times)
    return measurement(times)


def measure_calls(fn: Callable[[], Any], *, runs: int = 5, threads: int | None = None,
                  clock: str = "wall") -> Any:
    """Time ``runs`` single calls of ``fn()``, each on its own (``Timer.timeit(1)``, which makes
    untimed warm-up calls first): for work long enough to time alone (a large product, a copy of
    a large tensor), where the shortest call (``min(m.times)``) estimates a peak. Same timer,
    threads and clock as :func:`measure`; returns the ``Measurement`` of the ``runs`` times."""
    runs = as_int("runs", runs)
    timer = _timer(fn, threads, clock)
    return measurement([timer.timeit(1).times[0] for _ in range(runs)])


__all__ = ["CLOCKS", "FORWARD_BACKWARD_FACTOR", "MODES", "as_clock", "as_mode", "as_threads",
           "bytes_moved", "clock_function", "device_label", "leaf_traffic", "measure",
           "measure_calls", "measurement", "pass_flops", "pass_function", "torch_threads"]
