"""convlib.train: documented history, seeded reproducibility, on-device augmentation, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from convlib import train as T
from convlib.device import resolve_precision
from convlib.io import REPO_ROOT


def tiny_data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return images, labels


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 10))


def run(seed=0, **config):
    x, y = tiny_data()
    tx, ty = tiny_data(40, seed=1)
    cfg = T.TrainConfig(epochs=2, batch_size=32, **config)
    return T.train(tiny_model(seed), x, y, tx, ty, cfg, seed=seed, device="cpu", progress=False)


def test_history_has_the_documented_fields():
    history = run().to_dict()
    for name in ("train_loss", "train_acc", "train_eval_loss", "train_eval_acc", "test_loss",
                 "test_acc", "epoch_seconds", "images_per_second"):
        assert len(history[name]) == 2, name
        assert all(isinstance(v, float) for v in history[name])
    assert 0 <= min(history["test_acc"]) <= max(history["test_acc"]) <= 1
    assert all(v > 0 for v in history["images_per_second"])
    assert history["train_size"] == 96 and history["test_size"] == 40 and history["epochs"] == 2
    assert history["device"].startswith("CPU")


def test_same_seed_gives_identical_results_and_another_seed_does_not():
    first, second, other = run(0), run(0), run(1)
    assert first.train_loss == second.train_loss and first.test_acc == second.test_acc
    assert first.train_loss != other.train_loss


def test_training_reduces_the_loss_on_learnable_data():
    torch.manual_seed(0)
    labels = torch.arange(200) % 10
    images = (labels.view(-1, 1, 1, 1) * 25).expand(-1, 3, 32, 32).to(torch.uint8).contiguous()
    # float32: on tiny layers a CPU's bf16 autocast costs more than it saves (4x here)
    cfg = T.TrainConfig(epochs=4, batch_size=20, augment=False, lr=0.1, precision="float32")
    history = T.train(tiny_model(), images, labels, images, labels, cfg, device="cpu",
                      progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.test_acc[-1] > 0.5


def test_augment_batch_crops_and_flips_on_the_device():
    images = torch.arange(2 * 3 * 8 * 8).remainder(251).add(1).to(torch.uint8).view(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = T.augment_batch(images, g, pad=2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    # every output pixel is either padding (0) or a pixel of the same image and channel
    for i in range(2):
        for c in range(3):
            assert set(out[i, c].unique().tolist()) <= set(images[i, c].unique().tolist()) | {0}
    # with no padding a crop is the image itself or its mirror
    same = T.augment_batch(images, torch.Generator().manual_seed(1), pad=0)
    for i in range(2):
        assert torch.equal(same[i], images[i]) or torch.equal(same[i], images[i].flip(-1))


def test_precision_is_resolved_and_recorded(monkeypatch):
    monkeypatch.delenv("CONVLIB_PRECISION", raising=False)
    history = run()
    assert history.precision in ("float32", "bfloat16")
    assert history.precision == resolve_precision("auto", torch.device("cpu"))
    assert run(precision="float32").precision == "float32"
    monkeypatch.setenv("CONVLIB_PRECISION", "float32")  # what make nbval-portable sets
    assert run().precision == "float32"


def test_a_seeded_float32_run_gives_the_recorded_history():
    """The loop's numbers are pinned: these losses were recorded from the loop as it stood before
    it was rewritten as one function (helpers sharing a ``_Run`` state); any change to the order
    of the random draws, the optimiser, the schedule or the evaluation moves them. A depthwise
    convolution is in the model so that the weight-decay groups matter."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 10))
    x, y = tiny_data()
    tx, ty = tiny_data(40, seed=1)
    cfg = T.TrainConfig(epochs=3, batch_size=32, precision="float32")
    history = T.train(model, x, y, tx, ty, cfg, seed=3, device="cpu", progress=False)
    recorded = {"train_loss": [2.303754, 2.301784, 2.295145],
                "train_eval_loss": [2.298383, 2.296813, 2.296306],
                "test_loss": [2.29123, 2.294181, 2.294421]}
    for name, values in recorded.items():  # 1e-4: far above a CPU's float32 rounding noise
        assert getattr(history, name) == pytest.approx(values, abs=1e-4), name


