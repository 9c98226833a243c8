"""Projects, groups and role bindings through /api/v1/: the admin pages' rules, the services' checks."""
import pytest

from rbac.models import AuditEvent, Group, Membership, Project, RoleBinding

pytestmark = pytest.mark.django_db


def test_projects_are_scoped(api_as, developer, outsider, platform_admin, project, other_project):
    assert [p["slug"] for p in api_as(developer).get("/api/v1/projects/").json()["results"]] == ["team-a"]
    assert api_as(outsider).get("/api/v1/projects/team-a/").status_code == 404
    assert {p["slug"] for p in api_as(platform_admin).get("/api/v1/projects/").json()["results"]} == {
        "team-a", "team-b"}


def test_only_org_admins_create_projects_with_field_errors(api_as, platform_admin, project_admin, project):
    assert api_as(project_admin).post("/api/v1/projects/", {"slug": "new", "name": "New"}).status_code == 403
    admin = api_as(platform_admin)
    created = admin.post("/api/v1/projects/", {"slug": "new-team", "name": "New team"})
    assert created.status_code == 201 and Project.objects.filter(slug="new-team").exists()
    assert AuditEvent.objects.filter(action="project.create", actor=platform_admin).exists()
    dup = admin.post("/api/v1/projects/", {"slug": "new-team", "name": "Again"})
    assert dup.status_code == 400 and list(dup.json()["error"]["fields"]) == ["slug"]
    bad = admin.post("/api/v1/projects/", {"slug": "Bad Slug", "name": ""})
    assert bad.status_code == 400 and "name" in bad.json()["error"]["fields"]


def test_groups_are_for_org_admins(api_as, platform_admin, project_admin, developer):
    assert api_as(project_admin).get("/api/v1/groups/").status_code == 403
    assert api_as(developer).post("/api/v1/groups/", {"name": "x"}).status_code == 403
    admin = api_as(platform_admin)
    group = admin.post("/api/v1/groups/", {"name": "devs", "external_id": "idp-devs"}).json()
    member = admin.post(f"/api/v1/groups/{group['id']}/members/", {"user": "dev"})
    assert member.status_code == 201 and member.json()["user"] == "dev"
    detail = admin.get(f"/api/v1/groups/{group['id']}/").json()
    assert [m["user"] for m in detail["members"]] == ["dev"]
    again = admin.post(f"/api/v1/groups/{group['id']}/members/", {"user": "dev"})
    assert again.status_code == 400 and "user" in again.json()["error"]["fields"]
    removed = admin.delete(f"/api/v1/groups/{group['id']}/members/{member.json()['id']}/")
    assert removed.status_code == 204 and not Membership.objects.filter(group_id=group["id"]).exists()


def test_role_bindings_follow_the_services_rules(api_as, platform_admin, project_admin, developer, viewer,
                                                 project, other_project, make_user):
    newcomer = make_user("newcomer")
    lead = api_as(project_admin)
    listed = lead.get("/api/v1/role-bindings/").json()
    assert {b["project"] for b in listed["results"]} == {"team-a"}
    assert api_as(developer).get("/api/v1/role-bindings/").json()["count"] == 0
    created = lead.post("/api/v1/role-bindings/", {"role": "viewer", "project": "team-a", "user": "newcomer"})
    assert created.status_code == 201
    assert RoleBinding.objects.filter(user=newcomer, role="viewer", project=project).exists()
    assert lead.post("/api/v1/role-bindings/", {"role": "org_admin", "user": "newcomer"}).status_code == 403
    assert lead.post("/api/v1/role-bindings/", {"role": "viewer", "project": "team-b",
                                                "user": "newcomer"}).status_code == 400
    assert api_as(developer).post("/api/v1/role-bindings/", {"role": "viewer", "project": "team-a",
                                                             "user": "newcomer"}).status_code == 403
    bad = lead.post("/api/v1/role-bindings/", {"role": "king", "project": "team-a", "user": "nobody"})
    assert bad.status_code == 400 and "role" in bad.json()["error"]["fields"]
    other = RoleBinding.objects.create(user=newcomer, role="viewer", project=other_project)
    assert lead.delete(f"/api/v1/role-bindings/{other.pk}/").status_code == 404
    assert lead.delete(f"/api/v1/role-bindings/{created.json()['id']}/").status_code == 204
    last_admin = RoleBinding.objects.get(user=platform_admin, role="org_admin")
    refused = api_as(platform_admin).delete(f"/api/v1/role-bindings/{last_admin.pk}/")
    assert refused.status_code == 400 and "last org_admin" in refused.json()["error"]["message"]
    assert Group.objects.count() == 0
