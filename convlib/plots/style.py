"""One look per construction across the whole book, and the check that figures stay legible.

**The style map.** Every figure that shows a construction (a plain convolution of a given kernel
size, a stacked, bottleneck, grouped, depthwise-separable or spatially separable block, a dense
layer or MLP, a CNN) draws it with the same colour, hatch, marker and line style, from
:func:`construction_style`. Plain convolutions get a blue ramp by kernel size (light for 1x1,
dark for 11x11) and their own marker per size; each other construction one Okabe-Ito colour and
one hatch, so that bars read in grayscale too.

**Legibility** (:func:`figure_problems`). Assumption: the website shows a figure at its natural
size (``figure.dpi`` CSS pixels per inch of its tight bounding box, as the notebook's inline
backend saves it; the 2x PNG of :func:`convlib.plots.use_book_style` keeps that size) unless that
is wider than the content column; then the browser scales it down to the column. The column was
measured in Chromium on the built site: :data:`CONTENT_WIDTH_PX` (672) CSS pixels on a 1280 px
screen, :data:`PHONE_WIDTH_PX` (342) on a 390 px phone. On a phone the site's style sheet
(``book/_static/ksm.css``) shows a figure at least :data:`PHONE_FIGURE_PX` (480) px wide (or at
its natural width, if smaller), scrolling sideways in its box, rather than shrink its text to
the 342 px column. A CSS pixel is 1/96 inch, so text of ``s`` points in a figure of tight width
``W`` inches is shown at ``s * shown_px / (96 * W)`` points, where ``shown_px = min(W * dpi,
column)``. Two floors:

- at page width, :data:`MIN_FONT_PT` (9) points, 12 CSS px;
- on a phone, :data:`MIN_PHONE_PX` (8) CSS px. Why 8: the page-width floor, 12 px read at about
  60 cm on a screen of about 96 CSS px per inch, subtends the same angle as 9.4 px on a phone
  held at about 30 cm with about 150 CSS px per inch (a 390 px wide phone screen is 64 mm
  wide); a phone reader can also zoom a figure, so the floor is set a little lower, at 8 px.
  Shrunk to the 342 px column, the 10 point text of a 7 inch figure would be 6.8 px; at 480 px,
  9.5 px.

**Layout.** No text may overlap another text (their boxes, 1 px apart at least, so that cell
values such as "0.04" "0.04" cannot run together), overlap the plotting area of another axes (a
title under a colour bar), stick out of the canvas the page shows (the notebook saves a figure
with ``bbox_inches="tight"``: its tight bounding box, which holds every text in its layout), or
stick out of the box it is clipped to.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["CONSTRUCTIONS", "CONSTRUCTION_LABELS", "CONTENT_WIDTH_PX", "PHONE_WIDTH_PX",
           "PHONE_FIGURE_PX", "MIN_FONT_PT", "MIN_PHONE_PX", "PLAIN_KERNEL_COLORS",
           "CONVNEXT_KERNEL_COLORS", "construction_style", "bar_style", "line_style",
           "construction_of", "variant_styles", "shown_font_scale", "figure_problems"]

# The content column, in CSS pixels, measured in Chromium on the built site (the width of a
# figure's <img> scaled to the column): on a 1280 px wide screen and on a 390 px wide phone.
CONTENT_WIDTH_PX = 672
PHONE_WIDTH_PX = 342
PHONE_FIGURE_PX = 480  # the least width of a figure on a phone (book/_static/ksm.css)
CSS_PX_PER_INCH = 96
MIN_FONT_PT = 9.0
MIN_PHONE_PX = 8.0
GAP_PX = 1.0  # the least space between two texts, in the figure's pixels
# Construction names: the kinds of convlib.blocks.make_block, then the two kinds of network.
CONSTRUCTIONS = ("plain", "stacked", "bottleneck", "grouped", "separable", "spatial", "convnext",
                 "dense", "cnn", "local")
CONSTRUCTION_LABELS = {
    "plain": "plain k x k", "stacked": "stacked 3x3", "bottleneck": "bottleneck",
    "grouped": "grouped", "separable": "depthwise separable", "spatial": "spatially separable",
    "convnext": "ConvNeXt block", "dense": "dense (MLP)", "cnn": "CNN",
    "local": "locally connected (no weight sharing)",
}
# Plain convolutions: a blue ramp by kernel size, lighter for smaller kernels.
PLAIN_KERNEL_COLORS = {1: "#9ecae1", 3: "#6baed6", 5: "#3182bd", 7: "#08519c", 9: "#08306b",
                       11: "#041a3d"}
_PLAIN_MARKERS = {1: "o", 3: "s", 5: "^", 7: "D", 9: "v", 11: "P"}
# ConvNeXt blocks (depthwise k x k, 1x1 expansion, 1x1 projection): a purple ramp by kernel size.
CONVNEXT_KERNEL_COLORS = {7: "#8073ac", 13: "#542788", 31: "#2d004b"}
_CONVNEXT_MARKERS = {7: "h", 13: "p", 31: "8"}
_STYLES = {  # colour (Okabe-Ito), hatch, marker, line style
    "plain": ("#3182bd", "", "o", "-"),
    "stacked": ("#E69F00", "//", "s", "--"),
    "bottleneck": ("#009E73", "\\\\", "^", "-."),
    "grouped": ("#D55E00", "xx", "D", ":"),
    "separable": ("#CC79A7", "..", "v", (0, (5, 1))),
    "spatial": ("#56B4E9", "oo", "P", (0, (3, 1, 1, 1))),
    "convnext": ("#542788", "||", "h", (0, (4, 1, 1, 1, 1, 1))),
    "dense": ("#555555", "--", "X", (0, (1, 1))),
    "cnn": ("#8C510A", "++", "*", "-"),
    "local": ("#999933", "--", "d", (0, (2, 2))),
}


def construction_style(kind: str, kernel_size: int | None = None) -> dict[str, Any]:
    """``{"color", "hatch", "marker", "linestyle", "label"}`` of one construction.

    ``kind`` is one of :data:`CONSTRUCTIONS` (``"depthwise"`` and ``"mlp"`` are accepted for
    ``"separable"`` and ``"dense"``). ``kernel_size`` picks the shade and marker of a ``"plain"``
    convolution (odd sizes 1-11; larger ones take the darkest shade) and the shade and marker of
    a ``"convnext"`` block's depthwise kernel (:data:`CONVNEXT_KERNEL_COLORS`); it is ignored
    for the other kinds, whose label mentions no kernel.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {CONSTRUCTIONS}; got {type(kind).__name__}")
    kind = {"depthwise": "separable", "mlp": "dense"}.get(kind, kind)
    if kind not in _STYLES:
        raise ValueError(f"kind must be one of {CONSTRUCTIONS}; got {kind!r}")
    color, hatch, marker, linestyle = _STYLES[kind]
    label = CONSTRUCTION_LABELS[kind]
    if kind == "plain" and kernel_size is not None:
        k = as_kernel_size(kernel_size)
        color = PLAIN_KERNEL_COLORS.get(k, PLAIN_KERNEL_COLORS[11] if k > 11 else color)
        marker = _PLAIN_MARKERS.get(k, marker)
        label = f"plain {k}x{k}"
    if kind == "convnext" and kernel_size is not None:
        k = as_kernel_size(kernel_size)
        color = CONVNEXT_KERNEL_COLORS.get(k, color)
        marker = _CONVNEXT_MARKERS.get(k, marker)
        label = f"ConvNeXt {k}x{k}"
    return {"color": color, "hatch": hatch, "marker": marker, "linestyle": linestyle,
            "label": label}


