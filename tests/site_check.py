"""Open the built website in headless Chromium, page by page, as a reader would.

Used by tests/test_site.py; also runs alone (no convlib needed, only websocket-client):

    .venv/bin/python tests/site_check.py [_build/html]

It serves the site on 127.0.0.1 (http.server in a thread), drives Chromium over the DevTools
protocol (no chromedriver), with every host but 127.0.0.1 unresolvable, and for each page records
what the tests assert on: console errors, requests that left the loopback host, images (loaded?
alt text?), math (typeset? raw TeX left?), the visible text, links, and a full-page screenshot.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Every name resolves to nothing except the loopback address the site is served on: the pages
# must need no network at all (MathJax, fonts, scripts: everything is served by the site).
OFFLINE_FLAG = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
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


# --- Chromium over the DevTools protocol --------------------------------------------------------


class DevToolsError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium and one page, driven over the DevTools protocol (websocket-client)."""

    def __init__(self, binary: str, *, offline: bool = True, log: Path | None = None):
        import websocket  # websocket-client (requirements.txt)

        self.profile = Path(tempfile.mkdtemp(prefix="site-check-chromium-"))
        args = [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
            "--hide-scrollbars",
            "--mute-audio",
            f"--window-size={WIDTH},{HEIGHT}",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={self.profile}",
        ]
        if offline:
            args.append(OFFLINE_FLAG)
        args.append("about:blank")
        self.log = open(log or os.devnull, "wb")
        self.proc = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise DevToolsError(
                    f"Chromium ({binary}) did not start (exit {self.proc.returncode})"
                )
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.version = self.send(
            "Runtime.evaluate", {"expression": "navigator.userAgent", "returnByValue": True}
        )["result"]["value"]

    def send(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            message = json.loads(self.ws.recv())
            if message.get("id") == mid:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def pump(self, seconds: float) -> None:
        """Collect events for a while (console messages logged after the load event)."""
        import websocket

        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                return
            if "method" in message:
                self.events.append(message)

    def wait_event(self, name: str, timeout: float = 60) -> dict:
        import websocket

        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == name:
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise DevToolsError(f"no {name} within {timeout} s")
            self.ws.settimeout(left)
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str, timeout: float = 60):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str, timeout: float = 60) -> None:
        self.events.clear()
        reply = self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise DevToolsError(f"{url}: {reply['errorText']}")
        self.wait_event("Page.loadEventFired", timeout)

    def screenshot(self, path: Path) -> None:
        """The whole page, not only the window: the viewport stretched to the content's height."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        height = min(int(size["height"]) + 1, 30000)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        try:
            shot = self.send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "optimizeForSpeed": True},
                timeout=120,
            )
        finally:
            self.send("Emulation.clearDeviceMetricsOverride")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(10)
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc):
        self.close()


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


def console_errors(events: list[dict]) -> list[str]:
    """What Selenium's browser log calls SEVERE: console.error/assert, uncaught exceptions, and
    errors the browser logs itself (a failed resource, a blocked request)."""
    found = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            found.append(
                f"uncaught: {text} ({details.get('url', '')}:{details.get('lineNumber', '')})"
            )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
            found.append("console.error: " + " ".join(map(str, args)))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            found.append(
                f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
            )
    return found


def check_page(
    browser: Chromium, server: SiteServer, page: str, screenshots: Path | None
) -> PageReport:
    report = PageReport(page=page, url=server.url(page))
    try:
        browser.navigate(report.url)
        probe = browser.evaluate(PAGE_PROBE, timeout=90)
        browser.pump(0.3)
        for key, value in probe.items():
            setattr(report, key, value)
        events = list(browser.events)
        report.console_errors = console_errors(events)
        report.remote_requests = sorted(
            {
                e["params"]["request"]["url"]
                for e in events
                if e["method"] == "Network.requestWillBeSent"
                and not _is_loopback(e["params"]["request"]["url"])
            }
        )
        report.font_responses = [
            (e["params"]["response"]["url"], e["params"]["response"]["status"])
            for e in events
            if e["method"] == "Network.responseReceived" and e["params"]["type"] == "Font"
        ]
        if screenshots is not None:
            report.screenshot = screenshots / (
                page.replace("/", "__").removesuffix(".html") + ".png"
            )
            browser.screenshot(report.screenshot)
    except (DevToolsError, OSError, KeyError) as exc:
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
    log: Path | None = None,
) -> tuple[dict[str, PageReport], list[str], str]:
    """Every page through one browser: (reports by page, paths that 404'd, browser version)."""
    with SiteServer(site) as server, Chromium(chromium, offline=offline, log=log) as browser:
        reports = {page: check_page(browser, server, page, screenshots) for page in pages}
        return reports, list(server.missing), browser.version


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parent.parent
    site = Path(argv[1]) if len(argv) > 1 else repo / "_build" / "html"
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    started = time.monotonic()
    reports, missing, version = crawl(
        site, toc_pages(repo), site / "_screenshots", chromium=chromium
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