def test_each_epoch_synchronises_the_device_before_its_clock_stops(monkeypatch):
    calls = []
    monkeypatch.setattr(T, "synchronize", lambda device: calls.append(device.type))
    assert len(run().epoch_seconds) == 2 and calls == ["cpu", "cpu"]


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", -1), ("lr", 0),
                                         ("lr", float("nan")), ("epochs", True),
                                         ("weight_decay", -1), ("precision", "fp8")])
def test_bad_config_is_rejected_with_the_field_named(field, value):
    with pytest.raises(ValueError, match=field):
        T.TrainConfig(**{field: value})


def test_bad_data_is_rejected():
    x, y = tiny_data()
    with pytest.raises(TypeError, match="train_images"):
        T.train(tiny_model(), x.float(), y, x, y, progress=False)
    with pytest.raises(TypeError, match="test_labels"):
        T.train(tiny_model(), x, y, x, y[:5], progress=False)
    with pytest.raises(TypeError, match="model"):
        T.train("resnet", x, y, x, y, progress=False)


def test_final_evaluation_stores_the_per_image_correctness_packed():
    from convlib.store import unpack_correctness

    history = run()
    correct = unpack_correctness(history.test_correct)
    assert correct.shape == (40,) and history.test_correct["n"] == 40
    assert correct.mean() == pytest.approx(history.test_acc[-1])
    assert run().test_correct == history.test_correct  # same seed, same images right


TCMALLOC_CHILD = """
import hashlib, json, torch
from convlib.experiments import get_experiment
from convlib.train import TrainConfig, seed_everything, train
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
images = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8, generator=g)
labels = torch.arange(512) % 10
seed_everything(0)
model = next(v.build for v in get_experiment("stacking").variants if v.name == "2x3x3")()
history = train(model, images, labels, images[:256], labels[:256],
                TrainConfig(epochs=2, batch_size=256, lr=0.1), device="cpu", progress=False)
digest = hashlib.sha256()
for tensor in model.state_dict().values():
    digest.update(tensor.detach().contiguous().numpy().tobytes())
print(json.dumps({"weights": digest.hexdigest(), "loss": history.train_loss,
                  "tcmalloc": "libtcmalloc" in open("/proc/self/maps").read()}))
"""


def test_training_under_tcmalloc_is_bit_identical():
    """The reference recipe trains with tcmalloc preloaded (recipes/cpu/reference.sh: 1.1-1.4x
    faster on the CPU): the allocator must not change a single bit of the weights or losses of
    the harness's own step (bf16 autocast and channels_last where the CPU has them, batch 256,
    whose activations are above glibc's mmap threshold)."""
    found = subprocess.run([str(REPO_ROOT / "scripts" / "find-tcmalloc")], capture_output=True,
                           text=True)
    if found.returncode != 0:
        pytest.skip(found.stderr.strip())
    runs = {}
    for name, preload in (("glibc", ""), ("tcmalloc", found.stdout.strip())):
        env = dict(os.environ, OMP_NUM_THREADS="1", LD_PRELOAD=preload)
        done = subprocess.run([sys.executable, "-c", TCMALLOC_CHILD], env=env,
                              capture_output=True, text=True, timeout=300, check=True)
        runs[name] = json.loads(done.stdout.splitlines()[-1])
    assert (runs["glibc"]["tcmalloc"], runs["tcmalloc"]["tcmalloc"]) == (False, True)
    assert runs["glibc"]["weights"] == runs["tcmalloc"]["weights"]
    assert runs["glibc"]["loss"] == runs["tcmalloc"]["loss"]
