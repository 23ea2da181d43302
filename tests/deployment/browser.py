"""A headless Chromium driven by Playwright, pointed at the deployment's UI, saving screenshots for a person.

Playwright's own browser download is not needed: the distribution's ``chromium`` (``make deployment-deps``
installs it when root is available) is used through ``executable_path`` when it is on PATH; elsewhere
``playwright install chromium`` provides one.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

SYSTEM_CHROMIUM = ("chromium", "chromium-browser")
VIEWPORT = {"width": 1400, "height": 2000}
"""Tall enough that every connection form, extra fields expanded, fits without scrolling the dialog."""


def system_chromium() -> str | None:
    """The distribution's Chromium, if installed."""
    return next(filter(None, (shutil.which(name) for name in SYSTEM_CHROMIUM)), None)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the session (without its sandbox when running as root, which it refuses)."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=system_chromium(), args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Screens:
    """Where screenshots go, one file per view, named for what it shows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
        page.screenshot(path=path, full_page=True)
        return path
