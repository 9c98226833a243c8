"""A developer, in a real browser: create an API token, use it once shown, revoke it; the API docs page renders
from vendored assets (no CDN)."""
import httpx
import pytest
from playwright.sync_api import expect

from rbac.models import ApiToken
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_portal, user):
    page.goto(live_portal.url + "/")
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Environments")).to_be_visible()


def test_create_use_and_revoke_a_token(page, live_portal, developer, project, tmp_path):
    _sign_in(page, live_portal, developer)
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.fill("input[name=name]", "laptop")
    expect(page.locator("select[name=expires_in]")).to_have_value("30")  # expiring by default
    page.select_option("select[name=project]", label=project.name)
    page.click("button:has-text('Create token')")
    raw = page.locator("#new-token").inner_text().strip()
    assert raw.startswith("trc_")
    page.screenshot(path=str(tmp_path / "tokens.png"), full_page=True)

    me = httpx.get(f"{live_portal.url}/api/v1/me/", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200 and me.json() == {"username": "dev", "email": "dev@example.com",
                                                    "token_project": "team-a", "org_admin": False}

    page.reload()
    assert raw not in page.content(), "shown once"
    row = page.locator("tr", has_text="laptop")
    expect(row).to_contain_text("Team A")
    expect(row).to_contain_text("active")
    assert (ApiToken.objects.get().expires_at - ApiToken.objects.get().created_at).days in (29, 30)
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="laptop")).to_contain_text("revoked")
    assert ApiToken.objects.get().revoked_at is not None
    again = httpx.get(f"{live_portal.url}/api/v1/me/", headers={"Authorization": f"Bearer {raw}"})
    assert again.status_code == 401 and "revoked" in again.json()["error"]["message"]


def test_api_docs_page_renders_offline(page, live_portal, developer):
    _sign_in(page, live_portal, developer)
    page.goto(live_portal.url + "/api/v1/docs/")
    # Swagger UI draws one block per operation from the served schema, with the vendored bundle.
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/environments/").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/runs/{id}/events/stream/")).to_be_visible()
