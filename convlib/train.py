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
from convlib.store import pack_correctness

# Per-channel statistics of the CIFAR-10 training set (original pixels; the JPEG copy differs
# in the fourth decimal, which is irrelevant for normalisation).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


@dataclass
class TrainConfig:
    """Hyper-parameters of one run. ``from_profile`` fills them from a :mod:`convlib.profiles`
    budget."""

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
    # convlib.store.pack_correctness (test-set order): lets two variants be compared image by image
    test_correct: dict = field(default_factory=dict)
    # the same for the fixed training sample (train_eval_*): pairs the generalisation gap too
    train_correct: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


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


def train(  # noqa: C901, PLR0915 -- one function, read top to bottom (chapter 1 prints it)
    model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
    test_images: torch.Tensor, test_labels: torch.Tensor, config: TrainConfig | None = None,
    *, seed: int = 0, device: str | torch.device | None = None, progress: bool | None = None,
    description: str = "",
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Args:
        model: any classifier taking ``float (N, 3, H, W)`` images.
        train_images, test_images: ``uint8 (N, 3, H, W)`` tensors (as from ``load_cifar10``).
        train_labels, test_labels: ``int64 (N,)`` tensors.
        config: hyper-parameters; default ``TrainConfig()``.
        seed: seeds batch order and augmentation; the parameters' initialisation is NOT re-done
            here (build the model after :func:`seed_everything`).
        device: where to train; default CUDA when available, else the CPU.
        progress: show a tqdm bar; None means only on a terminal or in a notebook, never when
            ``CONVLIB_PROGRESS=0``.
    """
    config = config or TrainConfig()
    _check_inputs(model, train_images, train_labels, test_images, test_labels)
    plan = execution_plan(as_device(device), config.precision, config.channels_last,
                          config.compile)
    device = plan.device
    if plan.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    # The whole data set moves to the device once, as uint8: a batch is an index into it.
    train_x, train_y = train_images.to(device), train_labels.to(device)
    test_x, test_y = test_images.to(device), test_labels.to(device)
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1)
    model = model.to(device=device, memory_format=plan.memory_format)
    step_model = torch.compile(model) if plan.compile else model
    # A fixed sample of training images, as many as the test images, evaluated like them after
    # each epoch (no augmentation): the fair counterpart of the test accuracy.
    sample = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(0))
    sample = sample[:max(1, len(test_y))].to(device)
    sample_x, sample_y = train_x[sample], train_y[sample]
    steps_per_epoch = max(1, len(train_y) // config.batch_size)  # no partial last batch
    optimizer, scheduler = one_cycle_sgd(model, config, config.epochs * steps_per_epoch)
    generator = torch.Generator(device=device).manual_seed(seed)  # batch order, augmentation
    autocast = plan.autocast()
    history = History(device=device_name(device), precision=plan.precision, seed=seed,
                      epochs=config.epochs, train_size=len(train_y), test_size=len(test_y))
    bar = None
    if _progress_enabled(progress):
        bar = tqdm(total=config.epochs * steps_per_epoch, desc=description or "training",
                   unit="batch", leave=False)

    for epoch in range(config.epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(len(train_y), device=device, generator=generator)
        loss_sum = torch.zeros((), device=device)  # summed on the device: no sync per step
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        for step in range(steps_per_epoch):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            images = train_x[index]
            if config.augment:
                images = augment_batch(images, generator)
            x, y = _normalise(images, mean, std, plan.memory_format), train_y[index]
            with autocast:
                logits = step_model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()

            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            if bar is not None:
                bar.update(1)
                if step % 20 == 0 or step == steps_per_epoch - 1:
                    bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}",
                                    loss=f"{loss_sum.item() / seen:.3f}",
                                    acc=f"{correct.item() / seen:.3f}")
        synchronize(device)  # the epoch's queued GPU work belongs to its time
        seconds = time.perf_counter() - start

        test_loss, test_acc, test_hits = evaluate(
            model, test_x, test_y, mean, std, config.eval_batch_size, plan)
        train_eval_loss, train_eval_acc, train_hits = evaluate(
            model, sample_x, sample_y, mean, std, config.eval_batch_size, plan)
        history.train_eval_loss.append(round(train_eval_loss, 6))
        history.train_eval_acc.append(round(train_eval_acc, 6))
        history.train_loss.append(round(loss_sum.item() / seen, 6))
        history.train_acc.append(round(correct.item() / seen, 6))
        history.test_loss.append(round(test_loss, 6))
        history.test_acc.append(round(test_acc, 6))
        history.epoch_seconds.append(round(seconds, 4))
        history.images_per_second.append(round(seen / seconds, 1))
    # which images the trained model gets right, to compare two variants image by image
    history.test_correct = pack_correctness(test_hits.cpu())
    history.train_correct = pack_correctness(train_hits.cpu())
    if bar is not None:
        bar.close()
    return history


def _check_inputs(model: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                  test_images: torch.Tensor, test_labels: torch.Tensor) -> None:
    """Raise TypeError unless ``model`` is a module and the data uint8 images with int64 labels."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module; got {type(model).__name__}")
    for name, images, labels in (("train", train_images, train_labels),
                                 ("test", test_images, test_labels)):
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(f"{name}_images must be a uint8 tensor of shape (N, C, H, W)")
        if (not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64
                or labels.shape != images.shape[:1]):
            raise TypeError(f"{name}_labels must be an int64 tensor of shape (N,) matching "
                            f"{name}_images")


WARMUP_SHARE = 0.25  # of the one-cycle schedule's steps spent raising the learning rate


def one_cycle_sgd(model: nn.Module, config: TrainConfig, steps: int) -> tuple[
        torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD (Nesterov momentum, :func:`parameter_groups`' weight decay) under a one-cycle schedule
    of ``steps`` optimiser steps: the learning rate rises linearly to ``config.lr`` over the first
    :data:`WARMUP_SHARE` of them, then falls linearly.

    OneCycleLR divides by zero when it has one step, or when its warm-up ends exactly at step 0
    (4 steps at a quarter): a tiny run (a test fixture) then gets one step more, never taken;
    real runs are unchanged."""
    optimizer = torch.optim.SGD(parameter_groups(model, config.weight_decay), lr=config.lr,
                                momentum=config.momentum, nesterov=config.momentum > 0)
    total = max(2, steps)
    if total * WARMUP_SHARE == 1:
        total += 1
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=total, pct_start=WARMUP_SHARE,
        anneal_strategy="linear")
    return optimizer, scheduler


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor,
             std: torch.Tensor, batch_size: int, plan: ExecutionPlan,
             ) -> tuple[float, float, torch.Tensor]:
    """Mean cross-entropy and accuracy of ``model`` on uint8 ``images`` (no augmentation), and
    which images it gets right (a bool tensor, one entry per image)."""
    model.eval()
    loss_sum, hits = 0.0, []
    for start in range(0, len(labels), batch_size):
        x = _normalise(images[start:start + batch_size], mean, std, plan.memory_format)
        y = labels[start:start + batch_size]
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=plan.bf16):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        hits.append(logits.argmax(1) == y)
    hits = torch.cat(hits)
    return loss_sum / len(labels), hits.sum().item() / len(labels), hits
