"""Personal API tokens: created in the UI and shown once, stored hashed, expiring, revocable, project-scoped."""
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from environments.services import environment_create
from rbac.models import ApiToken, AuditEvent
from rbac.tokens import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def _get(client, raw, url="/api/v1/me/"):
    return client.get(url, headers={"Authorization": f"Bearer {raw}"})


def test_token_page_shows_a_new_token_once_and_stores_only_its_hash(client, developer, project):
    client.force_login(developer)
    response = client.post("/account/api-tokens/", {"name": "CI pipeline", "expires_in": "30",
                                                    "project": project.pk})
    assert response.status_code == 302, "post/redirect/get: a reload cannot create a second token"
    response = client.get(response["Location"])
    token = ApiToken.objects.get(user=developer)
    raw = response.context["created"]["raw"]
    assert raw.startswith(f"trc_{token.prefix}_") and raw in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert "api_token_created" not in client.session, "taken out of the session once shown"
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert token.project == project and timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    listing = client.get("/account/api-tokens/").content.decode()
    assert raw not in listing and f"trc_{token.prefix}_" in listing and "CI pipeline" in listing
    assert AuditEvent.objects.filter(action="api_token.create", actor=developer).exists()
    assert _get(client.__class__(), raw).json()["token_project"] == "team-a"


def test_token_form_refuses_a_project_outside_the_users_roles(client, developer, other_project):
    client.force_login(developer)
    response = client.post("/account/api-tokens/", {"name": "x", "project": other_project.pk})
    assert response.status_code == 400 and not ApiToken.objects.exists()
    response = client.post("/account/api-tokens/", {"name": ""})
    assert response.status_code == 400 and "required" in response.content.decode()


def test_valid_token_authenticates_and_records_last_use(client, developer):
    token, raw = api_token_create(developer, name="laptop")
    assert token.last_used_at is None
    response = _get(client, raw)
    assert response.status_code == 200 and response.json()["username"] == "dev"
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize("raw", ["", "nonsense", "trc_deadbeef_wrong", "Basic abc"])
def test_garbage_tokens_get_401_in_the_error_shape(client, developer, raw):
    api_token_create(developer, name="real")
    response = client.get("/api/v1/environments/", headers={"Authorization": f"Bearer {raw}".strip()})
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("authentication_failed", "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_no_credentials_get_401(client):
    response = client.get("/api/v1/environments/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_expired_token_gets_401(client, developer):
    token, raw = api_token_create(developer, name="short", expires_at=timezone.now() + timedelta(seconds=60))
    assert _get(client, raw).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _get(client, raw)
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_revoked_token_gets_401_at_once(client, developer, outsider):
    token, raw = api_token_create(developer, name="leaked")
    assert _get(client, raw).status_code == 200
    client.force_login(outsider)
    assert client.post(f"/account/api-tokens/{token.pk}/revoke/").status_code == 404, "not your token"
    client.force_login(developer)
    assert client.post(f"/account/api-tokens/{token.pk}/revoke/").status_code == 302
    client.logout()
    response = _get(client, raw)
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
    assert AuditEvent.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()


def test_token_of_a_deactivated_user_gets_401(client, developer):
    _token, raw = api_token_create(developer, name="x")
    developer.is_active = False
    developer.save()
    assert _get(client, raw).status_code == 401


def test_project_scoped_token_sees_and_acts_only_in_its_project(client, make_user, project, other_project,
                                                                 sandbox_version, django_capture_on_commit_callbacks):
    from rbac.models import RoleBinding
    from tests.api.conftest import Api

    both = make_user("both")
    for p in (project, other_project):
        RoleBinding.objects.create(user=both, role="project_admin", project=p)
    from environments.services import template_share

    template_share(sandbox_version.template, other_project)
    with django_capture_on_commit_callbacks():
        env_a, run_a = environment_create(both, project, sandbox_version, "in-a", {"app_name": "in-a"})
        env_b, run_b = environment_create(both, other_project, sandbox_version, "in-b", {"app_name": "in-b"})
    _t, raw = api_token_create(both, name="only team-a", project=project)
    api = Api(client, raw)
    assert [e["name"] for e in api.get("/api/v1/environments/").json()["results"]] == ["in-a"]
    assert [p["slug"] for p in api.get("/api/v1/projects/").json()["results"]] == ["team-a"]
    for url in (f"/api/v1/environments/{env_b.pk}/", f"/api/v1/runs/{run_b.pk}/", "/api/v1/projects/team-b/",
                f"/api/v1/runs/{run_b.pk}/events/"):
        assert api.get(url).status_code == 404, url
    assert api.post(f"/api/v1/runs/{run_b.pk}/cancel/").status_code == 404
    created = api.post("/api/v1/environments/", {"project": "team-b", "template": "hello-sandbox", "name": "sneaky",
                                                 "variables": {"app_name": "sneaky"}})
    assert created.status_code == 400 and "project" in created.json()["error"]["fields"]
    assert api.get(f"/api/v1/environments/{env_a.pk}/").status_code == 200


def test_project_scoped_token_of_an_org_admin_has_no_org_powers(client, platform_admin, project):
    from tests.api.conftest import Api

    _t, raw = api_token_create(platform_admin, name="scoped", project=project)
    api = Api(client, raw)
    assert api.get("/api/v1/me/").json()["org_admin"] is False
    assert api.get("/api/v1/groups/").status_code == 403
    assert api.post("/api/v1/projects/", {"slug": "new-one", "name": "New"}).status_code == 403
    _t, raw = api_token_create(platform_admin, name="full")
    assert Api(client, raw).get("/api/v1/groups/").status_code == 200


def test_session_writes_need_csrf_but_tokens_do_not(developer, sandbox_version):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(developer)
    assert browser.get("/api/v1/environments/").status_code == 200
    response = browser.post("/api/v1/environments/", {}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]


def test_max_token_lifetime_setting_is_enforced(client, developer, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    client.force_login(developer)
    response = client.post("/account/api-tokens/", {"name": "forever", "expires_in": ""})
    assert response.status_code == 400 and "within 30 days" in response.content.decode()
    response = client.post("/account/api-tokens/", {"name": "month", "expires_in": "30"})
    assert response.status_code == 302 and ApiToken.objects.filter(name="month").exists()


def test_a_post_without_any_body_is_an_empty_object(client, developer, project, sandbox_version,
                                                    django_capture_on_commit_callbacks):
    """`curl -X POST …/cancel/` with no body and no content type works."""
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "curl", {"app_name": "curl"})
    _t, raw = api_token_create(developer, name="curl")
    response = client.generic("POST", f"/api/v1/runs/{run.pk}/cancel/", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 202 and response.json()["status"] == "canceled"


def test_tokens_never_reach_the_logs(client, developer, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    token, raw = api_token_create(developer, name="quiet")
    assert _get(client, raw).status_code == 200
    assert _get(client, raw + "x").status_code == 401
    assert client.get("/api/v1/environments/", {"page_size": "bad"},
                      headers={"Authorization": f"Bearer {raw}"}).status_code == 400
    api_token_revoke(developer, token)
    assert _get(client, raw).status_code == 401
    assert caplog.records, "requests were logged"
    assert raw not in caplog.text and raw.split("_")[-1] not in caplog.text
