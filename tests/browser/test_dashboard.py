"""Sign-in and the dashboard in a real browser: totals, filters, live run status and quick actions."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from autoloader_cli.stack import Stack
from tests.browser.conftest import api_key_of, screenshot, sign_in
from tests.conftest import unique
from tests.e2e.conftest import Api, write_csv


def csv_folder(stack: Stack, files: int = 3, rows: int = 1000) -> Path:
    """A fresh folder under the stack's landing root with ``files`` CSVs of ``rows`` rows each."""
    folder = stack.landing_dir / unique("ui")
    for index in range(files):
        write_csv(folder / f"part-{index}.csv", index * rows, rows)
    return folder


def test_a_wrong_key_is_refused_and_sign_out_forgets_the_key(page: Page, tenant: Api) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to Autoloader")).to_be_visible()
    screenshot(page, "sign-in")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("This API key is not valid")).to_be_visible()
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")

    sign_in(page, tenant)
    assert api_key_of(tenant) not in page.url
    assert page.evaluate("sessionStorage.getItem('autoloader.apiKey')") == api_key_of(tenant)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Autoloader")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('autoloader.apiKey')") is None


def test_the_dashboard_shows_each_ingestion_and_filters_by_name_status_and_source(
    page: Page, tenant: Api, ui_stack: Stack
) -> None:
    folder = csv_folder(ui_stack, files=1, rows=10)
    tenant.create(tenant.ingestion_body(folder, table="orders_daily", schedule={"frequency": "daily", "time": "02:00"}))
    tenant.create(tenant.ingestion_body(folder, table="customers", activate=True))
    sign_in(page, tenant)

    rows = page.get_by_role("table", name="Ingestions").locator("tbody tr")
    expect(rows).to_have_count(2)
    orders = rows.filter(has_text="orders_daily")
    expect(orders).to_contain_text("Every day at 02:00 (UTC)")
    expect(orders).to_contain_text("lake.e2e.orders_daily")
    expect(orders.locator("[data-status]").first).to_have_text("✎ draft")
    expect(rows.filter(has_text="customers").locator("[data-status]").first).to_have_text("✓ healthy")
    expect(page.locator(".stat").filter(has_text="Active ingestions")).to_contain_text("1")
    screenshot(page, "dashboard")

    page.get_by_label("Search by name").fill("cust")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("customers")
    page.get_by_label("Search by name").fill("")
    page.get_by_label("Status").select_option("draft")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("orders_daily")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Source type").select_option("s3")
    expect(rows.first).to_contain_text("No ingestion matches these filters.")


def test_run_now_from_the_dashboard_is_seen_to_finish_without_a_reload(
    page: Page, tenant: Api, ui_stack: Stack
) -> None:
    folder = csv_folder(ui_stack)
    created = tenant.create(tenant.ingestion_body(folder, table=unique("orders"), activate=True))
    sign_in(page, tenant)
    page.evaluate("window.__noReload = true")

    row = page.locator(f"tr[data-ingestion-id='{created['id']}']")
    row.get_by_role("button", name=f"Run now {created['name']}").click()
    expect(page.get_by_text(f"Run of {created['name']} started.")).to_be_visible()
    expect(row.locator("[data-run-state='success']")).to_be_visible(timeout=60_000)
    assert page.evaluate("window.__noReload") is True, "the page was reloaded"
    screenshot(page, "dashboard-after-run")

    runs = tenant.runs(created["id"])
    assert [run["status"] for run in runs] == ["success"]
    assert runs[0]["metrics"]["records_ingested"] == 3000


def test_pause_and_resume_from_the_dashboard(page: Page, tenant: Api, ui_stack: Stack) -> None:
    created = tenant.create(tenant.ingestion_body(csv_folder(ui_stack, 1, 5), table=unique("orders"), activate=True))
    sign_in(page, tenant)
    row = page.locator(f"tr[data-ingestion-id='{created['id']}']")

    row.get_by_role("button", name=f"Pause {created['name']}").click()
    expect(row.locator("[data-status='paused']")).to_be_visible()
    assert tenant.http.get(f"/ingestions/{created['id']}").json()["status"] == "paused"
    row.get_by_role("button", name=f"Resume {created['name']}").click()
    expect(row.locator("[data-status='healthy']")).to_be_visible()
    assert tenant.http.get(f"/ingestions/{created['id']}").json()["status"] == "active"


def test_delete_asks_first_and_then_removes_the_ingestion(page: Page, tenant: Api, ui_stack: Stack) -> None:
    created = tenant.create(tenant.ingestion_body(csv_folder(ui_stack, 1, 5), table=unique("orders")))
    sign_in(page, tenant)
    row = page.locator(f"tr[data-ingestion-id='{created['id']}']")

    row.get_by_role("button", name=f"Delete {created['name']}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete {created['name']}?")
    screenshot(page, "dashboard-delete-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    assert tenant.http.get(f"/ingestions/{created['id']}").status_code == 200

    row.get_by_role("button", name=f"Delete {created['name']}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert tenant.http.get(f"/ingestions/{created['id']}").status_code == 404


def test_two_hundred_ingestions_are_paged_and_searchable(page: Page, tenant: Api, ui_stack: Stack) -> None:
    folder = csv_folder(ui_stack, 1, 2)
    for index in range(200):
        tenant.create(tenant.ingestion_body(folder, table=f"feed_{index:03d}"))
    sign_in(page, tenant)

    rows = page.get_by_role("table", name="Ingestions").locator("tbody tr")
    expect(rows).to_have_count(25)
    expect(page.get_by_text("200 ingestions · page 1 of 8")).to_be_visible()
    page.get_by_role("button", name="Next \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}").click()
    expect(rows.first).to_contain_text("feed_025")
    page.get_by_label("Search by name").fill("feed_199")
    expect(rows).to_have_count(1)


def test_the_dashboard_fits_a_phone_screen(page: Page, tenant: Api, ui_stack: Stack) -> None:
    tenant.create(tenant.ingestion_body(csv_folder(ui_stack, 1, 5), table="orders_on_a_phone"))
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, tenant)
    expect(page.get_by_role("link", name="orders_on_a_phone", exact=True)).to_be_visible()
    screenshot(page, "dashboard-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
