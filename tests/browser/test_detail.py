"""The ingestion detail and run screens in a real browser: live runs, schema review, operations, charts.

Data is arranged through the API (a tenant client, CSV files under the landing folder); the user's steps happen in
the browser; outcomes are checked on the page and through the API.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from autoloader_cli.stack import Stack
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import unique
from tests.e2e.conftest import Api, write_csv

RUN_TIMEOUT = 60_000


def csv_ingestion(stack: Stack, tenant: Api, *, evolution_mode: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Three CSVs of 1,000 rows each under the landing folder and a manual ingestion over them."""
    folder = stack.landing_dir / unique("detail")
    for n in range(3):
        write_csv(folder / f"part-{n}.csv", n * 1000, 1000)
    body = tenant.ingestion_body(folder, table=unique("detail"))
    if evolution_mode:
        body["format"] = {"type": "csv", "schema": {"evolution_mode": evolution_mode}}
    return folder, tenant.create(body)


def loaded_once(stack: Stack, tenant: Api, **options: Any) -> tuple[Path, dict[str, Any]]:
    """The ingestion of :func:`csv_ingestion` after one successful run (3,000 rows), done through the API."""
    folder, ingestion = csv_ingestion(stack, tenant, **options)
    run = tenant.wait_run(ingestion["id"], tenant.run(ingestion["id"]))
    assert run["status"] == "success", run
    return folder, ingestion


def open_detail(page: Page, tenant: Api, ingestion: dict[str, Any], tab: str = "") -> None:
    """Sign in and open the ingestion's screen on `tab` (the overview when empty)."""
    sign_in(page, tenant)
    page.goto(f"/#/ingestions/{ingestion['id']}{'/' + tab if tab else ''}")
    expect(page.get_by_role("heading", name=ingestion["name"], level=1)).to_be_visible()


def last_run_status(page: Page) -> Locator:
    """The head's live line about the last (or current) run."""
    return page.get_by_role("status").filter(has_text=re.compile(r"Last run|run is"))


