"""Open reports in a real headless Chromium: for screenshots, the report-open benchmark and the tests.

Uses Playwright's Python driver on the system's Chromium (``executable_path``; no browser is
downloaded), started with a fresh profile and every background network feature off, so nothing but
the page itself is loaded. Playwright is a development dependency (``pip install -e ".[dev]"``), and
Chromium a system package (``apt-get install chromium``).

Example:
    >>> isinstance(chromium_path(), (str, type(None)))
    True
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archtune.errors import ConfigError

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# What each plot draws, counted in its SVG: markers, box bodies, bars, line paths
PLOT_MARKS_JS = """() => Object.fromEntries([...document.querySelectorAll('div.plot')]
  .filter(d => !d.closest('section').hidden && d.data)
  .map(d => [d.dataset.figure, {
    traces: d.data.length,
    points: d.querySelectorAll('.scatterlayer path.point').length,
    boxes: d.querySelectorAll('.boxlayer path.box').length,
    box_points: d.querySelectorAll('.boxlayer path.point').length,
    bars: d.querySelectorAll('.barlayer path').length,
    lines: d.querySelectorAll('.scatterlayer path.js-line').length,
  }]))"""


def chromium_path() -> str | None:
    """The system Chromium (``$ARCHTUNE_CHROMIUM``, else ``chromium`` on PATH), or None.

    Example:
        >>> chromium_path() is None or os.path.exists(chromium_path())
        True
    """
    given = os.environ.get("ARCHTUNE_CHROMIUM")
    if given:
        return given if os.path.exists(given) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLog:
    """What a page reported while it was open: console errors, uncaught exceptions, blocked requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return self.console_errors + self.page_errors


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium (Playwright ``BrowserContext``) with a fresh profile, closed afterwards.

    Raises:
        ConfigError: when Chromium or Playwright is not installed (the message says how to install).
    """
    executable = chromium_path()
    if executable is None:
        raise ConfigError(
            "no Chromium found: install it (apt-get install chromium) or set ARCHTUNE_CHROMIUM to its path"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ConfigError(
            'Playwright is not installed: pip install -e ".[dev]" (or pip install playwright); '
            "no browser download is needed"
        ) from None
    profile = tempfile.mkdtemp(prefix="archtune-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_page(
    context: Any, url: str, allow: tuple[str, ...] = ("file://",), timeout_s: float = 60.0
) -> tuple[Any, PageLog]:
    """Open ``url`` in a new tab and wait until the report has drawn (``body[data-ready="1"]``).

    Every request whose URL does not start with one of ``allow`` is blocked and recorded, so a page
    that would need the network shows it.
    """
    page = context.new_page()
    log = PageLog()
    page.on("console", lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: log.page_errors.append(str(err)))

    def route(r: Any) -> None:
        if r.request.url.startswith(allow) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            log.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="load", timeout=timeout_s * 1000)
    page.wait_for_selector('body[data-ready="1"]', timeout=timeout_s * 1000)
    return page, log


def plot_marks(page: Any) -> dict[str, dict[str, int]]:
    """For each plot shown: its traces and the markers, boxes, bars and lines drawn in its SVG."""
    return page.evaluate(PLOT_MARKS_JS)


def screenshot(
    html_file: str | os.PathLike[str], png: str | os.PathLike[str], width: int = 1400, full_page: bool = True
) -> Path:
    """Save a PNG of a report as Chromium draws it.

    Example::

        screenshot("report.html", "report.png")
    """
    with browser(width=width) as context:
        page, _ = open_page(context, Path(html_file).resolve().as_uri())
        page.screenshot(path=str(png), full_page=full_page)
    return Path(png)


def time_report_open(html_file: str | os.PathLike[str], repeats: int = 5) -> dict[str, Any]:
    """Seconds from navigation to a drawn report (``body[data-ready="1"]``), each in a fresh tab.

    Returns the file's size, each run's seconds and their median. The first run is a warm-up (the
    browser's own start) and is reported apart.
    """
    path = Path(html_file).resolve()
    times = []
    with browser() as context:
        for _ in range(repeats + 1):
            start = time.perf_counter()
            page, log = open_page(context, path.as_uri(), timeout_s=300)
            times.append(time.perf_counter() - start)
            if log.errors:
                raise ConfigError(f"the report {str(path)!r} raised JavaScript errors: {log.errors[:3]}")
            page.close()
    return {
        "file": str(path),
        "bytes": path.stat().st_size,
        "warmup_s": round(times[0], 3),
        "runs_s": [round(t, 3) for t in times[1:]],
        "median_s": round(statistics.median(times[1:]), 3),
    }
