"""Site assets that Jupyter Book does not give us: MathJax served by the site itself, no Thebe,
a favicon at the site root.

Loaded by _config.yml (``sphinx.local_extensions``). Five things:

* **MathJax without a third-party host.** ``mathjax_path`` (in _config.yml) points at
  ``_static/mathjax/tex-mml-chtml.js``; this extension copies MathJax 3's browser build (the
  ``es5`` folder: the component, its CommonHTML fonts, the TeX extensions it autoloads, the menu
  and accessibility parts) from the ``django-static-mathjax`` package (MathJax 3.2.2, pinned in
  constraints.txt, installed by ``make install``) into ``_build/html/_static/mathjax``. A remote
  ``mathjax_path`` is refused, so the CDN cannot come back unnoticed. (That package is MathJax
  3.2.2 built from MathJax's own sources, with no dependency: the same 106 files of ``es5`` as npm's
  ``mathjax@3.2.2``, 93 identical, 13 minified differently. It needs neither npm nor Django.)
* **No Thebe.** Jupyter Book always loads ``sphinx_thebe``, which injects its configuration
  snippet twice on Sphinx 7 (every page then logs "Identifier 'THEBE_JS_URL' has already been
  declared") and points at unpkg.com. The book has no Thebe button (``launch_buttons.thebe`` is
  false), so its event handlers and stylesheet are removed.
* **/favicon.ico.** ``html_favicon`` gives every page its ``<link rel="icon">``; a copy at the
  site root answers clients that ask for ``/favicon.ico`` without reading the page.
* **The site's style rules**, ``book/_static/ksm.css`` (code at a size where 88 columns fit the
  page), added to every page.
* **Figures numbered per chapter**: "Fig. 5.3" is the third figure of chapter 5 (Sphinx numbers
  the figures of a book without a numbered toctree 1, 2, ... across all chapters).
"""

from __future__ import annotations

import re
import shutil
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "_static"  # book/_static
STYLESHEET = "ksm.css"
CHAPTER_PAGE = re.compile(r"(?:^|/)chapters/0*(\d+)_")  # book/chapters/05_grouped -> 5

MATHJAX_DIST = "django-static-mathjax"
MATHJAX_COMPONENT = "tex-mml-chtml.js"
# What tex-mml-chtml.js loads at run time: autoloaded TeX extensions (input/), the output fonts
# and the SVG renderer the menu can switch to (output/), the menu (ui/), the accessibility
# explorer and speech rules (a11y/, sre/), the DOM adaptors. The other combined bundles are unused.
MATHJAX_PARTS = (MATHJAX_COMPONENT, "input", "output", "ui", "a11y", "sre", "adaptors")


def mathjax_es5() -> Path:
    """The es5 folder of the installed MathJax 3 (ExtensionError with the fix when absent)."""
    try:
        dist = distribution(MATHJAX_DIST)
    except PackageNotFoundError:
        raise ExtensionError(
            f"{MATHJAX_DIST} is not installed: the site serves its own MathJax "
            "(run `make install`, or pip install -r requirements.txt -c constraints.txt)"
        ) from None
    es5 = Path(dist.locate_file("mathjax/static/mathjax/es5"))
    if not (es5 / MATHJAX_COMPONENT).is_file():
        raise ExtensionError(f"{MATHJAX_DIST} {dist.version} has no {MATHJAX_COMPONENT} in {es5}")
    return es5


def check_mathjax_path(app: Sphinx, config) -> None:
    path = config.mathjax_path or ""
    if "://" in path or path.startswith("//"):
        raise ExtensionError(
            f"mathjax_path is remote ({path}): the site serves its own MathJax; "
            f"set mathjax_path: mathjax/{MATHJAX_COMPONENT} in _config.yml"
        )
    mathjax_es5()  # fail at the start of the build, not after it


def drop_thebe(app: Sphinx, config) -> None:
    for listeners in list(app.events.listeners.values()):
        for listener in list(listeners):
            if getattr(listener.handler, "__module__", "").startswith("sphinx_thebe"):
                app.disconnect(listener.id)
    app.registry.css_files[:] = [
        (name, attrs) for name, attrs in app.registry.css_files if name != "sphinx-thebe.css"
    ]


def add_stylesheet(app: Sphinx, config) -> None:
    """book/_static joins the static path (Jupyter Book only adds a root ``_static``)."""
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    app.add_css_file(STYLESHEET)


def number_figures_per_chapter(app: Sphinx, env) -> list[str]:
    """After Sphinx has numbered every figure (env-get-updated), renumber a chapter's figures
    (chapter, 1), (chapter, 2), ... in the order Sphinx numbered them; other pages keep theirs."""
    for docname, kinds in env.toc_fignumbers.items():
        chapter = CHAPTER_PAGE.search(docname)
        if chapter is None:
            continue
        for numbers in kinds.values():
            in_order = sorted(numbers, key=numbers.get)
            for position, node_id in enumerate(in_order, start=1):
                numbers[node_id] = (int(chapter.group(1)), position)
    return []


def copy_assets(app: Sphinx) -> None:
    """At builder-inited, so pages get the script's checksum (``?v=``) like other local assets."""
    if app.builder.format != "html":
        return
    outdir = Path(app.builder.outdir)
    es5 = mathjax_es5()
    target = outdir / "_static" / Path(app.config.mathjax_path).parent
    for part in MATHJAX_PARTS:
        src = es5 / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / part)
    licence = es5.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, target / "LICENSE")
    logger.info(
        f"MathJax from {MATHJAX_DIST} {distribution(MATHJAX_DIST).version} copied into {target}"
    )

    favicon = app.config.html_favicon
    if favicon and not favicon.startswith(("http:", "https:")) and favicon.endswith(".ico"):
        shutil.copy2(Path(app.confdir) / favicon, outdir / "favicon.ico")


def setup(app: Sphinx) -> dict:
    # config-inited: every extension of the list (sphinx_thebe included) is set up by then.
    app.connect("config-inited", check_mathjax_path)
    app.connect("config-inited", drop_thebe)
    app.connect("config-inited", add_stylesheet)
    app.connect("builder-inited", copy_assets)
    # after the toctree collector (priority 500), which assigns the book-wide numbers
    app.connect("env-get-updated", number_figures_per_chapter, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
