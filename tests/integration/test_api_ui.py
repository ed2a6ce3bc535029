"""The web UI's static files: served without a key (they hold no data), never from another origin."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autoloader_api.controllers.ui import UI_DIR
from tests.integration.api_harness import ApiStack, api_stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack(nats_url: str, database_url: str, data_dir: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(nats_url=nats_url, database_url=database_url, data_dir=data_dir) as running:
        yield running


async def test_the_entry_page_is_served_at_the_root_without_a_key(stack: ApiStack) -> None:
    response = await stack.client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/app.js"></script>' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_module_and_stylesheet_the_page_loads_is_served_locally(stack: ApiStack) -> None:
    page = (await stack.client.get("/")).text
    referenced = set(re.findall(r'(?:src|href)="(/ui/[^"]+)"', page))
    modules = {f"/ui/{path.relative_to(UI_DIR).as_posix()}" for path in UI_DIR.rglob("*.js")}

    assert "/ui/app.js" in referenced
    for path in sorted(referenced | modules):
        response = await stack.client.get(path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
    assert not re.search(r"https?://", page), "the page must not load anything from another origin"


async def test_a_missing_ui_file_is_404_and_the_api_still_needs_a_key(stack: ApiStack) -> None:
    assert (await stack.client.get("/ui/no-such-module.js")).status_code == 404
    assert (await stack.client.get("/api/v1/ingestions")).status_code == 401


def test_no_ui_module_inserts_html_or_loads_from_another_origin() -> None:
    for path in UI_DIR.rglob("*.js"):
        source = path.read_text()
        assert "innerHTML" not in source, path
        assert "insertAdjacentHTML" not in source, path
        assert not re.search(r"""(?:import|fetch)\s*\(?\s*["']https?://""", source), path
