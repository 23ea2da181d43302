"""Issue checks in a real browser against the deployment's UI: every connection type's Add form shows its
fields with their labels, placeholders and defaults; a deferred sensor shows the link to its job; the task
log shows the job's progress counts; the Asset shows the event the sensor emitted.

What each form must show is what the provider declares to Airflow (``connection_types.json``, generated
from the hooks' settings models): the test checks the browser renders exactly that. Every view is saved
as a screenshot in the folder the session prints.
"""

from __future__ import annotations

import json
import re
import tempfile
import urllib.parse
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from ..airflow_e2e.conftest import wait_until
from ..airflow_e2e.test_clear_and_rerun import write_input
from . import dags
from .browser import Screens, chromium
from .conftest import API_KEY, DistributedDeployment, announce

pytestmark = pytest.mark.airflow_deployment

CONNECTION_TYPES: list[dict[str, Any]] = json.loads(
    resources.files("airflow_provider_genai_batch").joinpath("connection_types.json").read_text()
)
STANDARD_FIELDS = ("host", "schema", "login", "password", "port")
OUTPUT_LIMIT_DEFAULT = "4096"
UI_TIMEOUT_MS = 30_000
PROGRESS = re.compile(r"is BATCH_STATE_\w+: \d+/5 succeeded, \d+ failed, \d+ pending")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One browser for the module; pages and expectations wait up to UI_TIMEOUT_MS (the machine is busy)."""
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def screens(pytestconfig: pytest.Config) -> Screens:
    """A new folder outside pytest's temporary directories (which later sessions delete), named on the terminal."""
    folder = Path(tempfile.mkdtemp(prefix="genai-batch-screenshots-"))
    announce(pytestconfig, f"\nbrowser screenshots: {folder}")
    return Screens(folder)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def shown(default: object) -> str:
    """How the form renders a default: numbers without a trailing ``.0``, nothing for None."""
    if default is None:
        return ""
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def open_add_form(page: Page, dep: DistributedDeployment, hook_name: str) -> Locator:
    """Open Admin -> Connections -> Add Connection and choose the type by its display name (the standard
    fields show; the extra fields are one click away, on a section that folds the standard ones)."""
    page.goto(f"{dep.api_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    chooser = dialog.get_by_role("combobox")
    chooser.click()
    chooser.fill(hook_name)
    page.get_by_role("option", name=hook_name, exact=True).click()
    return dialog


def show_extra_fields(dialog: Locator) -> None:
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()


def field_label(dialog: Locator, text: str) -> Locator:
    return dialog.locator("label").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))


@pytest.mark.parametrize("declared", CONNECTION_TYPES, ids=[c["connection-type"] for c in CONNECTION_TYPES])
def test_each_connection_forms_shows_its_labels_placeholders_and_defaults(
    dep: DistributedDeployment, page: Page, screens: Screens, declared: dict[str, Any]
) -> None:
    dialog = open_add_form(page, dep, declared["hook-name"])
    behaviour = declared["ui-field-behaviour"]

    for name in STANDARD_FIELDS:
        field = dialog.locator(f"input[name={name}]")
        if name in behaviour["hidden-fields"]:
            expect(field).to_have_count(0)
            continue
        if name in behaviour["relabeling"]:
            expect(field_label(dialog, behaviour["relabeling"][name])).to_be_visible()
        if name in behaviour["placeholders"]:
            expect(field).to_have_attribute("placeholder", behaviour["placeholders"][name])
    screens.take(page, f"connection-form-{declared['connection-type']}-standard")

    show_extra_fields(dialog)
    for name, spec in declared["conn-fields"].items():
        expect(field_label(dialog, spec["label"])).to_be_visible()
        expect(dialog.locator(f"[name=element_{name}]")).to_have_value(shown(spec["schema"].get("default")))
    screens.take(page, f"connection-form-{declared['connection-type']}-extra")


@pytest.mark.parametrize("hook_name", ["GenAI Batch: Anthropic", "GenAI Batch: Amazon Bedrock"])
def test_the_default_max_tokens_is_shown_not_masked(
    dep: DistributedDeployment, page: Page, screens: Screens, hook_name: str
) -> None:
    dialog = open_add_form(page, dep, hook_name)
    show_extra_fields(dialog)

    limit = dialog.locator("[name=element_default_output_limit]")
    expect(limit).to_have_value(OUTPUT_LIMIT_DEFAULT)
    expect(limit).to_be_visible()
    screens.take(page, f"default-max-tokens-{hook_name}")


