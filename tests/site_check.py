"""Open the built website in headless Chromium, page by page, as a reader would.

Used by tests/test_site.py; also runs alone (no convlib needed, only Playwright and PyYAML):

    .venv/bin/python tests/site_check.py [_build/html]

It serves the site on 127.0.0.1 (http.server in a thread) and drives the system's Chromium
(scripts/install-system-deps; no browser is downloaded) with Playwright, every host but
127.0.0.1 unresolvable, and for each page records what the tests assert on: console errors,
requests that left the loopback host, images (loaded? alt text?), math (typeset? raw TeX left?),
the visible text, links, and a full-page screenshot.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Every name resolves to nothing except the loopback address the site is served on: the pages
# must need no network at all (MathJax, fonts, scripts: everything is served by the site).
OFFLINE_FLAG = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
# Headless on a machine with no network, no GPU and no user profile to keep (Playwright adds
# --headless and, with chromium_sandbox=False, --no-sandbox).
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--hide-scrollbars",
    "--mute-audio",
)
WIDTH, HEIGHT = 1280, 900


def find_chromium() -> str | None:
    """$CHROMIUM, else the first Chromium or Chrome on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"]) or None
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


def toc_pages(repo: Path) -> list[str]:
    """The site path (``book/intro.html``) of every file of _toc.yml, in order."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(f).with_suffix("")) + ".html" for f in files]


# --- the local server --------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    missing: list[str]  # set per server

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass

    def send_error(self, code, message=None, explain=None):
        if code == 404:
            self.missing.append(self.path)
        super().send_error(code, message, explain)


class SiteServer:
    """``http.server`` on 127.0.0.1, a free port, in a thread; ``missing``: paths that 404'd."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.missing: list[str] = []
        handler = type("Handler", (_QuietHandler,), {"missing": self.missing})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(self.root))
        )
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SiteServer:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, page: str) -> str:
        return urllib.parse.urljoin(self.base, page)


# --- the browser --------------------------------------------------------------------------------


@contextlib.contextmanager
def open_browser(binary: str, *, offline: bool = True) -> Iterator:
    """The system's Chromium (``binary``) under Playwright, headless; yields a Browser."""
    args = [*CHROMIUM_FLAGS, *([OFFLINE_FLAG] if offline else [])]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=binary, headless=True, chromium_sandbox=False, args=args
        )
        try:
            yield browser
        finally:
            browser.close()


class PageLog:
    """What a page did while it loaded: console errors, requests, font responses."""

    def __init__(self, page):
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        self.fonts: list[tuple[str, int]] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("response", self._response)

    def _console(self, message) -> None:
        """What Selenium's browser log calls SEVERE: console.error/assert and the errors the
        browser logs itself (a failed resource, a blocked request)."""
        if message.type in ("error", "assert"):
            where = message.location.get("url", "")
            self.console_errors.append(f"console.{message.type}: {message.text} {where}".strip())

    def _response(self, response) -> None:
        if response.request.resource_type == "font":
            self.fonts.append((response.url, response.status))

    def clear(self) -> None:
        self.console_errors.clear()
        self.requests.clear()
        self.fonts.clear()


# --- one page ----------------------------------------------------------------------------------

# Runs in the page after the load event: waits for MathJax's first typeset and for every image
# (lazy ones made eager), then reports what the tests check.
PAGE_PROBE = r"""
(async () => {
  const within = (ms, promise) => Promise.race([promise, new Promise(r => setTimeout(r, ms))]);
  const hasMathJax = !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise);
  if (hasMathJax) await within(30000, window.MathJax.startup.promise);
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await within(20000, Promise.all(images.map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); }))));
  // innerText is what a reader sees; prose_text the same with code hidden (code may hold TeX).
  const inner_text = document.body.innerText;
  const hideCode = document.createElement('style');
  hideCode.textContent = 'pre, code, div.highlight, .cell_input { display: none !important; }';
  document.head.appendChild(hideCode);
  const prose_text = document.body.innerText;
  hideCode.remove();
  const maths = Array.from(document.querySelectorAll('.math'));
  return {
    title: document.title,
    mathjax: hasMathJax,
    mathjax_version: hasMathJax ? window.MathJax.version : null,
    inner_text: inner_text,
    prose_text: prose_text,
    math_elements: maths.length,
    math_untypeset: maths.filter(e => !e.querySelector('mjx-container'))
                         .map(e => e.textContent.slice(0, 120)),
    mjx_containers: document.querySelectorAll('mjx-container').length,
    mjx_errors: Array.from(document.querySelectorAll('mjx-merror'))
                     .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120)),
    images: images.map(img => ({
      src: img.currentSrc || img.src, alt: img.getAttribute('alt'), complete: img.complete,
      natural_width: img.naturalWidth,
    })),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    icon: (document.querySelector('link[rel~="icon"]') || {}).href || null,
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
    caption_numbers: Array.from(document.querySelectorAll('span.caption-number'))
                          .map(e => e.textContent.trim()),
    code_cells: document.querySelectorAll('div.cell_input pre').length,
    // code cells wider than the page (they scroll sideways): the longest line of each
    code_overflow: Array.from(document.querySelectorAll('div.cell_input pre'))
        .filter(p => p.scrollWidth > p.clientWidth + 1)
        .map(p => p.textContent.split('\n').reduce((a, b) => b.length > a.length ? b : a, '')),
  };
})()
"""


