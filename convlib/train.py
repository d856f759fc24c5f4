"""One training loop for every experiment of the book.

Design (why it is fast without being clever):

- The whole data set lives as one ``uint8`` tensor on the training device: no DataLoader, no
  worker processes, no per-image Python. A batch is an index into that tensor.
- Augmentation is done per batch, on the device: a random 32x32 crop of the image padded by 4
  pixels and a random horizontal flip, both as tensor indexing. Normalisation happens on the fly
  when the batch is converted to floating point.
- Precision and memory format come from :func:`convlib.device.execution_plan`: on CUDA bf16
  autocast, channels_last, ``cudnn.benchmark``, optional ``torch.compile``; on the CPU all cores,
  and bf16 autocast with channels_last where the processor computes in bf16 natively (measured
  2.2x faster than float32 NCHW on such a CPU, benchmarks/train_throughput.py), float32
  elsewhere. ``TrainConfig.precision`` (or ``CONVLIB_PRECISION``) overrides the choice; the
  history records it.
- Seeded: parameters, batch order and augmentation all come from generators seeded with ``seed``,
  so the same seed, profile and device give the same numbers.

The optimiser is SGD with Nesterov momentum under a one-cycle learning-rate schedule, a standard
recipe that reaches good CIFAR-10 accuracy in few epochs.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from convlib.device import (
    PRECISIONS,
    ExecutionPlan,
    as_device,
    device_name,
    execution_plan,
    synchronize,
)
from convlib.stats import pack_correctness

# Per-channel statistics of the CIFAR-10 training set (original pixels; the JPEG copy differs
# in the fourth decimal, which is irrelevant for normalisation).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
HISTORY_FIELDS = ("train_loss", "train_acc", "train_eval_loss", "train_eval_acc", "test_loss", "test_acc",
                  "epoch_seconds", "images_per_second")


@dataclass
class TrainConfig:
    """Hyper-parameters of one run. ``from_profile`` fills them from a :mod:`convlib.profiles` budget."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: bool = True
    compile: bool = False
    channels_last: bool | None = None  # None: with bf16 (CUDA, or a CPU with native bf16)
    precision: str = "auto"  # "auto", "float32" or "bfloat16" (autocast)
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        for name in ("lr", "momentum", "weight_decay", "label_smoothing"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite, non-negative number; got {value!r}")
        if self.lr == 0:
            raise ValueError("lr must be positive; got 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {self.precision!r}")

    @classmethod
    def from_profile(cls, profile, **overrides) -> TrainConfig:
        return cls(epochs=profile.epochs, batch_size=profile.batch_size, lr=profile.lr, **overrides)


@dataclass
class History:
    """What one run measured, one entry per epoch in each list."""

    train_loss: list[float] = field(default_factory=list)  # running, on augmented batches
    train_acc: list[float] = field(default_factory=list)  # running, on augmented batches
    # after each epoch, on a fixed sample of training images (as many as the test set), without
    # augmentation: the fair counterpart of the test accuracy for the generalisation gap
    train_eval_loss: list[float] = field(default_factory=list)
    train_eval_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)
    device: str = ""
    precision: str = "float32"
    seed: int = 0
    epochs: int = 0
    train_size: int = 0
    test_size: int = 0
    # after the last epoch, which test images the model got right, packed by
    # convlib.stats.pack_correctness (test-set order): lets two variants be compared image by image
    test_correct: dict = field(default_factory=dict)
    # the same for the fixed training sample (train_eval_*): pairs the generalisation gap too
    train_correct: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]

    @property
    def final_gap(self) -> float:
        """Training minus test accuracy after the last epoch, both measured without augmentation
        on held images (the generalisation gap)."""
        return self.train_eval_acc[-1] - self.test_acc[-1]


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """The book's one weight-decay rule: decay on the weights of dense layers and of convolutions
    that mix channels; none on biases, norms' scales and shifts (every parameter with at most one
    dimension) and depthwise filters (a convolution with one input channel per group), which
    hold few weights each and which MobileNet and ConvNeXt leave undecayed."""
    depthwise = {id(m.weight) for m in model.modules()
                 if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels}
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.ndim <= 1 or id(parameter) in depthwise:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def augment_batch(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random ``pad``-pixel-translation crop and horizontal flip of a uint8 batch, on its device.

    The crop takes a window of the original size from the zero-padded image at a random offset
    in ``[0, 2 * pad]`` per image; the flip mirrors half of the images, chosen at random.
    """
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=device))[:, None, None, :]
    flip = torch.rand(n, device=device, generator=generator) < 0.5
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    batch_index = torch.arange(n, device=device)[:, None, None, None]
    channel_index = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch_index, channel_index, rows, cols]


def _normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
               memory_format: torch.memory_format) -> torch.Tensor:
    x = images.float().div_(255).sub_(mean).div_(std)
    return x.contiguous(memory_format=memory_format)


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    if os.environ.get("CONVLIB_PROGRESS", "").strip() in ("0", "false", "no"):
        return False
    if sys.stderr is not None and sys.stderr.isatty():
        return True
    return "ipykernel" in sys.modules  # a notebook shows the bar; CI and logs stay quiet


def train(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
          test_images: torch.Tensor, test_labels: torch.Tensor, config: TrainConfig | None = None,
          *, seed: int = 0, device: str | torch.device | None = None,
          progress: bool | None = None, description: str = "") -> History:
    """Train ``model`` in place and return its :class:`History`.

    Args:
        model: any classifier taking ``float (N, 3, H, W)`` images.
        train_images, test_images: ``uint8 (N, 3, H, W)`` tensors (as from ``load_cifar10``).
        train_labels, test_labels: ``int64 (N,)`` tensors.
        config: hyper-parameters; default ``TrainConfig()``.
        seed: seeds parameters' initialisation is NOT re-done here (build the model after
            :func:`seed_everything`); it seeds batch order and augmentation.
        device: where to train; default CUDA when available, else the CPU.
        progress: show a tqdm bar; None means only on a terminal or in a notebook, never when
            ``CONVLIB_PROGRESS=0``.
    """
    config = config or TrainConfig()
    _check_inputs(model, train_images, train_labels, test_images, test_labels)
    device = as_device(device)
    run = _prepare(model, (train_images, train_labels, test_images, test_labels), config, seed,
                   device)
    history = History(device=device_name(device), precision=run.plan.precision, seed=seed,
                      epochs=config.epochs, train_size=len(run.train_y), test_size=len(run.test_y))
    bar = None
    if _progress_enabled(progress):
        bar = tqdm(total=config.epochs * run.steps_per_epoch, desc=description or "training",
                   unit="batch", leave=False)
    for epoch in range(config.epochs):
        loss_sum, correct, seen, seconds = _train_epoch(run, epoch, bar)
        _record_epoch(run, history, epoch, loss_sum.item() / seen, correct.item() / seen, seen,
                      seconds)
    if bar is not None:
        bar.close()
    return history


def _check_inputs(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                  test_images: torch.Tensor, test_labels: torch.Tensor) -> None:
    """Raise TypeError unless ``model`` is a module and the data uint8 images with int64 labels."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module; got {type(model).__name__}")
    for name, images, labels in (("train", train_images, train_labels), ("test", test_images, test_labels)):
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(f"{name}_images must be a uint8 tensor of shape (N, C, H, W)")
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
            raise TypeError(f"{name}_labels must be an int64 tensor of shape (N,) matching {name}_images")


