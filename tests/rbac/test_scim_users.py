"""SCIM /Users: create, read, filter, page, replace, patch, delete; deactivation ends sessions and blocks login."""
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from rbac.models import AuditEvent, Group, Membership, ScimUser
from tests.conftest import PASSWORD
from tests.rbac import scim_support
from tests.rbac.scim_support import USER_URN, assert_scim_error, db_snapshot

scim, scim_token = scim_support.scim, scim_support.scim_token  # fixtures

User = get_user_model()


def _sessions_of(user):
    return [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]


def test_create_user_stores_it_for_sso_login_and_audits(scim):
    response = scim.post("Users", {
        "schemas": [USER_URN, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "alice@example.com", "externalId": "00u1abc",
        "name": {"givenName": "Alice", "familyName": "Liddell"}, "displayName": "Alice L.",
        "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
    })
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    user = User.objects.get(username="alice@example.com")
    assert body["id"] == str(user.pk)
    assert response["Location"] == body["meta"]["location"] == f"http://testserver/scim/v2/Users/{user.pk}"
    assert response["ETag"] == body["meta"]["version"]
    assert body["meta"]["resourceType"] == "User" and body["meta"]["created"] and body["meta"]["lastModified"]
    assert (user.first_name, user.last_name, user.email, user.is_active) == ("Alice", "Liddell", "alice@example.com",
                                                                           True)
    assert not user.has_usable_password()  # signs in through SSO
    assert ScimUser.objects.get(user=user).external_id == "00u1abc"
    # What the IdP wrote, it reads back.
    got = scim.get(f"Users/{user.pk}").json()
    assert got["phoneNumbers"] == [{"value": "+1 555 0100", "type": "work"}]
    assert got["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {"department": "R&D"}
    assert got["displayName"] == "Alice L." and got["externalId"] == "00u1abc"
    event = AuditEvent.objects.get(action="user.create")
    assert event.data["source"] == "scim" and event.actor_label == "scim:Okta test"


def test_password_is_never_stored_nor_returned(scim):
    created = scim.create_user("pat", password="hunter2-secret")
    assert "password" not in created
    user = User.objects.get(username="pat")
    assert not user.has_usable_password()
    assert "hunter2" not in str(ScimUser.objects.get(user=user).attributes)
    assert "hunter2" not in scim.get(f"Users/{user.pk}").content.decode()


def test_get_with_matching_if_none_match_is_304(scim):
    created = scim.create_user("etag")
    response = scim.get(f"Users/{created['id']}", **{"If-None-Match": created["meta"]["version"]})
    assert response.status_code == 304
    scim.patch(f"Users/{created['id']}", [{"op": "replace", "path": "displayName", "value": "E"}])
    response = scim.get(f"Users/{created['id']}", **{"If-None-Match": created["meta"]["version"]})
    assert response.status_code == 200 and response["ETag"] != created["meta"]["version"]


def test_filters_and_pagination(scim, make_user):
    for i in range(5):
        scim.create_user(f"user{i}", externalId=f"ext-{i}", displayName=f"User {i}")
    make_user("local-only")  # users SCIM never wrote are visible, so an IdP can link to them
    assert scim.get('Users?filter=userName eq "USER3"').json()["Resources"][0]["userName"] == "user3"
    assert scim.get('Users?filter=externalId eq "ext-2"').json()["Resources"][0]["userName"] == "user2"
    assert scim.get('Users?filter=externalId eq "EXT-2"').json()["totalResults"] == 0  # caseExact
    assert scim.get('Users?filter=displayName eq "user 4"').json()["Resources"][0]["userName"] == "user4"
    both = scim.get('Users?filter=userName eq "user1" or externalId eq "ext-4"').json()
    assert sorted(r["userName"] for r in both["Resources"]) == ["user1", "user4"]
    assert scim.get('Users?filter=userName sw "user" and not (userName eq "user0")').json()["totalResults"] == 4
    assert scim.get('Users?filter=urn:ietf:params:scim:schemas:core:2.0:User:userName eq "local-only"'
                    ).json()["totalResults"] == 1
    page = scim.get('Users?filter=userName sw "user"&startIndex=2&count=2').json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["user1", "user2"]
    assert scim.get("Users?count=0").json()["Resources"] == []
    only = scim.get('Users?filter=userName eq "user1"&attributes=userName').json()["Resources"][0]
    assert set(only) == {"schemas", "id", "userName"}
    search = scim.post("Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                         "filter": 'userName ew "3"', "count": 10})
    assert [r["userName"] for r in search.json()["Resources"]] == ["user3"]


def test_put_replaces_the_whole_user(scim):
    created = scim.create_user("rita", displayName="Rita", name={"givenName": "Rita"})
    response = scim.put(f"Users/{created['id']}", {"schemas": [USER_URN], "userName": "rita2",
                                                   "emails": [{"value": "r@example.com", "primary": True}]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert "displayName" not in body and "name" not in body and body["userName"] == "rita2"
    user = User.objects.get(pk=created["id"])
    assert (user.username, user.first_name, user.email) == ("rita2", "", "r@example.com")


def test_delete_user_removes_it_and_its_scim_memberships(scim):
    created = scim.create_user("gone")
    scim.create_group("g1", members=[created["id"]])
    response = scim.delete(f"Users/{created['id']}")
    assert response.status_code == 204
    assert not User.objects.filter(pk=created["id"]).exists()
    assert not Membership.objects.exists()
    assert_scim_error(scim.get(f"Users/{created['id']}"), 404)
    actions = list(AuditEvent.objects.filter(data__source="scim").values_list("action", flat=True))
    assert "membership.remove" in actions and "user.delete" in actions


def test_superuser_is_read_only_for_scim(scim, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    assert scim.get(f"Users/{root.pk}").status_code == 200
    before = db_snapshot()
    assert_scim_error(scim.patch(f"Users/{root.pk}", [{"op": "replace", "path": "active", "value": False}]), 403)
    assert_scim_error(scim.delete(f"Users/{root.pk}"), 403)
    assert db_snapshot() == before


def test_deactivation_ends_sessions_and_blocks_login(scim, make_user, developer):
    erin = make_user("erin")
    browser = Client()
    assert browser.post("/accounts/login/", {"login": "erin", "password": PASSWORD}).status_code == 302
    assert browser.get("/environments/").status_code == 200
    bystander = Client()
    bystander.post("/accounts/login/", {"login": "dev", "password": PASSWORD})
    assert len(_sessions_of(erin)) == 1

    # Okta deactivates with a path-less replace.
    response = scim.patch(f"Users/{erin.pk}", [{"op": "replace", "value": {"active": False}}])
    assert response.status_code == 200, response.content
    assert response.json()["active"] is False
    erin.refresh_from_db()
    assert not erin.is_active
    assert _sessions_of(erin) == []
    assert len(_sessions_of(developer)) == 1  # nobody else is signed out

    assert browser.get("/environments/").status_code == 302  # back to the login page
    browser.post("/accounts/login/", {"login": "erin", "password": PASSWORD})
    assert "_auth_user_id" not in browser.session
    assert browser.get("/environments/").status_code == 302
    event = AuditEvent.objects.get(action="user.deactivate")
    assert event.data["source"] == "scim" and event.data["sessions_ended"] == 1

    # Entra ID reactivates with a capitalised op and a string boolean.
    response = scim.patch(f"Users/{erin.pk}", [{"op": "Replace", "path": "active", "value": "True"}])
    assert response.status_code == 200, response.content
    assert browser.post("/accounts/login/", {"login": "erin", "password": PASSWORD}).status_code == 302
    assert browser.get("/environments/").status_code == 200
    assert AuditEvent.objects.filter(action="user.activate").exists()


def test_entra_style_patches(scim):
    created = scim.create_user("ent")
    ops = [
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "ent@example.com"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
         "value": "Finance"},
        {"op": "Replace", "path": "name.familyName", "value": "Erprise"},
    ]
    response = scim.patch(f"Users/{created['id']}", ops)
    assert response.status_code == 200, response.content
    user = User.objects.get(pk=created["id"])
    assert (user.email, user.last_name) == ("ent@example.com", "Erprise")
    body = scim.get(f"Users/{created['id']}").json()
    assert body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] == "Finance"


def test_local_groups_of_a_user_are_not_shown_to_scim(scim, make_user):
    user = make_user("mixed")
    local = Group.objects.create(name="local-team")
    Membership.objects.create(group=local, user=user)
    scim_group = scim.create_group("idp-team", members=[user.pk])
    body = scim.get(f"Users/{user.pk}").json()
    assert [g["value"] for g in body["groups"]] == [scim_group["id"]]


def test_listing_costs_the_same_queries_for_5_or_25_users(scim, django_assert_max_num_queries):
    for i in range(5):
        scim.create_user(f"few{i}")
    scim.create_group("all", members=[u.pk for u in User.objects.filter(username__startswith="few")])
    # token, last-use stamp, count, page, SCIM groups of the page (+ transaction savepoints)
    with django_assert_max_num_queries(6):
        assert scim.get("Users").status_code == 200
    for i in range(20):
        scim.create_user(f"many{i}")
    with django_assert_max_num_queries(6):
        assert scim.get("Users").json()["totalResults"] == 26  # + the org admin persona