@dataclass
class PageReport:
    page: str
    url: str
    title: str = ""
    mathjax: bool = False
    mathjax_version: str | None = None
    inner_text: str = ""
    prose_text: str = ""
    math_elements: int = 0
    math_untypeset: list[str] = field(default_factory=list)
    mjx_containers: int = 0
    mjx_errors: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    icon: str | None = None
    ids: list[str] = field(default_factory=list)
    caption_numbers: list[str] = field(default_factory=list)
    code_cells: int = 0
    code_overflow: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)
    font_responses: list[tuple[str, int]] = field(default_factory=list)
    screenshot: Path | None = None
    error: str | None = None  # the page could not be opened or probed at all


def _is_loopback(url: str) -> bool:
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme in ("data", "blob", "about", "chrome", "devtools") or parsed.hostname in (
        "127.0.0.1",
        "localhost",
        "::1",
    )


def check_page(page, log: PageLog, server: SiteServer, path: str, screenshots: Path | None
               ) -> PageReport:
    """Open ``path`` in ``page`` (whose events ``log`` records) and report on it."""
    report = PageReport(page=path, url=server.url(path))
    log.clear()
    try:
        page.goto(report.url, wait_until="load", timeout=60_000)
        probe = page.evaluate(PAGE_PROBE)
        page.wait_for_timeout(300)  # console messages logged after the probe
        for key, value in probe.items():
            setattr(report, key, value)
        report.console_errors = list(log.console_errors)
        report.remote_requests = sorted({url for url in log.requests if not _is_loopback(url)})
        report.font_responses = list(log.fonts)
        if screenshots is not None:
            name = path.replace("/", "__").removesuffix(".html") + ".png"
            report.screenshot = screenshots / name
            report.screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(report.screenshot), full_page=True, timeout=120_000)
    except (PlaywrightError, OSError) as exc:
        report.error = f"{type(exc).__name__}: {exc}"
    return report


# --- links ------------------------------------------------------------------------------------


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value or "")


@functools.cache
def ids_in(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def broken_link(site: Path, base: str, href: str) -> str | None:
    """Why an internal link (to the served site) does not resolve, or None when it does (or is
    external: those are not checked here)."""
    if not href.startswith(base):
        return None
    parsed = urllib.parse.urlsplit(href)
    rel = urllib.parse.unquote(parsed.path).lstrip("/")
    target = site / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"{href}: no file {target.relative_to(site)}"
    if parsed.fragment and target.suffix == ".html":
        fragment = urllib.parse.unquote(parsed.fragment)
        if fragment not in ids_in(target):
            return f"{href}: no id {fragment!r} in {target.relative_to(site)}"
    return None


def crawl(
    site: Path,
    pages: list[str],
    screenshots: Path | None,
    *,
    chromium: str,
    offline: bool = True,
) -> tuple[dict[str, PageReport], list[str], str]:
    """Every page through one browser: (reports by page, paths that 404'd, browser version)."""
    with SiteServer(site) as server, open_browser(chromium, offline=offline) as browser:
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = context.new_page()
        log = PageLog(page)
        reports = {path: check_page(page, log, server, path, screenshots) for path in pages}
        version = page.evaluate("navigator.userAgent")
        context.close()
        return reports, list(server.missing), version


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parent.parent
    site = Path(argv[1]) if len(argv) > 1 else repo / "_build" / "html"
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium on PATH (scripts/install-system-deps)", file=sys.stderr)
        return 2
    started = time.monotonic()
    reports, missing, version = crawl(
        site, toc_pages(repo), site.parent / "screenshots", chromium=chromium
    )
    for page, r in reports.items():
        print(
            f"{page}: {r.error or 'ok'}; {len(r.console_errors)} console errors, "
            f"{r.math_elements} math / {r.mjx_containers} typeset, {len(r.images)} images, "
            f"{len(r.links)} links, {len(r.remote_requests)} remote requests"
        )
        for line in r.console_errors + r.remote_requests:
            print("   ", line)
    print(f"404s: {missing}\n{version}\n{time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
