"""SCIM /Groups: groups pushed by the IdP have source `scim`, their memberships source `scim`, every membership
change is audited with source "scim", and local/OIDC/SAML groups are out of SCIM's reach."""
from django.contrib.auth import get_user_model

from rbac import permissions as perms
from rbac.models import AuditEvent, Group, Membership, RoleBinding
from rbac.scoping import has_perm
from tests.rbac import scim_support
from tests.rbac.scim_support import GROUP_URN, assert_scim_error, db_snapshot

scim, scim_token = scim_support.scim, scim_support.scim_token  # fixtures


def _members(group_id):
    return sorted(Membership.objects.filter(group_id=group_id).values_list("user__username", "source"))


def _audited(action):
    return sorted(e.data["user"] for e in AuditEvent.objects.filter(action=action, data__source="scim"))


def test_create_group_with_members(scim):
    a, b = scim.create_user("ann"), scim.create_user("ben")
    response = scim.post("Groups", {"schemas": [GROUP_URN], "displayName": "Platform", "externalId": "okta-g1",
                                    "members": [{"value": a["id"]}, {"value": b["id"], "display": "ben"}]})
    assert response.status_code == 201, response.content
    body = response.json()
    group = Group.objects.get(pk=body["id"])
    assert (group.name, group.source, group.external_id) == ("Platform", Group.SCIM, "okta-g1")
    assert _members(group.pk) == [("ann", "scim"), ("ben", "scim")]
    assert _audited("membership.add") == ["ann", "ben"]
    assert AuditEvent.objects.get(action="group.create").data["source"] == "scim"
    assert sorted(m["value"] for m in body["members"]) == sorted([a["id"], b["id"]])
    assert response["ETag"] == body["meta"]["version"]
    assert response["Location"].endswith(f"/scim/v2/Groups/{group.pk}")


def test_okta_style_membership_patches(scim):
    a, b, c = (scim.create_user(n) for n in ("ann", "ben", "cat"))
    g = scim.create_group("devs", members=[a["id"]])
    ops = [{"op": "add", "path": "members", "value": [{"value": b["id"], "display": "ben"},
                                                      {"value": c["id"], "display": "cat"}]}]
    assert scim.patch(f"Groups/{g['id']}", ops).status_code == 200
    assert _members(g["id"]) == [("ann", "scim"), ("ben", "scim"), ("cat", "scim")]
    remove = [{"op": "remove", "path": f'members[value eq "{a["id"]}"]'}]
    assert scim.patch(f"Groups/{g['id']}", remove).status_code == 200
    assert _members(g["id"]) == [("ben", "scim"), ("cat", "scim")]
    rename = [{"op": "replace", "value": {"id": g["id"], "displayName": "developers"}}]
    response = scim.patch(f"Groups/{g['id']}", rename)
    assert response.status_code == 200, response.content
    assert Group.objects.get(pk=g["id"]).name == "developers"
    replace = [{"op": "replace", "path": "members", "value": [{"value": a["id"]}]}]
    assert scim.patch(f"Groups/{g['id']}", replace).status_code == 200
    assert _members(g["id"]) == [("ann", "scim")]
    assert _audited("membership.add") == ["ann", "ann", "ben", "cat"]
    assert _audited("membership.remove") == ["ann", "ben", "cat"]


def test_entra_style_remove_with_value(scim):
    a, b = scim.create_user("ann"), scim.create_user("ben")
    g = scim.create_group("ops", members=[a["id"], b["id"]])
    ops = [{"op": "Remove", "path": "members", "value": [{"value": a["id"]}]}]
    response = scim.patch(f"Groups/{g['id']}", ops)
    assert response.status_code == 200, response.content
    assert _members(g["id"]) == [("ben", "scim")]


def test_group_filters_and_excluded_members(scim):
    a = scim.create_user("ann")
    scim.create_group("alpha", externalId="x-1", members=[a["id"]])
    scim.create_group("beta")
    Group.objects.create(name="local-alpha")  # invisible to SCIM
    assert scim.get("Groups").json()["totalResults"] == 2
    assert scim.get('Groups?filter=displayName eq "ALPHA"').json()["Resources"][0]["externalId"] == "x-1"
    assert scim.get('Groups?filter=displayName co "alpha"').json()["totalResults"] == 1
    assert scim.get(f'Groups?filter=members eq "{a["id"]}"').json()["totalResults"] == 1
    listed = scim.get('Groups?filter=displayName eq "alpha"&excludedAttributes=members').json()["Resources"][0]
    assert "members" not in listed and listed["displayName"] == "alpha"


def test_put_replaces_name_and_members(scim):
    a, b = scim.create_user("ann"), scim.create_user("ben")
    g = scim.create_group("team", members=[a["id"]])
    response = scim.put(f"Groups/{g['id']}", {"schemas": [GROUP_URN], "displayName": "team-renamed",
                                              "members": [{"value": b["id"]}]})
    assert response.status_code == 200, response.content
    assert Group.objects.get(pk=g["id"]).name == "team-renamed"
    assert _members(g["id"]) == [("ben", "scim")]


def test_delete_group_removes_it_with_its_memberships_and_bindings(scim, project):
    a = scim.create_user("ann")
    g = scim.create_group("doomed", members=[a["id"]])
    RoleBinding.objects.create(group_id=g["id"], role="viewer", project=project)
    assert scim.delete(f"Groups/{g['id']}").status_code == 204
    assert not Group.objects.filter(pk=g["id"]).exists()
    assert not RoleBinding.objects.filter(group_id=g["id"]).exists()
    assert _audited("membership.remove") == ["ann"]
    assert_scim_error(scim.get(f"Groups/{g['id']}"), 404)


def test_scim_never_touches_local_oidc_or_saml_groups(scim, make_user):
    a = scim.create_user("ann")
    carol = make_user("carol")
    others = [Group.objects.create(name=f"{source}-group", source=source, external_id=f"{source}-ext")
              for source in (Group.LOCAL, Group.OIDC, Group.SAML)]
    for group in others:
        Membership.objects.create(group=group, user=carol, source=group.source)
    before = db_snapshot()
    for group in others:
        assert scim.get(f'Groups?filter=displayName eq "{group.name}"').json()["totalResults"] == 0
        assert_scim_error(scim.get(f"Groups/{group.pk}"), 404)
        assert_scim_error(scim.patch(f"Groups/{group.pk}", [{"op": "add", "path": "members",
                                                              "value": [{"value": a["id"]}]}]), 404)
        assert_scim_error(scim.put(f"Groups/{group.pk}", {"schemas": [GROUP_URN], "displayName": "x"}), 404)
        assert_scim_error(scim.delete(f"Groups/{group.pk}"), 404)
        assert_scim_error(scim.post("Groups", {"schemas": [GROUP_URN], "displayName": group.name.upper()}), 409,
                          "uniqueness")
    assert db_snapshot() == before


def test_scim_group_membership_gives_role_bindings(scim, project):
    """End to end: a group pushed over SCIM and bound to a role gives its members access."""
    a = scim.create_user("ann")
    g = scim.create_group("team-a-devs", members=[a["id"]])
    RoleBinding.objects.create(group_id=g["id"], role="env_template_user", project=project)
    ann = get_user_model().objects.get(pk=a["id"])
    assert has_perm(ann, perms.ENVIRONMENT_CREATE, project)
    scim.patch(f"Groups/{g['id']}", [{"op": "remove", "path": f'members[value eq "{a["id"]}"]'}])
    assert not has_perm(ann, perms.ENVIRONMENT_CREATE, project)
