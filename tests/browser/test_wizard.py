"""The ingestion wizard in a real browser: five steps, the API's checks next to the fields, create and edit.

Every test drives the wizard by its labels and roles (which also proves they exist) and checks the outcome
through the public API, never through the page alone.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from autoloader_cli.stack import Stack
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import unique
from tests.e2e.conftest import Api, write_csv
from tests.source_envs.s3 import REGION, S3Place

ROWS_PER_FILE = 1000
SLOW_MS = 30_000
"""How long a check that lists or samples the source may take (previews read real files)."""


@dataclass(frozen=True)
class Choices:
    """What a test types into the wizard."""

    name: str
    database: str
    table: str
    timezone: str = "Europe/Berlin"
    time: str = "02:00"


def csv_bytes(first_id: int, rows: int) -> bytes:
    """The same CSV as ``write_csv`` (id, name, amount), in memory."""
    out = io.StringIO()
    out.write("id,name,amount\n")
    for i in range(first_id, first_id + rows):
        out.write(f"{i},customer-{i % 97},{i * 1.5:.2f}\n")
    return out.getvalue().encode()


def landing_folder(stack: Stack) -> Path:
    """A fresh folder under the stack's landing root with 3 CSV files of 1,000 rows."""
    folder = stack.landing_dir / unique("wizard")
    for n in range(3):
        write_csv(folder / f"part-{n}.csv", n * ROWS_PER_FILE, ROWS_PER_FILE)
    return folder


def choices() -> Choices:
    """Unique names for one test's ingestion."""
    table = unique("orders").replace("-", "_")
    return Choices(name=f"Orders {table}", database="wizard", table=table)


def current_step(page: Page, title: str) -> None:
    """Wait until the wizard shows step ``title`` (the progress list marks it aria-current="step")."""
    # Next may first ask the API to list or sample the source.
    expect(page.locator('[aria-current="step"]')).to_contain_text(title, timeout=SLOW_MS)
    expect(page.get_by_role("heading", level=2)).to_contain_text(title)


def next_step(page: Page, title: str) -> None:
    """Press Next and wait for step ``title``."""
    page.get_by_role("button", name="Next →").click()
    current_step(page, title)


def open_new_wizard(page: Page, tenant: Api) -> None:
    """Sign in and open the wizard from the navigation."""
    sign_in(page, tenant)
    page.get_by_role("link", name="New ingestion", exact=True).click()
    current_step(page, "Source")


def fill_local_source(page: Page, picked: Choices, folder: Path) -> None:
    """Step 1 on a local folder: name, type card, path and pattern."""
    page.get_by_label("Ingestion name").fill(picked.name)
    page.get_by_label("Local folder").check()
    page.get_by_role("textbox", name="Path", exact=True).fill(str(folder))
    page.get_by_label("File pattern").fill("*.csv")


def check_connection_finds_three_files(page: Page, shot: str) -> None:
    """Press Test connection and see 3 files with their sample."""
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text(re.compile(r"Connected: 3 files found"))).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_role("cell", name="part-0.csv")).to_be_visible()
    screenshot(page, f"{shot}-1-source")


def pass_format_step(page: Page, shot: str) -> None:
    """Step 2: the inferred schema shows the files' columns; keep the defaults."""
    next_step(page, "Format & schema")
    expect(page.get_by_role("cell", name="amount", exact=True)).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_label("Add new columns")).to_be_checked()
    screenshot(page, f"{shot}-2-format")


def pass_destination_step(page: Page, picked: Choices, shot: str) -> None:
    """Step 3: database and table, shown live as catalog.db.table, and said to be new."""
    next_step(page, "Destination")
    page.get_by_label("Database").fill(picked.database)
    page.get_by_role("textbox", name="Table", exact=True).fill(picked.table)
    page.get_by_role("textbox", name="Table", exact=True).press("Tab")
    expect(page.get_by_text(f"lake.{picked.database}.{picked.table}", exact=True)).to_be_visible()
    expect(page.get_by_text("New table:")).to_be_visible(timeout=SLOW_MS)
    screenshot(page, f"{shot}-3-destination")


def pass_schedule_step(page: Page, picked: Choices, shot: str) -> None:
    """Step 4: daily at a time in a timezone, explained in words with the next 5 runs."""
    next_step(page, "Schedule")
    page.get_by_label("Daily").check()
    page.get_by_label("Time", exact=True).fill(picked.time)
    page.get_by_label("Timezone").select_option(picked.timezone)
    expect(page.get_by_text(f"Every day at {picked.time} ({picked.timezone})")).to_be_visible()
    expect(page.locator(".next-runs li")).to_have_count(5)
    screenshot(page, f"{shot}-4-schedule")


def pass_review_step(page: Page, shot: str) -> None:
    """Step 5: 3 files, sample rows and a monthly cost."""
    next_step(page, "Preview & cost")
    expect(page.get_by_role("region", name="Sample rows").get_by_role("cell").first).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_role("region", name="Sample rows")).to_contain_text("customer-")
    expect(page.get_by_text("Monthly total")).to_be_visible()
    files = page.locator("dl.summary").first
    expect(files).to_contain_text("3")
    screenshot(page, f"{shot}-5-preview")


