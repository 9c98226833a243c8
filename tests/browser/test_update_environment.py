"""Template management in a real browser: "update available" on the environment page, the update form, the plan
waiting for confirmation on the run page, confirm, and the environment on the new version with the new value."""
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from environments.models import Environment, Run
from environments.services import environment_create, template_import_catalog
from tests.conftest import PASSWORD, wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.terraform,
              pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def test_developer_reviews_and_confirms_an_update(page, live_portal, live_worker, developer, project, central,
                                                  sandbox_version, tmp_path):
    env, run = environment_create(developer, project, sandbox_version, "browser-upd",
                                  {"app_name": "browser-upd", "step_seconds": 0})
    assert wait_for_run(run).status == Run.SUCCEEDED, run.error
    folder = tmp_path / "hello-sandbox"
    shutil.copytree(ROOT / "catalog" / "hello-sandbox", folder)
    (folder / "terrace.yaml").write_text((folder / "terrace.yaml").read_text().replace("1.0.0", "1.1.0"))
    version_two = template_import_catalog(central, folder, publish=True)

    page.goto(live_portal.url + f"/environments/{env.pk}/")
    page.fill("input[name=login]", developer.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("[data-notice=update-available]")).to_contain_text("1.1.0")
    page.click("text=Review the update")
    expect(page.locator("select[name=version]")).to_have_value(str(version_two.pk))
    expect(page.locator("input[name=var_app_name]")).to_have_value("browser-upd")
    page.fill("input[name=var_replicas]", "3")
    page.click("button:has-text('Plan the change')")
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    expect(page.locator("#update-note")).to_contain_text("to 1.1.0")
    # The plan arrives live; the page then offers the decision.
    expect(page.locator("#decision")).to_contain_text("Confirm this plan", timeout=60_000)
    expect(page.locator("#decision")).to_contain_text("1 to add, 0 to change, 1 to destroy")
    env.refresh_from_db()
    assert env.template_version == sandbox_version and "replicas" not in env.variables

    page.click("button:has-text('Confirm and apply')")
    expect(page.locator("#run[data-finished=true]")).to_have_count(1, timeout=90_000)
    expect(page.locator("#run-status .badge")).to_have_text("Succeeded")
    env.refresh_from_db()
    assert env.status == Environment.READY
    assert env.template_version == version_two and env.variables["replicas"] == 3
    page.goto(live_portal.url + f"/environments/{env.pk}/")
    expect(page.locator("[data-notice=update-available]")).to_have_count(0)
