"""convlib.device: the GPU branch checked on a CPU with a fake CUDA flag, the precision override."""

from __future__ import annotations

import pytest
import torch

from convlib import device as D
from convlib import profiles

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


@pytest.fixture
def fake_cuda(monkeypatch):
    """PyTorch reports a GPU; synchronisations are recorded instead of run."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    monkeypatch.delenv("CONVLIB_PRECISION", raising=False)
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    return calls


def test_a_visible_gpu_is_the_default_device_and_names_itself(fake_cuda):
    assert D.default_device() == CUDA and D.as_device(None) == CUDA
    assert D.device_name(CUDA) == "NVIDIA H200"
    assert profiles.active_profile_name() == "quick"  # never the multi-hour full one unasked


def test_without_a_gpu_the_cpu_is_the_default(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    assert D.default_device() == CPU and profiles.active_profile_name() == "quick"
    assert D.device_name(CPU).startswith("CPU (")


def test_on_cuda_training_uses_bf16_autocast_channels_last_and_cudnn_benchmark(fake_cuda):
    plan = D.execution_plan(CUDA, compile=True)
    assert plan.precision == "bfloat16" and plan.bf16
    assert plan.memory_format == torch.channels_last
    assert plan.cudnn_benchmark and plan.compile
    autocast = plan.autocast()
    assert autocast.device == "cuda" and autocast.fast_dtype == torch.bfloat16 and autocast._enabled


def test_explicit_choices_override_the_defaults_on_cuda(fake_cuda):
    plan = D.execution_plan(CUDA, "float32", channels_last=False)
    assert plan.precision == "float32" and plan.memory_format == torch.contiguous_format
    assert not plan.autocast()._enabled and not plan.compile


@pytest.mark.parametrize("native_bf16,expected", [(True, "bfloat16"), (False, "float32")])
def test_on_the_cpu_bf16_follows_native_support(monkeypatch, native_bf16, expected):
    monkeypatch.delenv("CONVLIB_PRECISION", raising=False)
    monkeypatch.setattr(D, "_cpu_has_native_bf16", lambda: native_bf16)
    plan = D.execution_plan(CPU, compile=True)
    assert plan.precision == expected
    assert (plan.memory_format == torch.channels_last) == native_bf16
    assert not plan.compile and not plan.cudnn_benchmark  # compile and cuDNN are CUDA-only


def test_convlib_precision_overrides_auto_but_not_an_explicit_choice(monkeypatch):
    monkeypatch.setattr(D, "_cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("CONVLIB_PRECISION", "float32")
    assert D.resolve_precision("auto", CPU) == "float32"
    assert D.resolve_precision("auto", CUDA) == "float32"
    assert D.resolve_precision("bfloat16", CPU) == "bfloat16"
    monkeypatch.setenv("CONVLIB_PRECISION", "fp8")
    with pytest.raises(ValueError, match="CONVLIB_PRECISION must be one of"):
        D.resolve_precision("auto", CPU)


def test_synchronize_waits_for_cuda_only(fake_cuda):
    D.synchronize(CPU)
    assert fake_cuda == []
    D.synchronize(CUDA)
    assert fake_cuda == [CUDA]


@pytest.mark.parametrize("bad,error", [(3, TypeError), ("gpu0", ValueError)])
def test_bad_devices_are_rejected_with_the_argument_named(bad, error):
    with pytest.raises(error, match="device must"):
        D.as_device(bad)


def test_bad_precision_names_the_allowed_values():
    with pytest.raises(ValueError, match="precision must be one of"):
        D.resolve_precision("fp16", CPU)
