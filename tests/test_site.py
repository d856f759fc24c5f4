"""The website as a reader meets it: every page of _toc.yml opened in headless Chromium.

The site is served on 127.0.0.1 and the browser resolves no other host, so every page must work
with no network. For every page: no JavaScript error in the console, no request to another host,
no 404, every image loaded with a real alt text, all math typeset by the site's own MathJax (no raw
``\\(`` or ``$$`` in the text), no ``{glue`` residue, every internal link and anchor resolves; a
full-page screenshot of each page is saved under ``_build/screenshots/`` for people to look at.

Which site: ``$KSM_SITE_DIR`` (``.ci/run`` sets ``_build/html`` right after ``make book``), else a
fresh build of the current sources into a temporary folder. The browser: the system's Chromium
(``scripts/install-system-deps``; a Chrome on PATH or ``$CHROMIUM`` will do) driven by Playwright,
which downloads no browser of its own; without one these tests skip with the reason, which CI
counts as a failure (tests/conftest.py). The student notebooks the exercise pages offer must be
valid nbformat, and open and save in Jupyter (jupyter server's contents API) without the
"Notebook validation failed" warning. Marked slow: ``make slow`` runs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from site_check import (
    OFFLINE_FLAG,
    PageLog,
    SiteServer,
    broken_link,
    crawl,
    find_chromium,
    open_browser,
    toc_pages,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
EXTRA_PAGES = ["search.html", "genindex.html"]  # made by Sphinx, one click away on every page
RAW_TEX = ("\\(", "\\)", "\\[", "\\]", "$$", "\\begin{")
# An alt text that is a file name or a path, not a description (myst-nb's default for a figure
# without alt text is the image's own path, e.g. "../../_images/3d35….png").
PATH_LIKE = re.compile(r"(\.(png|jpe?g|gif|svg|webp|bmp|pdf)\b)|^\S*[/\\]\S*$", re.IGNORECASE)
# A figure a notebook made: myst-nb names output images by their content hash.
NOTEBOOK_FIGURE = re.compile(r"/_images/[0-9a-f]{64}\.(png|jpe?g|svg|gif)$")


def per_page(problems: dict[str, list[str]]) -> str:
    return "\n".join(
        f"{page}:\n  " + "\n  ".join(found) for page, found in problems.items() if found
    )


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    if os.environ.get("KSM_SITE_DIR"):
        built = Path(os.environ["KSM_SITE_DIR"]).resolve()
        assert (built / "index.html").is_file(), (
            f"KSM_SITE_DIR={built} holds no built site (make book)"
        )
        return built
    out = tmp_path_factory.mktemp("site")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run(
        [str(jupyter_book), "build", str(REPO), "--path-output", str(out), "-W", "--keep-going"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, f"the book does not build:\n{(run.stdout + run.stderr)[-4000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip(
            "no Chromium to open the site in: run scripts/install-system-deps "
            "(.ci/run does) or set $CHROMIUM"
        )
    return found


@pytest.fixture(scope="session")
def pages() -> list[str]:
    return toc_pages(REPO) + EXTRA_PAGES


@pytest.fixture(scope="session")
def screenshots(site) -> Path:
    return site.parent / "screenshots"


@pytest.fixture(scope="session")
def browsed(site, chromium, pages, screenshots):
    """Every page through one offline browser: (reports by page, 404'd paths, browser version)."""
    return crawl(site, pages, screenshots, chromium=chromium, offline=True)


@pytest.fixture(scope="session")
def reports(browsed):
    return browsed[0]


def test_every_page_of_the_toc_is_built_and_nothing_else(site, pages):
    missing = [page for page in pages if not (site / page).is_file()]
    assert not missing, f"pages of _toc.yml not built: {missing}"
    built = {
        str(p.relative_to(site))
        for p in site.rglob("*.html")
        if not p.relative_to(site).parts[0].startswith("_")
    }
    assert built - set(pages) == {"index.html"}, f"pages outside _toc.yml: {built - set(pages)}"
    assert "book/intro.html" in (site / "index.html").read_text()


def test_every_page_opens(reports, browsed):
    print(f"{len(reports)} pages opened in {browsed[2]}")
    failed = {page: r.error for page, r in reports.items() if r.error}
    assert not failed, f"pages the browser could not open or read: {failed}"
    untitled = [page for page, r in reports.items() if not r.title]
    assert not untitled, f"pages without a title: {untitled}"


def test_no_javascript_error_in_the_console(reports):
    assert not per_page({p: r.console_errors for p, r in reports.items()}), (
        "console errors (SEVERE):\n" + per_page({p: r.console_errors for p, r in reports.items()})
    )


def test_nothing_is_fetched_from_another_host_and_nothing_is_missing(reports, browsed):
    remote = {p: r.remote_requests for p, r in reports.items()}
    assert not per_page(remote), (
        "requests that left the site (the pages must work offline):\n" + per_page(remote)
    )
    assert browsed[1] == [], f"the site answered 404 for: {browsed[1]}"


def test_every_page_has_the_favicon(site, reports):
    assert (site / "favicon.ico").is_file(), "no /favicon.ico at the site root"
    wrong = {
        p: r.icon
        for p, r in reports.items()
        if not r.icon or not r.icon.endswith((".ico", ".png", ".svg"))
    }
    assert not wrong, f"pages without <link rel=icon>: {wrong}"


def test_every_image_loads_and_has_an_alt_text(reports):
    problems = {
        p: [
            f"{img['src']}: " + ("not loaded" if not img["natural_width"] else "no alt text")
            for img in r.images
            if not img["natural_width"] or not (img["alt"] or "").strip()
        ]
        for p, r in reports.items()
    }
    assert not per_page(problems), per_page(problems)
    assert sum(len(r.images) for r in reports.values()) > 0, "no image on the whole site?"


def test_no_code_cell_scrolls_sideways(reports):
    """A reader on a 1280 px screen sees every column of the book's code (at most 88: test_book),
    without scrolling inside the cell (book/_static/ksm.css sets the size where they fit)."""
    wide = {p: r.code_overflow for p, r in reports.items() if r.code_overflow}
    assert not per_page(wide), per_page(wide)
    assert sum(r.code_cells for r in reports.values()) >= 100  # the chapters' code was measured


def test_figures_are_numbered_per_chapter(reports):
    """Chapter 5's figures are Fig. 5.1, 5.2, ... in page order (book/_ext/ksm_site.py)."""
    wrong, figures = {}, 0
    for page, r in reports.items():
        chapter = re.search(r"chapters/0*(\d+)_", page)
        numbers = [n for n in r.caption_numbers if n.startswith("Fig.")]
        if chapter is None or not numbers:
            continue
        figures += len(numbers)
        expected = [f"Fig. {chapter.group(1)}.{i}" for i in range(1, len(numbers) + 1)]
        if numbers != expected:
            wrong[page] = [f"{got} (expected {want})" for got, want in zip(numbers, expected)
                           if got != want]
    assert not per_page(wrong), per_page(wrong)
    assert figures >= 26


def test_no_alt_text_is_a_file_path(reports):
    """A screen reader reads the alt text aloud: a path is no description of a figure (a notebook
    figure gets its alt text from the :alt: option of its glue:figure directive)."""
    paths = [f"{p}: {img['src']} alt={img['alt']!r}" for p, r in reports.items() for img in r.images
             if PATH_LIKE.search((img["alt"] or "").strip())]
    assert not paths, "images with a path as alt text:\n" + "\n".join(paths)
    figures = sum(bool(NOTEBOOK_FIGURE.search(img["src"]))
                  for r in reports.values() for img in r.images)
    assert figures >= 26  # every chapter figure was checked


def test_math_is_typeset_by_the_sites_own_mathjax(reports):
    problems = {}
    for page, r in reports.items():
        found = []
        if r.math_elements:
            if not r.mathjax:
                found.append("has math but MathJax did not start")
            elif not str(r.mathjax_version).startswith("3."):
                found.append(f"MathJax {r.mathjax_version}, not 3.x")
            found += [f"not typeset: {m}" for m in r.math_untypeset]
            found += [f"TeX error: {m}" for m in r.mjx_errors]
        text = r.prose_text  # innerText, code blocks hidden (a code cell may print TeX)
        found += [
            f"raw {tex!r} in the text: …{text[max(0, text.find(tex) - 60) : text.find(tex) + 60]}…"
            for tex in RAW_TEX
            if tex in text
        ]
        problems[page] = found
    assert not per_page(problems), per_page(problems)
    assert sum(r.mjx_containers for r in reports.values()) > 100, "hardly any math typeset at all?"


def test_no_glue_residue(reports):
    problems = {
        p: [
            f"…{r.inner_text[max(0, i - 60) : i + 60]}…"
            for i in [m.start() for m in re.finditer(r"\{glue", r.inner_text)]
        ]
        for p, r in reports.items()
    }
    assert not per_page(problems), "unresolved glue in the page:\n" + per_page(problems)


def test_every_internal_link_and_anchor_resolves(site, reports):
    base = next(iter(reports.values())).url.split("/book/")[0] + "/"
    problems = {
        p: sorted({why for href in r.links if (why := broken_link(site, base, href))})
        for p, r in reports.items()
    }
    assert not per_page(problems), "broken internal links:\n" + per_page(problems)
    assert sum(len(r.links) for r in reports.values()) > 100


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_one_full_page_screenshot_per_page(reports, screenshots):
    for page, r in reports.items():
        assert r.screenshot is not None and r.screenshot.is_file(), f"no screenshot of {page}"
        width, height = png_size(r.screenshot)
        assert width >= 1000 and height >= 600, f"{r.screenshot}: {width}x{height}"
    chapters = [r for p, r in reports.items() if "/chapters/" in p]
    assert all(png_size(r.screenshot)[1] > 3000 for r in chapters), (
        "chapter screenshots not full-page"
    )
    print(f"screenshots: {screenshots}")


@pytest.fixture(scope="session")
def exercise_pages(reports):
    pages = {p: r for p, r in reports.items() if p.startswith("book/exercises/")}
    assert len(pages) == len(list((REPO / "exercises" / "source").glob("ch*")))
    return pages


@pytest.fixture(scope="session")
def downloads(site, exercise_pages, tmp_path_factory) -> dict[str, Path]:
    """The student notebook each exercise page links, fetched from the served site (HTTP 200)
    into one folder: {name (ch01): file}."""
    folder = tmp_path_factory.mktemp("downloads")
    found = {}
    with SiteServer(site) as server:
        for page, report in exercise_pages.items():
            name = page.rsplit("/", 1)[1].split(".")[0]
            notebooks = {href for href in report.links
                         if href.split("#")[0].split("?")[0].endswith(f"/{name}.ipynb")
                         and "/_downloads/" in href}
            assert len(notebooks) == 1, f"{page} links {sorted(notebooks)}"
            url = server.url(next(iter(notebooks)).split("/", 3)[3])
            with urllib.request.urlopen(url, timeout=30) as reply:
                assert reply.status == 200, f"{url}: HTTP {reply.status}"
                found[name] = folder / f"{name}.ipynb"
                found[name].write_bytes(reply.read())
    return found


def test_exercise_notebooks_download(downloads, exercise_pages):
    """Every exercise page links its student notebook, which is served, is a notebook without a
    solution or hidden test, and links back to its chapter."""
    for page, report in exercise_pages.items():
        name = page.rsplit("/", 1)[1].split(".")[0]
        text = downloads[name].read_text(encoding="utf-8")
        notebook = json.loads(text)
        assert notebook.get("nbformat") == 4 and isinstance(notebook.get("cells"), list), name
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, name
        chapter = f"/book/chapters/{name[2:]}_"
        assert any(chapter in href for href in report.links), f"{page} has no link to its chapter"


def test_every_download_is_valid_nbformat(downloads):
    """The schema of the nbformat version each notebook declares (a cell ``id`` needs 4.5 or
    later): what Jupyter checks on open and on save."""
    invalid = {}
    for name, path in sorted(downloads.items()):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        try:
            nbformat.validate(notebook)
        except nbformat.ValidationError as error:
            where = "/".join(map(str, error.absolute_path)) or "top level"
            version = f"{notebook.get('nbformat')}.{notebook.get('nbformat_minor')}"
            invalid[name] = f"nbformat {version}: {error.message} (at {where})"
    assert not invalid, "downloads that Jupyter rejects:\n" + "\n".join(
        f"{name}: {why}" for name, why in invalid.items())


@pytest.fixture(scope="session")
def jupyter(downloads, tmp_path_factory):
    """call(method, path, body=None) -> (status, JSON) on a jupyter server (loopback, a token)
    whose root is the downloads' folder; stopped after the session."""
    folder = next(iter(downloads.values())).parent
    home = tmp_path_factory.mktemp("jupyter-home")
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
               *(["--allow-root"] if os.geteuid() == 0 else [])]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    log = open(home / "server.log", "wb")  # noqa: SIM115 - open while the server runs
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, {"error": error.read().decode(errors="replace")}

    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                if call("GET", "/api/status")[0] == 200:
                    break
            assert server.poll() is None and time.monotonic() < deadline, (
                "jupyter server did not start:\n" + (home / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield call
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_downloads_open_and_save_in_jupyter_without_a_validation_warning(downloads, jupyter):
    """Jupyter's own contents API (what JupyterLab calls) opens every download and saves one
    copy back: neither reply may carry "Notebook validation failed"."""
    warnings = {}
    for name in sorted(downloads):
        status, model = jupyter("GET", f"/api/contents/{name}.ipynb?type=notebook&content=1")
        assert status == 200 and model["type"] == "notebook", (name, status, model)
        if model.get("message"):
            warnings[f"{name} opened"] = model["message"]
    name = sorted(downloads)[0]
    _, model = jupyter("GET", f"/api/contents/{name}.ipynb?type=notebook&content=1")
    status, saved = jupyter("PUT", f"/api/contents/saved-{name}.ipynb",
                            {"type": "notebook", "format": "json", "content": model["content"]})
    assert status in (200, 201), (status, saved)
    if saved.get("message"):
        warnings[f"{name} saved"] = saved["message"]
    assert not warnings, "Jupyter's validation warnings:\n" + "\n".join(
        f"{where}: {message[:400]}" for where, message in warnings.items())


def test_math_typesets_with_networking_disabled(site, chromium, reports):
    """One chapter opened in a browser that reaches no host but the site's: the math is typeset,
    with MathJax's own fonts served by the site, and the CDN is really out of reach."""
    page = max((p for p in reports if "/chapters/" in p), key=lambda p: reports[p].math_elements)
    with SiteServer(site) as server, open_browser(chromium, offline=True) as browser:
        tab = browser.new_page()
        log = PageLog(tab)
        tab.goto(server.url(page), wait_until="load", timeout=60_000)
        typeset = tab.evaluate("""(async () => {
            await MathJax.startup.promise;
            await document.fonts.ready;
            return {containers: document.querySelectorAll('mjx-container').length,
                    text: document.body.innerText};
        })()""")
        fonts = [(url, status) for url, status in log.fonts if "/_static/mathjax/" in url]
        cdn = tab.evaluate(
            "fetch('https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js',"
            " {mode: 'no-cors'}).then(() => 'reached', () => 'blocked')"
        )
    assert OFFLINE_FLAG.startswith("--host-resolver-rules=MAP * ~NOTFOUND")
    assert cdn == "blocked", "the browser reached a CDN: this test would not prove anything offline"
    assert typeset["containers"] >= reports[page].math_elements > 10, (page, typeset["containers"])
    assert "\\(" not in typeset["text"] and "$$" not in typeset["text"]
    assert fonts and all(status == 200 for _, status in fonts), f"MathJax fonts: {fonts}"


PLANTED = """<!DOCTYPE html><html><head><title>planted</title></head><body>
<p>Unresolved {glue:text}`ch1_x` and raw math: <span class="math">\\\\(x^2\\\\)</span></p>
<img src="missing.png" alt=""><img src="https://example.org/remote.png" alt="a remote image">
<div class="cell_input"><pre style="width: 200px; overflow: auto">%s</pre></div>
<span class="caption-number">Fig. 3.2 </span>
<script>console.error("planted error"); setTimeout(() => { throw new Error("planted throw"); });
</script></body></html>""" % ("x = 1  # " + "long " * 60)


def test_the_browser_checks_catch_a_planted_broken_page(chromium, tmp_path):
    """Each thing the site tests look for, planted in one page, is seen by the Playwright crawl:
    console errors (logged, thrown, a failed resource), a request to another host, a 404, an
    image that did not load and has no alt text, math MathJax never typeset, glue residue, a
    code cell that scrolls sideways, a figure number; and the screenshot is taken."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(PLANTED)
    reports, missing, _ = crawl(tmp_path / "site", ["index.html"], tmp_path / "shots",
                                chromium=chromium)
    page = reports["index.html"]
    assert page.error is None and page.title == "planted"
    errors = "\n".join(page.console_errors)
    assert "planted error" in errors and "planted throw" in errors and "404" in errors, errors
    assert page.remote_requests == ["https://example.org/remote.png"]
    assert "/missing.png" in missing
    assert [i["natural_width"] for i in page.images] == [0, 0] and page.images[0]["alt"] == ""
    assert page.math_elements == 1 and not page.mathjax and page.math_untypeset
    assert "\\(" in page.prose_text and "{glue" in page.inner_text
    assert page.code_cells == 1 and page.code_overflow and page.caption_numbers == ["Fig. 3.2"]
    assert page.screenshot.is_file()
