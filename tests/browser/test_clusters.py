"""The clusters screen in a real browser: add (with a field error first), test the connection, edit, delete."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import Api

UNREACHABLE = "sc://127.0.0.1:1"  # nothing listens on port 1: the connection test reports "refused"


def open_clusters(page: Page, tenant: Api) -> None:
    """Sign in and open the clusters screen."""
    sign_in(page, tenant)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clusters").click()
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()


def cluster_row(page: Page, name: str) -> Locator:
    """The list's row of cluster `name`."""
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))


def clusters_of(tenant: Api) -> dict[str, dict[str, Any]]:
    """The tenant's clusters by name, through the API."""
    response = tenant.http.get("/clusters")
    assert response.status_code == 200, response.text
    return {c["name"]: c for c in response.json()["items"]}


def add_cluster(page: Page, *, name: str, url: str, token: str = "") -> None:
    """Fill the add form and submit it."""
    page.get_by_role("button", name="Add a cluster").click()
    form = page.get_by_role("form", name="Add a Spark Connect cluster")
    form.get_by_label("Name").fill(name)
    form.get_by_label("URL").fill(url)
    if token:
        form.get_by_label("Token", exact=True).fill(token)
    form.get_by_role("button", name="Add cluster").click()


def test_the_embedded_cluster_is_listed_and_cannot_be_deleted(tenant: Api, page: Page) -> None:
    open_clusters(page, tenant)

    row = cluster_row(page, "embedded")

    expect(row).to_contain_text("cannot be deleted")
    expect(row.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    screenshot(page, "clusters-list")


def test_the_embedded_clusters_pricing_can_be_edited(tenant: Api, page: Page) -> None:
    open_clusters(page, tenant)

    cluster_row(page, "embedded").get_by_role("button", name="Edit embedded").click()
    form = page.get_by_role("form", name=re.compile("Edit cluster"))
    expect(form.get_by_label("URL")).to_have_count(0)  # the embedded engine has no address or token
    form.get_by_label("Units per node-hour").fill("1")
    form.get_by_label("Price per unit").fill("0.25")
    form.get_by_role("button", name="Save changes").click()

    expect(cluster_row(page, "embedded")).to_contain_text("$0.25/h")
    assert clusters_of(tenant)["embedded"]["pricing"]["price_per_unit"] == 0.25


def test_the_clusters_screen_fits_a_phone(tenant: Api, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    open_clusters(page, tenant)
    page.get_by_role("button", name="Add a cluster").click()

    expect(page.get_by_role("form", name="Add a Spark Connect cluster")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "clusters-phone")


def test_a_bad_url_is_shown_next_to_the_url_field(tenant: Api, page: Page) -> None:
    open_clusters(page, tenant)

    add_cluster(page, name="spark-bad", url="http://spark:15002")

    url = page.get_by_label("URL")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(url).to_have_accessible_description(re.compile("not a Spark Connect URL"))
    screenshot(page, "clusters-add-bad-url")
    assert "spark-bad" not in clusters_of(tenant)


def test_a_cluster_is_added_tested_edited_and_deleted(tenant: Api, page: Page) -> None:
    open_clusters(page, tenant)

    add_cluster(page, name="spark-one", url=UNREACHABLE, token="s3cret-token")

    row = cluster_row(page, "spark-one")
    expect(row).to_contain_text(UNREACHABLE)
    stored = clusters_of(tenant)["spark-one"]
    assert (stored["url"], stored["token"]) == (UNREACHABLE, "********")
    screenshot(page, "clusters-added")

    row.get_by_role("button", name="Test connection of spark-one").click()
    report = page.get_by_role("region", name="Connection test: spark-one")
    expect(report).to_contain_text("Not reachable", timeout=40_000)
    expect(report).to_contain_text("refused")
    screenshot(page, "clusters-test-refused")

    row.get_by_role("button", name="Edit spark-one").click()
    form = page.get_by_role("form", name=re.compile("Edit cluster"))
    expect(form.get_by_label("Token", exact=True)).to_have_value("")  # write-only: never prefilled
    form.get_by_label("Nodes").fill("4")
    form.get_by_label("Units per node-hour").fill("2")
    form.get_by_label("Price per unit").fill("0.5")
    screenshot(page, "clusters-edit")
    form.get_by_role("button", name="Save changes").click()
    expect(row).to_contain_text("$4.00/h")
    edited = clusters_of(tenant)["spark-one"]
    assert edited["pricing"] == {"nodes": 4, "units_per_node_hour": 2.0, "price_per_unit": 0.5, "currency": "USD"}
    assert edited["token"] == "********"  # an empty token field keeps the stored one

    row.get_by_role("button", name="Delete spark-one").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(cluster_row(page, "spark-one")).to_have_count(0)
    assert list(clusters_of(tenant)) == ["embedded"]


def test_removing_the_token_sends_null(tenant: Api, page: Page) -> None:
    created = tenant.http.post(
        "/clusters", json={"name": "spark-tok", "kind": "spark_connect", "url": UNREACHABLE, "token": "abc"}
    )
    assert created.status_code == 201, created.text
    open_clusters(page, tenant)

    cluster_row(page, "spark-tok").get_by_role("button", name="Edit spark-tok").click()
    page.get_by_label("Remove the stored token").check()
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("form")).to_have_count(0)
    assert clusters_of(tenant)["spark-tok"]["token"] is None