@dataclass
class _Run:
    """What the epochs of one :func:`train` call share: the data on the device, the optimiser."""

    config: TrainConfig
    plan: ExecutionPlan
    model: nn.Module
    step_model: nn.Module  # what the training steps call: the compiled model, or ``model``
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    sample_x: torch.Tensor  # the fixed sample of training images evaluated after each epoch
    sample_y: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # batch order and augmentation
    autocast: torch.autocast
    steps_per_epoch: int


WARMUP_SHARE = 0.25  # of the one-cycle schedule's steps spent raising the learning rate


def _schedule_steps(steps: int) -> int:
    """The one-cycle schedule's length for ``steps`` optimiser steps. OneCycleLR divides by zero
    when it has one step, or when its warm-up ends exactly at step 0 (4 steps at a quarter): a
    tiny run (a test fixture) then gets one step more, never taken; real runs are unchanged."""
    total = max(2, steps)
    return total + 1 if total * WARMUP_SHARE == 1 else total


def _prepare(model: nn.Module, tensors: tuple[torch.Tensor, ...], config: TrainConfig, seed: int,
             device: torch.device) -> _Run:
    """The run's state: model and data (train, test images and labels) on ``device``, optimiser."""
    plan = execution_plan(device, config.precision, config.channels_last, config.compile)
    if plan.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    train_x, train_y, test_x, test_y = (t.to(device) for t in tensors)
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1)
    model = model.to(device=device, memory_format=plan.memory_format)
    step_model = torch.compile(model) if plan.compile else model

    n = len(train_y)
    # a fixed sample of training images, evaluated like the test set after each epoch
    sample = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:max(1, len(test_y))].to(device)
    steps_per_epoch = max(1, n // config.batch_size)  # drop the last partial batch: stable BN stats
    optimizer = torch.optim.SGD(parameter_groups(model, config.weight_decay), lr=config.lr,
                                momentum=config.momentum, nesterov=config.momentum > 0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=_schedule_steps(config.epochs * steps_per_epoch),
        pct_start=WARMUP_SHARE, anneal_strategy="linear")
    generator = torch.Generator(device=device).manual_seed(seed)
    return _Run(config=config, plan=plan, model=model, step_model=step_model, train_x=train_x,
                train_y=train_y, test_x=test_x, test_y=test_y, sample_x=train_x[sample],
                sample_y=train_y[sample], mean=mean, std=std, optimizer=optimizer,
                scheduler=scheduler, generator=generator, autocast=plan.autocast(),
                steps_per_epoch=steps_per_epoch)


def _train_epoch(run: _Run, epoch: int,
                 bar: tqdm | None) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """One shuffled pass over the training set: summed loss, number right, images seen, seconds."""
    config = run.config
    run.model.train()
    start = time.perf_counter()
    order = torch.randperm(len(run.train_y), device=run.plan.device, generator=run.generator)
    loss_sum = torch.zeros((), device=run.plan.device)
    correct = torch.zeros((), device=run.plan.device, dtype=torch.int64)
    seen = 0
    for step in range(run.steps_per_epoch):
        batch_loss, batch_correct, batch_size = _train_step(
            run, order[step * config.batch_size:(step + 1) * config.batch_size])
        loss_sum += batch_loss  # summed on the device: no sync per step
        correct += batch_correct
        seen += batch_size
        if bar is not None:
            bar.update(1)
            if step % 20 == 0 or step == run.steps_per_epoch - 1:
                elapsed = time.perf_counter() - start
                bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}",
                                loss=f"{loss_sum.item() / seen:.3f}",
                                acc=f"{correct.item() / seen:.3f}",
                                img_s=f"{seen / max(elapsed, 1e-9):.0f}")
    synchronize(run.plan.device)  # the epoch's queued GPU work belongs to its time
    return loss_sum, correct, seen, time.perf_counter() - start


