"""A developer, in a real browser: sign in, create the demo environment, watch it stream, see outputs, destroy."""
import re

import pytest
from playwright.sync_api import expect

from environments.models import Environment, Run
from tests.conftest import PASSWORD, wait_for_run

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.terraform,
              pytest.mark.django_db(transaction=True)]


def test_developer_creates_watches_and_destroys_an_environment(page, live_portal, live_worker, developer, project,
                                                               sandbox_version):
    page.goto(live_portal.url + "/")
    page.fill("input[name=login]", developer.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Environments")).to_be_visible()

    page.get_by_role("link", name="Create Environment").first.click()
    page.click("[data-template=hello-sandbox]")
    page.fill("input[name=name]", "browser-demo")
    page.fill("input[name=var_app_name]", "BAD NAME")
    page.click("button:has-text('Create Environment')")
    expect(page.locator("[data-error-for=app_name]")).to_contain_text("must start with a lowercase letter")
    assert not Environment.objects.exists()

    page.fill("input[name=var_app_name]", "browser-app")
    page.fill("input[name=var_step_seconds]", "2")
    page.fill("input[name=var_api_token]", "browser-secret-token")
    page.click("button:has-text('Create Environment')")
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))

    # Log lines arrive while the run is still going: streaming, not a reload at the end.
    expect(page.locator("#log .line", has_text="null_resource.network")).not_to_have_count(0, timeout=30_000)
    run = Run.objects.get()
    assert run.status in Run.ACTIVE, "the page showed progress before the run finished"
    assert page.locator("#run[data-finished]").count() == 0
    expect(page.locator("#resources tr[data-addr='null_resource.app'] .state")).to_have_text(
        re.compile("started|progress|completed"), timeout=30_000)

    expect(page.locator("#run[data-finished=true]")).to_have_count(1, timeout=90_000)
    expect(page.locator("#run-status .badge")).to_have_text("Succeeded")
    expect(page.locator("#summary")).to_contain_text("3 to add")
    expect(page.locator("#outputs a[href='http://browser-app.sandbox.local:8080/']")).to_be_visible()
    assert "browser-secret-token" not in page.content()

    page.click("text=Go to environment")
    expect(page.locator("#env-status .badge")).to_have_text("Ready")
    expect(page.locator("#env-status a[href='http://browser-app.sandbox.local:8080/']")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Destroy')")
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    expect(page.locator("#run[data-finished=true]")).to_have_count(1, timeout=90_000)
    expect(page.locator("#run-status .badge")).to_have_text("Destroyed")
    destroy = wait_for_run(Run.objects.get(operation=Run.DESTROY))
    assert destroy.status == Run.DESTROYED
    assert Environment.objects.get().status == Environment.DESTROYED