def as_kernel_size(kernel_size: Any) -> int:
    """``kernel_size`` as an int >= 1, else a ValueError naming it."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) \
            or kernel_size < 1:
        raise ValueError(f"kernel_size must be an int >= 1; got {kernel_size!r}")
    return int(kernel_size)


def construction_of(spec: tuple) -> tuple[str, int | None]:
    """The style map's construction of a variant's builder spec (``Variant.build.spec``, an
    ``ArticleNet`` or a ``FrameNet``): ``("plain", k)`` for a plain k x k network (with or
    without the frame's 1x1 depth control), ``("convnext", k)`` for ConvNeXt blocks with a
    depthwise k x k, ``("grouped", None)`` for a bottleneck whose 3x3 is in groups (ResNeXt),
    ``(kind, None)`` for the other block kinds of the style map, ``("cnn",
    None)`` for anything else."""
    if not isinstance(spec, tuple) or len(spec) < 3 or spec[0] not in ("ArticleNet", "FrameNet"):
        return ("cnn", None)
    kind, kernel_size = spec[1], spec[2]
    options = dict(spec[3]) if len(spec) > 3 and isinstance(spec[3], tuple) else {}
    if kind in ("plain", "plain-1x1"):
        return ("plain", kernel_size)
    if kind == "convnext":
        return ("convnext", kernel_size)
    if kind == "bottleneck" and options.get("groups", 1) > 1:  # ResNeXt: its 3x3 in groups
        return ("grouped", None)
    return (kind, None) if kind in CONSTRUCTIONS else ("cnn", None)


def variant_styles(variants: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``{variant name: line style}`` from the style map, for an experiment's ``variants``, so that
    a construction has the same colour, line and marker in every figure of the book."""
    styles = {}
    for v in variants:
        style = line_style(*construction_of(getattr(v.build, "spec", None)))
        styles[v.name] = {key: value for key, value in style.items() if key != "label"}
    return styles


def bar_style(kind: str, kernel_size: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``ax.bar``/``ax.barh``: colour, hatch, black edge, label."""
    style = construction_style(kind, kernel_size)
    return {"color": style["color"], "hatch": style["hatch"], "edgecolor": "black",
            "linewidth": 0.6, "label": style["label"]}


def line_style(kind: str, kernel_size: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``ax.plot``: colour, line style, marker, label."""
    style = construction_style(kind, kernel_size)
    return {key: style[key] for key in ("color", "linestyle", "marker", "label")}


def _renderer(fig: Any) -> Any:
    """A renderer for ``fig`` whatever its canvas (the notebook's inline backend gives a figure
    a base canvas, which has none of its own until the figure is shown)."""
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def shown_font_scale(fig: Any, content_width_px: float = CONTENT_WIDTH_PX) -> float:
    """Points shown on the page per point of font size in ``fig`` (see the module docstring)."""
    if not isinstance(content_width_px, numbers.Real) or content_width_px <= 0:
        raise ValueError(f"content_width_px must be a positive number; got {content_width_px!r}")
    width_in = fig.get_tightbbox(_renderer(fig)).width  # inches
    shown_px = min(width_in * fig.dpi, float(content_width_px))
    return shown_px / (CSS_PX_PER_INCH * width_in)


def _tick_labels(axis: Any) -> list[Any]:
    """The tick labels ``axis`` draws: those of ticks inside its view interval (matplotlib keeps
    labels for ticks just outside it, which it does not draw)."""
    low, high = sorted(axis.get_view_interval())
    span = (high - low) * 1e-9
    ticks = axis.get_major_ticks() + axis.get_minor_ticks()
    return [label for tick in ticks if low - span <= tick.get_loc() <= high + span
            for label in (tick.label1, tick.label2)]


def _texts(fig: Any) -> list[Any]:
    """Every visible, non-empty text of ``fig`` that the renderer draws (tick labels in view),
    each once."""
    texts = list(fig.texts)
    if getattr(fig, "_suptitle", None) is not None:
        texts.append(fig._suptitle)
    for legend in fig.legends:
        texts += list(legend.get_texts()) + [legend.get_title()]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        texts += list(ax.texts)
        if ax.axison:
            texts += _tick_labels(ax.xaxis) + _tick_labels(ax.yaxis)
        legend = ax.get_legend()
        if legend is not None:
            texts += list(legend.get_texts()) + [legend.get_title()]
    unique = {id(t): t for t in texts}
    return [t for t in unique.values() if t.get_visible() and t.get_text().strip()]


def _is_numeric_axis(axis: Any) -> bool:
    """Whether ``axis`` shows numbers (its tick labels parse as numbers) rather than names."""
    labels = [t.get_text().strip() for t in axis.get_ticklabels() if t.get_text().strip()]
    number = re.compile(r"^[\u2212+-]?[\d,.]+(e[\u2212+-]?\d+)?%?$|^\$.*\$$")
    return bool(labels) and all(number.match(label) for label in labels)


def _shared_label(ax: Any, name: str) -> bool:
    """Whether another axes in the same row (``y``) or column (``x``) of the figure carries the
    label of this axis, as side-by-side panels with a shared y axis do."""
    box = ax.get_position()
    for other in ax.figure.axes:
        if other is ax or not other.axison:
            continue
        edge = other.get_position()
        aligned = abs(edge.y0 - box.y0) < 0.02 if name == "y" else abs(edge.x0 - box.x0) < 0.02
        label = (other.yaxis if name == "y" else other.xaxis).label.get_text().strip()
        if aligned and label:
            return True
    return False


def _legend_elsewhere(ax: Any, labels: list[str]) -> bool:
    """Whether another axes of the figure has a legend naming every one of ``labels`` (one
    legend for panels that show the same series)."""
    for other in ax.figure.axes:
        legend = other.get_legend() if other is not ax else None
        if legend is not None and set(labels) <= {t.get_text() for t in legend.get_texts()}:
            return True
    return False


def _axes_problems(ax: Any, index: int, has_suptitle: bool, figure_legend: bool) -> list[str]:
    """Title, axis labels with units and legend of one axes (see :func:`figure_problems`)."""
    where = f"axes {index}"
    problems = []
    titles = (ax.get_title(), ax.get_title("left"), ax.get_title("right"))
    if not any(t.strip() for t in titles) and not has_suptitle:
        problems.append(f"{where}: no title")
    if not ax.axison:
        return problems
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        label = axis.label.get_text().strip()
        if _is_numeric_axis(axis) and not label and not _shared_label(ax, name):
            problems.append(f"{where}: the {name} axis shows numbers but has no label")
        elif _is_numeric_axis(axis) and label and not re.search(r"\(.+\)", label):
            problems.append(f"{where}: the {name} label {label!r} names no unit in parentheses")
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) >= 2 and ax.get_legend() is None and not figure_legend \
            and not _legend_elsewhere(ax, labels):
        problems.append(f"{where}: {len(handles)} labelled series but no legend")
    return problems


def _size_problems(fig: Any, texts: list[Any], min_pt: float,
                   content_width_px: float) -> list[str]:
    """Texts shown below ``min_pt`` points at page width or :data:`MIN_PHONE_PX` on a phone."""
    scale = shown_font_scale(fig, content_width_px)
    phone_px_per_pt = shown_font_scale(fig, PHONE_FIGURE_PX) * CSS_PX_PER_INCH / 72
    problems = []
    for text in texts:
        size = text.get_fontsize()
        if size * scale < min_pt - 1e-9:
            problems.append(f"text {text.get_text()[:30]!r}: {size:.1f} pt shown at "
                            f"{size * scale:.1f} pt (< {min_pt:g} pt at page width)")
        elif size * phone_px_per_pt < MIN_PHONE_PX - 1e-9:
            problems.append(f"text {text.get_text()[:30]!r}: {size:.1f} pt shown at "
                            f"{size * phone_px_per_pt:.1f} px on a phone (< {MIN_PHONE_PX:g} px)")
    return problems


def _inside(inner: Any, outer: Any, tolerance: float = 1.0) -> bool:
    return (inner.x0 >= outer.x0 - tolerance and inner.x1 <= outer.x1 + tolerance
            and inner.y0 >= outer.y0 - tolerance and inner.y1 <= outer.y1 + tolerance)


def _apart(a: Any, b: Any, gap: float) -> bool:
    """Whether boxes ``a`` and ``b`` are at least ``gap`` pixels apart on one axis."""
    return a.x1 + gap <= b.x0 or b.x1 + gap <= a.x0 or a.y1 + gap <= b.y0 or b.y1 + gap <= a.y0


def _shown_canvas(fig: Any, renderer: Any, bbox: Any) -> Any:
    """The part of ``fig`` the page shows, in display pixels: the notebook saves a figure with
    ``bbox_inches="tight"`` (its tight bounding box, padded by ``savefig.pad_inches``), so a
    text outside the figure's size is still shown, unless it is left out of the layout."""
    import matplotlib as mpl  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    tight = fig.get_tightbbox(renderer)  # inches
    pad = float(mpl.rcParams["savefig.pad_inches"])
    return bbox.from_extents(*(value * fig.dpi for value in tight.extents)).padded(pad * fig.dpi)


def _layout_problems(fig: Any, texts: list[Any]) -> list[str]:
    """Texts that overlap one another or another axes' plotting area, or are clipped."""
    from matplotlib.text import Text  # deferred: matplotlib is heavy (ARCHITECTURE.md)
    from matplotlib.transforms import Bbox  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    renderer = _renderer(fig)
    # the text's own box: an annotation's box would also hold its arrow's bounding rectangle
    boxes = [Text.get_window_extent(text, renderer) for text in texts]
    canvas = _shown_canvas(fig, renderer, Bbox)
    problems = []
    for i, (text, box) in enumerate(zip(texts, boxes)):
        name = repr(text.get_text()[:30])
        if not _inside(box, canvas):
            problems.append(f"text {name} is clipped by the canvas")
        clip = text.get_clip_box() if text.get_clip_on() else None
        if clip is not None and not _inside(box, clip):
            problems.append(f"text {name} is clipped by its axes")
        for other, other_box in zip(texts[i + 1:], boxes[i + 1:]):
            if not _apart(box, other_box, GAP_PX):
                problems.append(f"texts {name} and {other.get_text()[:30]!r} overlap")
        for ax in fig.axes:
            if ax is text.axes or not ax.axison or not ax.get_visible():
                continue
            if not _apart(box, ax.bbox, -GAP_PX):  # overlapping by more than a pixel
                problems.append(f"text {name} overlaps the plotting area of another axes")
    return problems


def figure_problems(fig: Any, *, min_pt: float = MIN_FONT_PT,
                    content_width_px: float = CONTENT_WIDTH_PX) -> list[str]:
    """What makes ``fig`` fall short of the book's figure rules, one line each; ``[]`` if none.

    - every text is shown at ``min_pt`` points or more at page width and at
      :data:`MIN_PHONE_PX` CSS pixels or more on a phone (module docstring);
    - no text overlaps another text or another axes' plotting area, and none is clipped by the
      canvas or by its clip box (module docstring, "Layout");
    - every axes has a title (its own, or the figure's ``suptitle``);
    - an axis that shows numbers has a label naming its unit in parentheses, e.g.
      ``"accuracy (%)"``, ``"time (ms)"``, ``"epoch (passes over the data)"``;
      axes drawn with the axis off (diagrams) are exempt, and a panel may leave its label to
      the panel beside it (same row for y, same column for x);
    - an axes with two or more labelled series has a legend (its own, the figure's, or another
      panel's legend that names all of its series).
    """
    if not isinstance(min_pt, numbers.Real) or min_pt <= 0:
        raise ValueError(f"min_pt must be a positive number; got {min_pt!r}")
    fig.draw_without_rendering()  # lays out ticks and texts, on any canvas
    texts = _texts(fig)
    problems = _size_problems(fig, texts, min_pt, content_width_px)
    problems += _layout_problems(fig, texts)
    has_suptitle = getattr(fig, "_suptitle", None) is not None \
        and fig._suptitle.get_text().strip() != ""
    colorbars = {id(ax) for ax in fig.axes if getattr(ax, "_colorbar", None) is not None}
    for index, ax in enumerate(fig.axes):
        if id(ax) not in colorbars:
            problems += _axes_problems(ax, index, has_suptitle, bool(fig.legends))
    return problems
