"""Figures of chapter 3: receptive-field footprints and kernels drawn as annotated pixel maps.

A *map* is a 2-D array of values on a pixel grid: the input-gradient footprint of one output pixel
(:func:`convlib.receptive.empirical_receptive_field`), or a convolution kernel. :func:`plot_map`
draws one as an image whose axes count pixels of the original grid, writes each value in its cell
(so the figure is readable without colour, and in print) and adds a labelled colour bar, or leaves
it to :func:`shared_colorbar` when several panels share one scale. Signed values (kernels) go on
a diverging colour map centred at 0 (``diverging=True``): red for positive, blue for negative,
white for 0. :func:`support_box` finds the part worth drawing: the rows and columns that hold a
nonzero value, plus a margin. :func:`plot_maps` draws several maps side by side on one scale
(chapter 3's path counts, chapter 9's footprints and effective receptive fields),
:func:`plot_kernels` several signed kernels. :func:`plot_erf_mass` draws how much of an effective
receptive field lies within each radius, before and after training (chapter 9).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["plot_erf_mass", "plot_kernels", "plot_map", "plot_maps", "shared_colorbar",
           "support_box"]


def _as_map(values: Any, name: str = "values") -> np.ndarray:
    """``values`` (a 2-D torch tensor, NumPy array or nested list of real numbers) as float64."""
    if hasattr(values, "detach"):  # a torch.Tensor: leave the autograd graph, come to the CPU
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 2-D array of real numbers; "
                        f"got {type(values).__name__}") from None
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite numbers only")
    return array


def support_box(values: Any, margin: int = 0) -> tuple[int, int, int, int]:
    """``(row_start, row_stop, col_start, col_stop)``: the smallest box holding every nonzero entry
    of the 2-D map ``values``, widened by ``margin`` pixels on each side and clipped to the map.

    Use it as ``values[row_start:row_stop, col_start:col_stop]``. An all-zero map has no support:
    the box is then the whole map.
    """
    array = _as_map(values)
    if isinstance(margin, bool) or not isinstance(margin, numbers.Integral):
        raise TypeError(f"margin must be an int >= 0; got {type(margin).__name__}")
    if margin < 0:
        raise ValueError(f"margin must be an int >= 0; got {margin}")
    rows = np.flatnonzero(np.any(array != 0, axis=1))
    cols = np.flatnonzero(np.any(array != 0, axis=0))
    if rows.size == 0:
        return 0, array.shape[0], 0, array.shape[1]
    margin = int(margin)
    return (max(0, int(rows[0]) - margin), min(array.shape[0], int(rows[-1]) + 1 + margin),
            max(0, int(cols[0]) - margin), min(array.shape[1], int(cols[-1]) + 1 + margin))


def plot_map(ax, values: Any, *, title: str, colorbar_label: str | None,
             xlabel: str = "column (pixels)", ylabel: str = "row (pixels)",
             origin: tuple[int, int] = (0, 0), fmt: str = "{:.3f}", annotate: bool = True,
             vmin: float | None = None, vmax: float | None = None, cmap: str | None = None,
             diverging: bool = False, fontsize: float = 11):
    """Draw the 2-D map ``values`` on ``ax`` as an image, with a labelled colour bar unless
    ``colorbar_label`` is None (then give the panels one :func:`shared_colorbar`).

    Pixel ``(i, j)`` of ``values`` is drawn at row ``origin[0] + i``, column ``origin[1] + j``, so a
    crop (see :func:`support_box`) keeps the coordinates of the full grid. With ``annotate``, each
    cell shows its value (``fmt``; exact zeros as ``0``), in white on dark cells and black on light
    ones. ``vmin`` and ``vmax`` fix the colour scale (give panels the same one to compare them); by
    default it spans the map's values. ``diverging`` is for signed values: the scale is made
    symmetric about 0 and the colour map (default ``"RdBu_r"``) is white at 0; otherwise the
    default map is ``"Blues"``. ``fontsize`` (points) sizes the cell values: crop the map
    (:func:`support_box`) or widen the figure rather than shrink them below the book's floors
    (:func:`convlib.plots.style.figure_problems`). Returns the ``AxesImage``.
    """
    array = _as_map(values)
    if not isinstance(title, str) or not (colorbar_label is None
                                          or isinstance(colorbar_label, str)):
        raise TypeError("title must be a string and colorbar_label a string or None")
    if (not isinstance(origin, (tuple, list)) or len(origin) != 2
            or any(isinstance(o, bool) or not isinstance(o, numbers.Integral) for o in origin)):
        raise TypeError(f"origin must be a pair of ints (row, column); got {origin!r}")
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be a format string such as '{{:.3f}}'; got {type(fmt).__name__}")
    low, high = _limits(array, vmin, vmax, diverging)
    cmap = cmap or ("RdBu_r" if diverging else "Blues")
    r0, c0 = int(origin[0]), int(origin[1])
    h, w = array.shape
    image = ax.imshow(array, cmap=cmap, vmin=low, vmax=high, interpolation="nearest",
                      extent=(c0 - 0.5, c0 + w - 0.5, r0 + h - 0.5, r0 - 0.5))
    ax.set_xticks(range(c0, c0 + w))
    ax.set_yticks(range(r0, r0 + h))
    ax.grid(False)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if annotate:
        for i in range(h):
            for j in range(w):
                ax.text(c0 + j, r0 + i, _cell_text(fmt, array[i, j]), ha="center", va="center",
                        fontsize=fontsize, color=_text_colour(image, array[i, j]))
    if colorbar_label is not None:
        ax.figure.colorbar(image, ax=ax, label=colorbar_label, shrink=0.85)
    return image


def _axes_list(axes: Any) -> list[Any]:
    return list(axes.flat) if hasattr(axes, "flat") else list(axes)


def plot_maps(axes: Any, maps: dict[str, Any], *, colorbar_label: str,
              box: tuple[int, int, int, int] | None = None, margin: int = 0,
              vmax: float | None = None, tick_step: int | None = 4, fmt: str | None = None,
              shared: bool = False) -> list[Any]:
    """Draw the named 2-D maps of ``maps`` (title: map) on ``axes``, one each in order, on one
    colour scale from 0 to ``vmax`` (default: the largest value of all the maps); axes left over
    are switched off. Each map is cropped to ``box`` (row_start, row_stop, col_start, col_stop)
    or, by default, to its own :func:`support_box` widened by ``margin``, keeping the input's
    pixel coordinates, with a tick every ``tick_step`` pixels (None: every pixel). ``fmt``
    writes each value in its cell (None: no values). Each map gets its colour bar, or with
    ``shared`` one bar for all and the row label on the first panel only. Returns the
    ``AxesImage`` of each map."""
    axes = _axes_list(axes)
    if not maps or len(maps) > len(axes):
        raise ValueError(f"maps must hold 1 to {len(axes)} maps (one per axes); got {len(maps)}")
    if tick_step is not None and (isinstance(tick_step, bool)
                                  or not isinstance(tick_step, numbers.Integral) or tick_step < 1):
        raise ValueError(f"tick_step must be an int >= 1 or None; got {tick_step!r}")
    arrays = {title: _as_map(values, f"maps[{title!r}]") for title, values in maps.items()}
    top = max(float(a.max()) for a in arrays.values()) if vmax is None else vmax
    images = []
    for index, (ax, (title, array)) in enumerate(zip(axes, arrays.items())):
        r0, r1, c0, c1 = box if box is not None else support_box(array, margin)
        images.append(plot_map(
            ax, array[r0:r1, c0:c1], origin=(r0, c0), annotate=fmt is not None,
            fmt=fmt or "{:.3f}", vmin=0.0, vmax=top, title=title,
            colorbar_label=None if shared else colorbar_label, xlabel="input column (pixels)",
            ylabel="" if shared and index else "input row (pixels)"))
        if tick_step is not None:
            ax.set_xticks(range(c0, c1, tick_step))
            ax.set_yticks(range(r0, r1, tick_step))
    for ax in axes[len(arrays):]:
        ax.axis("off")
    if shared:
        shared_colorbar(images[-1], axes[:len(arrays)], colorbar_label)
    return images


def plot_kernels(axes: Any, kernels: dict[str, Any], *, fmt: str = "{:.0f}",
                 colorbar_label: str = "weight") -> Any:
    """Draw the named convolution kernels (title: 2-D kernel) on ``axes``, one each in order,
    each weight written in its cell (``fmt``), on one diverging colour scale centred at 0 (red
    positive, blue negative, white 0) with one colour bar for all; axes left over are switched
    off. Returns the ``Colorbar``."""
    axes = _axes_list(axes)
    if not kernels or len(kernels) > len(axes):
        raise ValueError(f"kernels must hold 1 to {len(axes)} kernels (one per axes); "
                         f"got {len(kernels)}")
    arrays = {title: _as_map(values, f"kernels[{title!r}]") for title, values in kernels.items()}
    bound = max(float(np.abs(a).max()) for a in arrays.values())
    for ax, (title, array) in zip(axes, arrays.items()):
        image = plot_map(ax, array, title=title, fmt=fmt, diverging=True, vmin=-bound,
                         vmax=bound, xlabel="column (pixels)", ylabel="row (pixels)",
                         colorbar_label=None)
    for ax in axes[len(arrays):]:
        ax.set_axis_off()
    return shared_colorbar(image, axes, colorbar_label)


def shared_colorbar(image: Any, axes: Any, label: str) -> Any:
    """One colour bar for panels drawn on the same scale (``image`` from any of them), to the
    right of all of ``axes``; returns the ``Colorbar``."""
    if not isinstance(label, str) or not label.strip():
        raise TypeError("label must be a non-empty string naming the value and its unit")
    axes = list(axes.flat) if hasattr(axes, "flat") else list(axes)
    return axes[0].figure.colorbar(image, ax=axes, label=label, shrink=0.85)


def _limits(array: np.ndarray, vmin: float | None, vmax: float | None,
            diverging: bool) -> tuple[float, float]:
    """The colour scale: the given limits, else the map's range; symmetric about 0 if
    ``diverging``; widened around a constant map."""
    low = float(array.min()) if vmin is None else float(vmin)
    high = float(array.max()) if vmax is None else float(vmax)
    if high < low:
        raise ValueError(f"vmax ({high}) must be >= vmin ({low})")
    if diverging:
        bound = max(abs(low), abs(high)) or 1.0
        return -bound, bound
    if high == low:  # a constant map: give the colour scale some room
        return low - 0.5, high + 0.5
    return low, high


def _cell_text(fmt: str, value: float) -> str:
    """``value`` written with ``fmt``; an exact zero as ``"0"`` (outside a footprint's support),
    and no minus sign on a value that rounds to zero (``"-0.0"`` becomes ``"0.0"``)."""
    if value == 0:
        return "0"
    text = fmt.format(value)
    try:
        if text.startswith("-") and float(text) == 0:
            return text[1:]
    except ValueError:  # a format with units or words: leave it as it is
        pass
    return text


def _text_colour(image: Any, value: float) -> str:
    """White on a dark cell, black on a light one: by the relative luminance of the cell's colour
    (WCAG's weights), whatever the colour map."""
    red, green, blue, _ = image.cmap(image.norm(value))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "white" if luminance < 0.45 else "black"


def plot_erf_mass(ax: Any, curves: Mapping[str, Mapping[str, Sequence[float]]],
                  radii: Sequence[float], styles: Mapping[str, Mapping[str, Any]],
                  labels: Mapping[str, str] | None = None) -> None:
    """The share of each network's effective receptive field within each radius of ``radii``
    (pixels), from :func:`convlib.results.erf_mass_curves` (``curves``: variant -> stage ->
    shares, the stages ``"trained"`` and/or ``"init"``): after training as a solid line with
    filled markers, before training as a thin dotted line with hollow markers, in the same
    colour and marker (``styles``: variant -> line style of
    :func:`convlib.plots.style.variant_styles`). A curve that rises more slowly
    spreads its gradient wider. ``labels`` names the variants in the legend (default: the
    variant names)."""
    if not curves:
        raise ValueError("curves must hold at least one variant")
    radii = list(radii)
    for variant, stages in curves.items():
        if variant not in styles:
            raise ValueError(f"styles must give a line style for every variant; "
                             f"missing {variant!r}")
        if not stages or set(stages) - {"init", "trained"} \
                or any(len(shares) != len(radii) for shares in stages.values()):
            raise ValueError(f"curves[{variant!r}] must map 'init' and/or 'trained' to one "
                             f"share per radius ({len(radii)})")
        style = dict(styles[variant])
        name = (labels or {}).get(variant, variant)
        if "trained" in stages:
            ax.plot(radii, [100 * v for v in stages["trained"]], label=f"{name}, trained",
                    **{**style, "linestyle": "-"})
        if "init" in stages:
            ax.plot(radii, [100 * v for v in stages["init"]], label=f"{name}, untrained",
                    color=style["color"], marker=style.get("marker"), markerfacecolor="none",
                    linestyle=":", linewidth=1.2)
    ax.set_xlabel("radius around the centre pixel (pixels)")
    ax.set_ylabel("share of the effective\nreceptive field within (%)")
    ax.set_ylim(0, 100)
    ax.set_title("How far the gradient spreads")
    ax.legend(loc="lower right")