def create_and_activate(page: Page, tenant: Api, picked: Choices) -> dict[str, Any]:
    """Press Create & activate, land on the ingestion's page and return the ingestion from the API."""
    page.get_by_role("button", name="Create & activate").click()
    expect(page).to_have_url(re.compile(r"#/ingestions/[^/]+$"))
    ingestion_id = page.url.rsplit("/", 1)[1]
    response = tenant.http.get(f"/ingestions/{ingestion_id}")
    assert response.status_code == 200, response.text
    ingestion: dict[str, Any] = response.json()
    assert ingestion["name"] == picked.name
    return ingestion


def assert_created_as_chosen(ingestion: dict[str, Any], picked: Choices) -> None:
    """The API holds the ingestion active, with the destination and schedule picked in the wizard."""
    assert ingestion["status"] == "active"
    destination = ingestion["destination"]
    assert (destination["catalog"], destination["database"], destination["table"]) == (
        "lake",
        picked.database,
        picked.table,
    )
    schedule = ingestion["schedule"]
    assert (schedule["frequency"], schedule["time"], schedule["timezone"]) == ("daily", picked.time, picked.timezone)


def test_wizard_creates_an_active_ingestion_on_a_local_folder(page: Page, tenant: Api, ui_stack: Stack) -> None:
    """All five steps on a local folder: 3 files found, sample rows and cost shown, created active."""
    folder, picked = landing_folder(ui_stack), choices()
    open_new_wizard(page, tenant)
    fill_local_source(page, picked, folder)
    check_connection_finds_three_files(page, "wizard-local")
    pass_format_step(page, "wizard-local")
    pass_destination_step(page, picked, "wizard-local")
    pass_schedule_step(page, picked, "wizard-local")
    pass_review_step(page, "wizard-local")
    ingestion = create_and_activate(page, tenant, picked)
    assert_created_as_chosen(ingestion, picked)
    assert ingestion["source"]["type"] == "local"
    assert ingestion["source"]["file_pattern"] == "*.csv"


def test_wizard_creates_an_active_ingestion_on_the_s3_emulator(page: Page, tenant: Api, s3_place: S3Place) -> None:
    """All five steps on S3 with credentials and the endpoint typed in; the key is stored, never shown."""
    for n in range(3):
        s3_place.server.put(s3_place.bucket, f"data/part-{n}.csv", csv_bytes(n * ROWS_PER_FILE, ROWS_PER_FILE))
    assert s3_place.credentials is not None
    picked = choices()
    open_new_wizard(page, tenant)
    page.get_by_label("Ingestion name").fill(picked.name)
    page.get_by_label("Amazon S3").check()
    page.get_by_role("textbox", name="Path", exact=True).fill(f"s3://{s3_place.bucket}/data/")
    page.get_by_label("File pattern").fill("*.csv")
    page.get_by_label("Access key ID").fill(s3_place.credentials["access_key_id"])
    page.get_by_label("Secret access key").fill(s3_place.credentials["secret_access_key"])
    page.get_by_label("Endpoint URL").fill(s3_place.server.endpoint_url)
    page.get_by_label("Region").fill(REGION)
    page.get_by_label("Path-style addressing").select_option("true")
    expect(page.get_by_label("Secret access key")).to_have_attribute("type", "password")
    check_connection_finds_three_files(page, "wizard-s3")
    pass_format_step(page, "wizard-s3")
    pass_destination_step(page, picked, "wizard-s3")
    pass_schedule_step(page, picked, "wizard-s3")
    pass_review_step(page, "wizard-s3")
    ingestion = create_and_activate(page, tenant, picked)
    assert_created_as_chosen(ingestion, picked)
    source = ingestion["source"]
    assert source["options"] == {"endpoint_url": s3_place.server.endpoint_url, "region": REGION, "path_style": True}
    assert source["credentials"] == {"access_key_id": "********", "secret_access_key": "********"}


def reach_schedule_step(page: Page, tenant: Api, stack: Stack, picked: Choices) -> None:
    """Go through the first three steps on a fresh local folder."""
    open_new_wizard(page, tenant)
    fill_local_source(page, picked, landing_folder(stack))
    next_step(page, "Format & schema")
    expect(page.get_by_role("cell", name="amount", exact=True)).to_be_visible(timeout=SLOW_MS)
    next_step(page, "Destination")
    page.get_by_label("Database").fill(picked.database)
    next_step(page, "Schedule")


