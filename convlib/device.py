"""Where the book computes and how: device choice, names, synchronisation and training precision.

Every "use CUDA if available" of convlib goes through :func:`default_device`, every wait for the
accelerator through :func:`synchronize`, and the precision and memory format of training through
:func:`execution_plan`, so that one test with a fake CUDA flag covers the GPU branch on a CPU.

- On CUDA: bf16 autocast, channels_last, ``cudnn.benchmark``, optional ``torch.compile``.
- On the CPU: bf16 autocast with channels_last only where the processor computes in bf16
  natively (oneDNN's ``_is_mkldnn_bf16_supported``: AVX-512 BF16 or AMX); float32 elsewhere, where
  bf16 would be emulated and slower.
- ``CONVLIB_PRECISION`` (``auto``, ``float32`` or ``bfloat16``) overrides what ``auto`` picks:
  ``make nbval-portable`` sets ``float32`` to run as a laptop without native bf16 does.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import torch

from convlib._checks import as_choice

PRECISIONS = ("auto", "float32", "bfloat16")
PRECISION_ENV_VAR = "CONVLIB_PRECISION"


def default_device() -> torch.device:
    """CUDA when PyTorch sees a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device``; None means :func:`default_device`."""
    if device is None:
        return default_device()
    if not isinstance(device, (str, torch.device)):
        raise TypeError("device must be None, a string or a torch.device; "
                        f"got {type(device).__name__}")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise ValueError("device must name a torch device ('cpu', 'cuda', 'cuda:0'); "
                         f"got {device!r}") from error


def device_name(device: torch.device) -> str:
    """A human name for the device, stated next to every timing."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    plural = "s" if threads != 1 else ""
    return f"CPU ({platform.processor() or platform.machine()}, {threads} thread{plural})"


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work (a no-op on the CPU, which runs eagerly).
    Call it before reading a clock that times accelerator work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' means ``$CONVLIB_PRECISION`` when set, else bf16 autocast on CUDA and on CPUs with
    native bf16, float32 elsewhere. An explicit 'float32' or 'bfloat16' is kept."""
    as_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    forced = os.environ.get(PRECISION_ENV_VAR, "").strip()
    if forced and forced != "auto":
        return as_choice(PRECISION_ENV_VAR, forced, PRECISIONS)
    if device.type == "cuda" or (device.type == "cpu" and _cpu_has_native_bf16()):
        return "bfloat16"
    return "float32"


@dataclass(frozen=True)
class ExecutionPlan:
    """How a training run uses its device: chosen once, recorded in the run's history."""

    device: torch.device
    precision: str  # "float32" or "bfloat16" (autocast)
    memory_format: torch.memory_format
    compile: bool  # torch.compile the model (CUDA only: on the CPU it costs more than it saves)
    cudnn_benchmark: bool

    @property
    def bf16(self) -> bool:
        return self.precision == "bfloat16"

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


def execution_plan(device: torch.device, precision: str = "auto", channels_last: bool | None = None,
                   compile: bool = False) -> ExecutionPlan:
    """The precision, memory format and compilation of a run on ``device``. ``channels_last=None``
    follows bf16 (the layout oneDNN and cuDNN want for bf16 convolutions)."""
    precision = resolve_precision(precision, device)
    use_channels_last = precision == "bfloat16" if channels_last is None else bool(channels_last)
    on_cuda = device.type == "cuda"
    return ExecutionPlan(device=device, precision=precision,
                         memory_format=(torch.channels_last if use_channels_last
                                        else torch.contiguous_format),
                         compile=bool(compile) and on_cuda, cudnn_benchmark=on_cuda)


__all__ = ["PRECISIONS", "PRECISION_ENV_VAR", "ExecutionPlan", "as_device", "default_device",
           "device_name", "execution_plan", "resolve_precision", "synchronize"]