def _train_step(run: _Run, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One optimiser step on the training images ``index``: summed loss, hits, batch size."""
    images = run.train_x[index]
    if run.config.augment:
        images = augment_batch(images, run.generator)
    x, y = _normalise(images, run.mean, run.std, run.plan.memory_format), run.train_y[index]
    with run.autocast:
        logits = run.step_model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=run.config.label_smoothing)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    return loss.detach() * len(y), (logits.argmax(1) == y).sum(), len(y)


def _record_epoch(run: _Run, history: History, epoch: int, train_loss: float, train_acc: float,
                  seen: int, seconds: float) -> None:
    """Evaluate after ``epoch``; append its numbers to ``history`` (test_correct after the last)."""
    config, plan = run.config, run.plan
    last = epoch == config.epochs - 1
    test_loss, test_acc, *correct_images = evaluate(
        run.model, run.test_x, run.test_y, run.mean, run.std, config.eval_batch_size,
        plan.memory_format, plan.bf16, return_correct=last)
    if last:
        history.test_correct = pack_correctness(correct_images[0].cpu())
    train_eval_loss, train_eval_acc, *sample_images = evaluate(
        run.model, run.sample_x, run.sample_y, run.mean, run.std, config.eval_batch_size,
        plan.memory_format, plan.bf16, return_correct=last)
    if last:
        history.train_correct = pack_correctness(sample_images[0].cpu())
    history.train_eval_loss.append(round(train_eval_loss, 6))
    history.train_eval_acc.append(round(train_eval_acc, 6))
    history.train_loss.append(round(train_loss, 6))
    history.train_acc.append(round(train_acc, 6))
    history.test_loss.append(round(test_loss, 6))
    history.test_acc.append(round(test_acc, 6))
    history.epoch_seconds.append(round(seconds, 4))
    history.images_per_second.append(round(seen / seconds, 1))


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor,
             std: torch.Tensor, batch_size: int = 1000,
             memory_format: torch.memory_format = torch.contiguous_format,
             bf16: bool | None = None, return_correct: bool = False) -> tuple:
    """Mean cross-entropy and accuracy of ``model`` on uint8 ``images`` (no augmentation); with
    ``return_correct``, also the per-image correctness (a bool tensor, one entry per image)."""
    model.eval()
    bf16 = images.device.type == "cuda" if bf16 is None else bf16
    loss_sum, correct, hits = 0.0, 0, []
    for start in range(0, len(labels), batch_size):
        x = _normalise(images[start:start + batch_size], mean, std, memory_format)
        y = labels[start:start + batch_size]
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        hit = logits.argmax(1) == y
        correct += hit.sum().item()
        hits.append(hit)
    if return_correct:
        return loss_sum / len(labels), correct / len(labels), torch.cat(hits)
    return loss_sum / len(labels), correct / len(labels)