def test_a_bad_cron_expression_shows_its_error_next_to_the_field(page: Page, tenant: Api, ui_stack: Stack) -> None:
    """The API's 422 for the cron lands in the cron field's error slot, and Next stays on the step."""
    reach_schedule_step(page, tenant, ui_stack, choices())
    page.get_by_label("Cron", exact=True).check()
    cron = page.get_by_label("Cron expression")
    cron.fill("61 * * * *")
    cron_field = page.locator(".field").filter(has=cron)
    expect(cron_field.locator(".field-error")).to_contain_text("invalid cron_expression")
    expect(cron).to_have_attribute("aria-invalid", "true")
    screenshot(page, "wizard-bad-cron")
    page.get_by_role("button", name="Next →").click()
    expect(cron_field.locator(".field-error")).to_contain_text("invalid cron_expression")
    current_step(page, "Schedule")
    cron.fill("30 6 * * 1-5")
    expect(page.get_by_text("At 06:30, Monday through Friday")).to_be_visible()
    expect(cron_field.locator(".field-error")).to_be_empty()


def test_save_as_draft_from_the_first_step_creates_a_draft(page: Page, tenant: Api, ui_stack: Stack) -> None:
    """Save as draft on step 1 stores a draft through the API; the wizard goes on editing it."""
    picked = choices()
    open_new_wizard(page, tenant)
    fill_local_source(page, picked, landing_folder(ui_stack))
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Edit ingestion “{picked.name}”")
    expect(page).to_have_url(re.compile(r"#/ingestions/[^/]+/edit$"))
    screenshot(page, "wizard-saved-draft")
    items = tenant.http.get("/ingestions", params={"q": picked.name}).json()["items"]
    assert [(item["name"], item["status"]) for item in items] == [(picked.name, "draft")]
    assert items[0]["schedule"]["frequency"] == "manual"


def test_editing_an_active_ingestion_shows_the_source_read_only_with_the_reason(
    page: Page, tenant: Api, ui_stack: Stack
) -> None:
    """Once active, source/format/destination are read-only with the reason; credentials and schedule are not."""
    folder = landing_folder(ui_stack)
    body = tenant.ingestion_body(folder, table=unique("edit").replace("-", "_"), activate=True)
    ingestion = tenant.create(body)
    sign_in(page, tenant)
    page.goto(f"/#/ingestions/{ingestion['id']}/edit")
    current_step(page, "Source")
    expect(page.get_by_text("cannot change once the ingestion is active")).to_be_visible()
    expect(page.get_by_role("textbox", name="Path", exact=True)).to_be_disabled()
    expect(page.get_by_role("textbox", name="Path", exact=True)).to_have_value(str(folder))
    expect(page.get_by_label("Local folder")).to_be_disabled()
    expect(page.get_by_label("Ingestion name")).to_be_enabled()
    screenshot(page, "wizard-edit-active")
    page.get_by_role("button", name="Schedule").click()
    current_step(page, "Schedule")
    page.get_by_label("Hourly").check()
    expect(page.get_by_text("Every hour at 00 minutes past")).to_be_visible()
    page.get_by_role("button", name="Preview & cost").click()
    current_step(page, "Preview & cost")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(rf"#/ingestions/{ingestion['id']}$"))
    saved = tenant.http.get(f"/ingestions/{ingestion['id']}").json()
    assert saved["schedule"]["frequency"] == "hourly"
    assert saved["status"] == "active"


def assert_no_horizontal_overflow(page: Page) -> None:
    """The page is no wider than the phone's 390 px viewport."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_wizard_is_usable_on_a_phone(page: Page, tenant: Api, ui_stack: Stack) -> None:
    """At 390x844 every step fits the width and the whole flow still creates the ingestion."""
    page.set_viewport_size({"width": 390, "height": 844})
    folder, picked = landing_folder(ui_stack), choices()
    open_new_wizard(page, tenant)
    fill_local_source(page, picked, folder)
    check_connection_finds_three_files(page, "wizard-phone")
    assert_no_horizontal_overflow(page)
    pass_format_step(page, "wizard-phone")
    assert_no_horizontal_overflow(page)
    pass_destination_step(page, picked, "wizard-phone")
    assert_no_horizontal_overflow(page)
    pass_schedule_step(page, picked, "wizard-phone")
    assert_no_horizontal_overflow(page)
    pass_review_step(page, "wizard-phone")
    assert_no_horizontal_overflow(page)
    assert_created_as_chosen(create_and_activate(page, tenant, picked), picked)


def test_a_connection_test_that_hangs_can_be_cancelled(page: Page, tenant: Api, ui_stack: Stack) -> None:
    """While the API has not answered, the test shows progress and a Cancel button that abandons it."""
    page.route("**/api/v1/ingestions/test-connection", lambda route: None)  # never answered
    open_new_wizard(page, tenant)
    fill_local_source(page, choices(), landing_folder(ui_stack))
    test_button = page.get_by_role("button", name="Test connection")
    test_button.click()
    expect(page.get_by_role("status").filter(has_text="Listing the source…")).to_be_visible()
    expect(test_button).to_be_disabled()
    screenshot(page, "wizard-connection-in-progress")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Connection test cancelled.")).to_be_visible()
    expect(test_button).to_be_enabled()