def task_page(dep: DistributedDeployment, dag_id: str, run_id: str, task_id: str, tab: str = "") -> str:
    run = urllib.parse.quote(run_id, safe="")
    return f"{dep.api_url}/dags/{dag_id}/runs/{run}/tasks/{task_id}" + (f"/{tab}" if tab else "")


def deferred_progress_run(dep: DistributedDeployment) -> str:
    """A run of the progress pipeline whose sensor waits, deferred, on a job that never ends by itself."""
    dep.emulator.config(job_outcome="stuck")
    pipeline = dags.PROGRESS
    write_input(pipeline.input_path(dep.inputs_dir), [f"k{i}" for i in range(5)])
    dep.ready(pipeline.dag_id)
    run_id = dep.trigger(pipeline.dag_id)
    dep.wait_for_state(pipeline.dag_id, run_id, "wait", "deferred", timeout=180)
    return run_id


def job_links(dep: DistributedDeployment, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
    """The task's extra links once they are stored: the task runner stores them after it reports the deferral."""

    def stored() -> dict[str, str] | None:
        links: dict[str, str | None] = dep.request(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links"
        )["extra_links"]
        return None if None in links.values() else {name: str(url) for name, url in links.items()}

    return wait_until(stored, 30, f"the extra links of {dag_id}.{task_id}")


def test_a_deferred_sensor_shows_the_link_to_its_job(dep: DistributedDeployment, page: Page, screens: Screens) -> None:
    pipeline = dags.PROGRESS
    run_id = deferred_progress_run(dep)
    (job,) = dep.jobs_of(pipeline.dag_id)
    links = job_links(dep, pipeline.dag_id, run_id, "wait")

    page.goto(task_page(dep, pipeline.dag_id, run_id, "wait", "details"))
    link = page.get_by_role("link", name="GenAI batch job")
    expect(link).to_be_visible()
    screens.take(page, "deferred-sensor-extra-link")
    assert dep.task_instance(pipeline.dag_id, run_id, "wait")["state"] == "deferred"  # type: ignore[index]
    # The connection points at the emulator, not the public API: the link is the job on that host.
    job_page = f"{dep.emulator.base_url}/v1beta/{job['name']}"
    assert link.get_attribute("href") == links["GenAI batch job"] == job_page
    assert link.get_attribute("target") == "_blank"
    assert job["provider"] == "gemini"
    assert httpx.get(job_page, headers={"x-goog-api-key": API_KEY}).json()["name"] == job["name"]
    # Done looking: the task marked failed cancels its job (the emulator is reset before the next test).
    dep.request("PATCH", f"/dags/{pipeline.dag_id}/dagRuns/{run_id}/taskInstances/wait", json={"new_state": "failed"})


def test_the_task_log_shows_progress_counts_and_the_asset_shows_its_event(
    dep: DistributedDeployment, page: Page, screens: Screens
) -> None:
    pipeline = dags.PROGRESS
    dep.emulator.config(pending_seconds=2, running_seconds=4, job_outcome="succeed")
    write_input(pipeline.input_path(dep.inputs_dir), [f"k{i}" for i in range(5)])
    dep.ready(pipeline.dag_id)
    run_id = dep.trigger(pipeline.dag_id)
    dep.wait_for_state(pipeline.dag_id, run_id, "wait", "success", timeout=180)
    (job,) = dep.jobs_of(pipeline.dag_id)

    page.goto(task_page(dep, pipeline.dag_id, run_id, "wait"))
    expect(page.get_by_text(PROGRESS).first).to_be_visible()
    expect(
        page.get_by_text(f"{job['name']} is BATCH_STATE_SUCCEEDED: 5/5 succeeded, 0 failed, 0 pending")
    ).to_be_visible()
    screens.take(page, "sensor-log-progress")

    wait_until(lambda: dep.asset_events(pipeline.dag_id), 60, "the sensor's Asset event")
    (asset,) = [a for a in dep.request("GET", "/assets")["assets"] if a["uri"] == pipeline.asset]
    page.goto(f"{dep.api_url}/assets/{asset['id']}")
    expect(page.get_by_text("1 Asset Event", exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(rf"^Source:\s*{pipeline.dag_id}$")).first).to_be_visible()
    screens.take(page, "asset-event")