def mark_page(page: Page) -> None:
    """Leave a marker in the page's JS state; it survives anything but a reload."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page: Page) -> None:
    """The marker of :func:`mark_page` is still there."""
    assert page.evaluate("window.__noReload === true"), "the page was reloaded"


def wait_newest_run(tenant: Api, ingestion_id: str, previous: int) -> dict[str, Any]:
    """Wait (through the API) for the run started after `previous` runs to finish."""
    runs = tenant.runs(ingestion_id)
    assert len(runs) == previous + 1, runs
    return tenant.wait_run(ingestion_id, runs[0]["id"])


def test_run_now_finishes_without_a_reload_and_the_run_shows_its_files(
    ui_stack: Stack, tenant: Api, page: Page
) -> None:
    _, ingestion = csv_ingestion(ui_stack, tenant)
    open_detail(page, tenant, ingestion, "runs")
    expect(page.get_by_text("No runs yet")).to_be_visible()
    screenshot(page, "detail-runs-empty")
    mark_page(page)

    page.get_by_role("button", name="Run now").click()

    row = page.get_by_role("row").filter(has_text="manual")
    expect(row.locator('[data-status="success"]')).to_be_visible(timeout=RUN_TIMEOUT)
    expect(row).to_contain_text("3,000")
    expect(last_run_status(page)).to_contain_text("success")
    assert_not_reloaded(page)
    screenshot(page, "detail-runs-after-run")
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Run run_"))).to_be_visible()
    expect(page.get_by_text("3 of 3")).to_be_visible()
    expect(page.locator(".stat").filter(has_text="Rows").first).to_contain_text("3,000")
    files = page.get_by_role("table", name="Files of this run").get_by_role("row")
    expect(files).to_have_count(4)  # the header and 3 files
    expect(files.filter(has_text="loaded")).to_have_count(3)
    screenshot(page, "run-detail")
    [run] = tenant.runs(ingestion["id"])
    assert (run["metrics"]["files_processed"], run["metrics"]["records_ingested"]) == (3, 3000)
    page.get_by_role("link", name="Back to the runs").click()
    expect(page.get_by_role("link", name="Runs", exact=True)).to_have_attribute("aria-current", "page")


def add_csv_with_a_new_column(folder: Path) -> None:
    """A fourth file with an extra column `country` (the evolution mode `fail` stops on it)."""
    lines = ["id,name,amount,country", *(f"{i},customer-{i},{i}.5,country-{i % 3}" for i in range(9000, 9010))]
    (folder / "part-9.csv").write_text("\n".join(lines) + "\n")


def test_a_pending_schema_change_resolved_in_the_ui_lets_the_next_run_load_the_new_column(
    ui_stack: Stack, tenant: Api, page: Page
) -> None:
    folder, ingestion = loaded_once(ui_stack, tenant, evolution_mode="fail")
    add_csv_with_a_new_column(folder)
    blocked = tenant.wait_run(ingestion["id"], tenant.run(ingestion["id"]))
    assert blocked["status"] == "failed", blocked
    open_detail(page, tenant, ingestion, "schema")
    version = page.get_by_role("article", name=re.compile("Version 1"))
    expect(version.locator('[data-status="pending"]')).to_be_visible()
    expect(version.get_by_role("row").filter(has_text="country")).to_contain_text("added")
    screenshot(page, "detail-schema-pending")

    version.get_by_role("button", name="Add the new columns").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("country")
    screenshot(page, "detail-schema-confirm")
    dialog.get_by_role("button", name="Add the new columns").click()

    expect(version.locator('[data-status="resolved"]')).to_be_visible()
    screenshot(page, "detail-schema-resolved")
    page.get_by_role("button", name="Run now").click()
    expect(last_run_status(page)).to_contain_text("success", timeout=RUN_TIMEOUT)
    third = wait_newest_run(tenant, ingestion["id"], previous=2)
    assert third["status"] == "success", third
    rows = tenant.sample(ingestion["id"], limit=10000, columns="id,country")
    assert len(rows) == 3010
    new_rows = sorted((r["id"], r["country"]) for r in rows if r["id"] >= 9000)
    assert new_rows == [(i, f"country-{i % 3}") for i in range(9000, 9010)]


def test_a_full_refresh_shows_its_dry_run_impact_then_reloads_the_table(
    ui_stack: Stack, tenant: Api, page: Page
) -> None:
    _, ingestion = loaded_once(ui_stack, tenant)
    open_detail(page, tenant, ingestion, "operations")
    screenshot(page, "detail-operations")
    card = page.get_by_role("article", name="Full refresh")

    card.get_by_role("button", name="Full refresh…").click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("3 files")
    expect(dialog).to_contain_text("3,000 rows")
    expect(dialog).to_contain_text("table dropped")
    screenshot(page, "detail-operations-full-refresh-impact")
    assert tenant.table(ingestion["id"])["row_count"] == 3000  # the dry run changed nothing
    dialog.get_by_role("button", name="Full refresh").click()
    expect(card).to_contain_text("A run was started")
    run_id = card.get_by_role("link", name=re.compile("^run_")).inner_text()
    head = last_run_status(page)
    expect(head.get_by_role("link", name="open the run")).to_have_attribute(
        "href", re.compile(f"{run_id}$"), timeout=RUN_TIMEOUT
    )
    expect(head).to_contain_text("success")
    screenshot(page, "detail-operations-full-refresh-done")
    refreshed = wait_newest_run(tenant, ingestion["id"], previous=1)
    assert (refreshed["status"], refreshed["metrics"]["records_ingested"]) == ("success", 3000)
    assert tenant.table(ingestion["id"])["row_count"] == 3000


def test_the_overview_draws_the_daily_metrics_chart_after_a_run(ui_stack: Stack, tenant: Api, page: Page) -> None:
    _, ingestion = loaded_once(ui_stack, tenant)

    open_detail(page, tenant, ingestion)

    rows_chart = page.get_by_role("figure").filter(has_text="Rows per day")
    expect(rows_chart.locator("svg rect.bar")).to_have_count(7)
    expect(rows_chart.locator('svg rect.bar[data-value="3000"]')).to_have_count(1)
    expect(rows_chart.get_by_role("img")).to_have_accessible_name(re.compile("Rows per day: 3,000"))
    expect(page.get_by_role("table", name="Rows per day (data)")).to_contain_text("3,000")
    expect(page.get_by_role("figure").filter(has_text="Average run duration").locator("circle.dot")).to_have_count(1)
    expect(page.get_by_text(f"lake.e2e.{ingestion['destination']['table']}")).to_be_visible()
    screenshot(page, "detail-overview")


def test_every_tab_shows_the_ingestions_data(ui_stack: Stack, tenant: Api, page: Page) -> None:
    _, ingestion = loaded_once(ui_stack, tenant)
    open_detail(page, tenant, ingestion)
    tabs = page.get_by_role("navigation", name="Ingestion sections")

    tabs.get_by_role("link", name="Schema").click()
    expect(page.get_by_text("No schema change detected")).to_be_visible()
    screenshot(page, "detail-schema-none")
    tabs.get_by_role("link", name="Files").click()
    expect(page.get_by_role("table", name="Files").get_by_role("row")).to_have_count(4)
    page.get_by_label("State").select_option("failed")
    expect(page.get_by_text("No files in this state.")).to_be_visible()
    screenshot(page, "detail-files")
    tabs.get_by_role("link", name="Table").click()
    expect(page.get_by_role("table", name="First 20 rows").get_by_role("row")).to_have_count(21)
    expect(page.get_by_role("table", name="Snapshots, newest first")).to_contain_text("3,000")
    # 64-bit snapshot ids are shown digit for digit, not rounded to a JS number.
    snapshot_id = str(tenant.table(ingestion["id"])["snapshots"][-1]["snapshot_id"])
    expect(page.get_by_role("table", name="Snapshots, newest first")).to_contain_text(snapshot_id)
    screenshot(page, "detail-table")
    tabs.get_by_role("link", name="Events").click()
    expect(page.get_by_role("list", name="Events, newest first")).to_contain_text("run.completed.v1")
    screenshot(page, "detail-events")


def test_the_table_tab_says_when_there_is_no_table_yet(ui_stack: Stack, tenant: Api, page: Page) -> None:
    _, ingestion = csv_ingestion(ui_stack, tenant)

    open_detail(page, tenant, ingestion, "table")

    expect(page.get_by_text("No table yet")).to_be_visible()
    screenshot(page, "detail-table-none")


def test_the_detail_screen_fits_a_phone(ui_stack: Stack, tenant: Api, page: Page) -> None:
    _, ingestion = loaded_once(ui_stack, tenant)
    page.set_viewport_size({"width": 390, "height": 844})

    open_detail(page, tenant, ingestion)

    expect(page.get_by_role("figure").filter(has_text="Rows per day")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "detail-overview-phone")
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("table", name="Runs, newest first")).to_contain_text("3,000")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "detail-runs-phone")


def test_the_overview_holds_at_1920_wide(ui_stack: Stack, tenant: Api, page: Page) -> None:
    _, ingestion = loaded_once(ui_stack, tenant)
    page.set_viewport_size({"width": 1920, "height": 1080})

    open_detail(page, tenant, ingestion)

    expect(page.get_by_role("figure").filter(has_text="Rows per day").locator("rect.bar")).to_have_count(7)
    screenshot(page, "detail-overview-1920")
