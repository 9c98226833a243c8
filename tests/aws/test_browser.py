"""In a real browser: the cost estimate follows the form as the user types, and the health panel refreshes
itself (htmx polling) without the page being reloaded. AWS is the moto server; Bedrock's model list is
stubbed on its client (moto lacks it, see conftest)."""
import re
import time

import pytest
from playwright.sync_api import expect

from tests.aws.conftest import MODELS, base_client
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, username):
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Environments")).to_be_visible()


def test_cost_estimate_updates_as_the_user_types(page, live_server, developer, project, echo_version, stub_bedrock):
    stub_bedrock.append(("list_foundation_models", MODELS))
    _login(page, live_server, developer.username)
    page.goto(f"{live_server.url}/environments/new/{echo_version.pk}/?project={project.slug}")
    expect(page.locator("select[name=var_model_id]")).to_have_value("anthropic.claude-3-haiku-20240307-v1:0")
    expect(page.locator("[data-cost-hourly]")).to_have_text("$0.0494")  # 2 × (0.5 × 0.04048 + 1 × 0.004445)
    page.locator("input[name=var_desired_count]").fill("")
    page.locator("input[name=var_desired_count]").type("4")
    expect(page.locator("[data-cost-hourly]")).to_have_text("$0.0987")  # 4 × 0.024685 = 0.09874
    expect(page.locator("[data-cost-monthly]")).to_have_text("$72.08")
    page.locator("input[name=var_task_memory]").fill("9999")
    expect(page.locator("[data-cost-error]")).to_contain_text("9999 MiB is not allowed with 512 CPU units")


def test_health_panel_refreshes_without_a_reload(page, live_server, developer, ecs_environment):
    _login(page, live_server, developer.username)
    page.goto(f"{live_server.url}/environments/{ecs_environment.pk}/")
    expect(page.locator("[data-desired]")).to_have_text("3")
    page.evaluate("window.__same_page = true")
    started = time.monotonic()
    base_client("ecs").update_service(cluster="demo-cluster", service="demo-svc", desiredCount=5)
    expect(page.locator("[data-desired]")).to_have_text("5", timeout=15_000)
    assert time.monotonic() - started < 15
    assert page.evaluate("window.__same_page") is True, "the page was not reloaded"
    assert re.search(r"/environments/\d+/$", page.url)
