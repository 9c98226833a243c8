"""SCIM bearer tokens: created by org admins (shown once), stored hashed, listed with last use, revocable; the
SCIM endpoint accepts nothing else (no session, no wrong or revoked token)."""
import pytest
from django.utils import timezone

from rbac.models import AuditEvent, ScimToken
from rbac.scim.tokens import scim_token_create, scim_token_revoke
from rbac.tokens import token_digest
from tests.rbac import scim_support
from tests.rbac.scim_support import USER_URN, ScimClient, assert_scim_error, db_snapshot

scim, scim_token = scim_support.scim, scim_support.scim_token  # fixtures

ENDPOINTS = ["ServiceProviderConfig", "Schemas", "ResourceTypes", "Users", "Groups", "Users/1", "nothing-here"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_token_is_401_with_a_scim_error(client, path, scim_token):
    response = ScimClient(client, "").get(path)
    assert_scim_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["wrong", "terrace_scim_" + "x" * 43, "Basic abc", "x" * 500])
def test_wrong_token_is_401_and_changes_nothing(client, token, scim_token):
    before = db_snapshot()
    response = ScimClient(client, token).post("Users", {"schemas": [USER_URN], "userName": "intruder"})
    assert_scim_error(response, 401)
    assert db_snapshot() == before


def test_signed_in_org_admin_without_token_is_401(client, platform_admin, scim_token):
    client.force_login(platform_admin)
    assert_scim_error(client.get("/scim/v2/Users"), 401)
    response = client.post("/scim/v2/Users", data={"schemas": [USER_URN], "userName": "x"},
                           content_type="application/scim+json")
    assert_scim_error(response, 401)


def test_revoked_token_is_401_at_once(scim, scim_token, platform_admin):
    token, _raw = scim_token
    assert scim.get("Users").status_code == 200
    assert scim_token_revoke(platform_admin, token)
    before = db_snapshot()
    assert_scim_error(scim.post("Users", {"schemas": [USER_URN], "userName": "late"}), 401)
    assert_scim_error(scim.get("Users"), 401)
    assert db_snapshot() == before


def test_token_is_stored_hashed_and_records_last_use(scim, scim_token):
    token, raw = scim_token
    assert raw.startswith("terrace_scim_") and len(raw) > 40
    token.refresh_from_db()
    assert token.token_hash == token_digest(raw) and raw not in str(ScimToken.objects.values().get())
    assert token.last_used_at is None
    scim.get("ServiceProviderConfig")
    token.refresh_from_db()
    assert token.last_used_at is not None and (timezone.now() - token.last_used_at).total_seconds() < 60


def test_only_org_admins_create_or_revoke_tokens(project_admin, platform_admin):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        scim_token_create(project_admin, name="nope")
    token, _ = scim_token_create(platform_admin, name="ok")
    with pytest.raises(PermissionDenied):
        scim_token_revoke(project_admin, token)


def test_admin_page_shows_a_new_token_once_lists_and_revokes(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post("/admin-portal/scim-tokens/", {"name": "Entra prod"})
    assert response.status_code == 200
    token = ScimToken.objects.get(name="Entra prod")
    raw = response.context["raw_token"]
    assert token.token_hash == token_digest(raw)
    assert raw in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    page = client.get("/admin-portal/scim-tokens/").content.decode()
    assert raw not in page and token.prefix in page and "never" in page
    # The token works, shows its last use, then is revoked from the page.
    assert ScimClient(client, raw).get("Users").status_code == 200
    assert "ago" in client.get("/admin-portal/scim-tokens/").content.decode()
    response = client.post(f"/admin-portal/scim-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert_scim_error(ScimClient(client, raw).get("Users"), 401)
    assert list(AuditEvent.objects.filter(object_type="scimtoken").values_list("action", flat=True).order_by("pk")) \
        == ["scim_token.create", "scim_token.revoke"]


def test_admin_page_refuses_an_empty_name(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post("/admin-portal/scim-tokens/", {"name": "  "})
    assert response.status_code == 400
    assert 'data-error-for="name"' in response.content.decode()
    assert not ScimToken.objects.exists()


def test_discovery_documents(scim):
    spc = scim.get("ServiceProviderConfig").json()
    assert spc["patch"]["supported"] and spc["filter"]["supported"] and spc["etag"]["supported"]
    assert not spc["bulk"]["supported"] and spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = {rt["id"]: rt for rt in scim.get("ResourceTypes").json()["Resources"]}
    assert types["User"]["endpoint"] == "/Users" and types["Group"]["endpoint"] == "/Groups"
    schema_ids = {s["id"] for s in scim.get("Schemas").json()["Resources"]}
    assert schema_ids == {"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group",
                          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}
    assert_scim_error(scim.post("ServiceProviderConfig", {}), 405)
