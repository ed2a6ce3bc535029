"""Browser fixtures: Debian's Chromium driven by Playwright against one running stack per session.

The UI is tested the way a user meets it: a real browser on the page the api service serves, signed in with a
tenant API key; input files are put into the landing folder or the object store first, like every e2e test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from autoloader_cli.stack import Stack
from tests.e2e.conftest import Api, new_tenant, start_stack

CHROMIUM = Path(os.environ.get("AUTOLOADER_CHROMIUM", "/usr/bin/chromium"))
# Headless as root on a closed network (FACTS.md): without the background-networking flags Chromium floods it.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser is a browser test (``-m "not browser"`` leaves them out)."""
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def ui_stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    """One running stack for every browser test (tenants keep the tests apart)."""
    running = start_stack(tmp_path_factory.mktemp("ui-stack"), postgres_admin_url)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    """The Playwright driver (its own Node process), once for the browser tests.

    Package scope, not session: while the sync API is open its event loop counts as running in this thread, so
    every later asyncio test would fail with "Runner.run() cannot be called from a running event loop".
    """
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; never a downloaded browser (``playwright install`` cannot work here).

    Playwright gives each launch a fresh temporary profile itself (it refuses a ``--user-data-dir`` flag).
    """
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does")
    launched = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def tenant(ui_stack: Stack) -> Iterator[Api]:
    """A new tenant of the session's stack, with an API client for arranging data and checking outcomes."""
    client = new_tenant(ui_stack)
    try:
        yield client
    finally:
        client.http.close()


def api_key_of(client: Api) -> str:
    """The tenant API key an :class:`Api` client sends."""
    return str(client.http.headers["Authorization"]).removeprefix("Bearer ")


@pytest.fixture
def page(browser: Browser, ui_stack: Stack) -> Iterator[Page]:
    """A fresh browser context (no stored key) at 1280x800 on the stack's UI; console errors fail the test."""
    context = browser.new_context(base_url=ui_stack.api_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


def sign_in(page: Page, client: Api) -> None:
    """Open the UI and sign in with the tenant's key; wait for the dashboard."""
    page.goto("/")
    page.get_by_label("API key").fill(api_key_of(client))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Ingestions", exact=True)).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under tests/browser/screenshots (gitignored) and return its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
