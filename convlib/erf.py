"""The effective receptive field of a network (Luo, Li, Urtasun and Zemel, NIPS 2016).

The theoretical receptive field (:mod:`convlib.receptive`) says which input pixels *can* reach
an output pixel. The effective receptive field says how much each one *does*: the gradient of
the centre output pixel with respect to the input,

    ERF(u, v) = mean over images n of  sum over channels c of | d y_centre(n) / d x_n[c, u, v] |,

where ``y_centre`` is the sum over channels of the feature map's centre pixel. Normalised to
sum 1, it is a distribution over input pixels; Luo et al. found it close to a Gaussian that
fills only part of the theoretical field and grows like the square root of depth.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from convlib._checks import as_int, as_module

ERF_DECIMALS = 6  # stored maps: a share of the total per pixel, to 1e-6


def effective_receptive_field(features: nn.Module, images: torch.Tensor) -> np.ndarray:
    """The normalised effective receptive field (an ``(H, W)`` float64 array summing to 1) of the
    centre pixel of ``features(images)``, averaged over ``images`` (float ``(N, C, H, W)``).

    The network is evaluated in eval mode (BatchNorm uses its running statistics, so the images
    do not interact) and in float32; its training mode is restored afterwards.
    """
    as_module("features", features, nn.Module)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise TypeError("images must be a float tensor of shape (N, C, H, W)")
    was_training = features.training
    features.eval()
    try:
        x = images.detach().float().clone().requires_grad_(True)
        with torch.enable_grad():
            out = features(x)
            if out.ndim != 4:
                raise ValueError(
                    f"features must return (N, C, H, W) feature maps; got {tuple(out.shape)}"
                )
            out[:, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    finally:
        features.train(was_training)
    grad = x.grad.abs().sum(dim=1).mean(dim=0).double().numpy()
    total = grad.sum()
    if total == 0:
        raise ValueError("the centre output does not depend on the input (zero gradient)")
    return grad / total


def rounded_map(erf: np.ndarray) -> list[list[float]]:
    """``erf`` as nested lists rounded to :data:`ERF_DECIMALS`, for a results file."""
    return np.round(np.asarray(erf, dtype=np.float64), ERF_DECIMALS).tolist()


def mass_within(erf: np.ndarray | list, radius: float) -> float:
    """The share of the map's total within Euclidean distance ``radius`` (in pixels) of its
    centre pixel ``(H // 2, W // 2)``, the pixel the gradient was taken at."""
    erf = np.asarray(erf, dtype=np.float64)
    if erf.ndim != 2:
        raise ValueError(f"erf must be a 2-D map; got shape {erf.shape}")
    if not isinstance(radius, (int, float)) or radius < 0 or not math.isfinite(radius):
        raise ValueError(f"radius must be a finite non-negative number; got {radius!r}")
    rows, cols = np.indices(erf.shape)
    distance = np.hypot(rows - erf.shape[0] // 2, cols - erf.shape[1] // 2)
    return float(erf[distance <= radius].sum() / erf.sum())


def rms_radius(erf: np.ndarray | list) -> float:
    """The map's spread around its centre pixel ``(H // 2, W // 2)``, in pixels: the root of the
    mean squared distance, each pixel weighted by its share,

        R = sqrt( sum over (u, v) of ERF(u, v) * d(u, v)^2 / sum of ERF ),

    a continuous width (a Gaussian ERF of standard deviation s per axis has R = s * sqrt(2)),
    where :func:`radius_for_mass` moves in whole pixels only."""
    erf = np.asarray(erf, dtype=np.float64)
    if erf.ndim != 2:
        raise ValueError(f"erf must be a 2-D map; got shape {erf.shape}")
    if not np.all(np.isfinite(erf)) or erf.min() < 0 or erf.sum() <= 0:
        raise ValueError("erf must hold finite non-negative shares with a positive sum")
    rows, cols = np.indices(erf.shape)
    squared = (rows - erf.shape[0] // 2) ** 2 + (cols - erf.shape[1] // 2) ** 2
    return float(math.sqrt((erf * squared).sum() / erf.sum()))


def radius_for_mass(erf: np.ndarray | list, share: float = 0.5) -> int:
    """The smallest whole radius (pixels) around the centre that holds ``share`` of the map."""
    if not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1]; got {share!r}")
    erf = np.asarray(erf, dtype=np.float64)
    limit = as_int("map size", max(erf.shape))
    for radius in range(limit + 1):
        if mass_within(erf, radius) >= share - 1e-12:
            return radius
    return limit
