"""Platform admin pages: who reaches which page (404 unseen, 403 seen but not allowed), bindings, groups,
search, pagination and constant query counts on the lists."""
import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rbac import services
from rbac.models import AuditEvent, Group, Membership, Project, RoleBinding


@pytest.fixture
def group(developer):
    group = Group.objects.create(name="team-a-devs")
    Membership.objects.create(group=group, user=developer)
    return group


def _pages(project, other_project, group):
    """(name, url) of every GET page of the admin area."""
    return {
        "projects": reverse("rbac:projects"),
        "project": reverse("rbac:project", args=[project.slug]),
        "other_project": reverse("rbac:project", args=[other_project.slug]),
        "groups": reverse("rbac:groups"),
        "group": reverse("rbac:group", args=[group.pk]),
        "onboard": reverse("onboard"),
    }


def _statuses(client, user, pages):
    client.force_login(user)
    return {name: client.get(url).status_code for name, url in pages.items()}


# --- Who reaches which page ----------------------------------------------------------------------------

def test_anonymous_is_sent_to_login(client, project, other_project, group):
    for url in _pages(project, other_project, group).values():
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url, url


def test_org_admin_reaches_every_page(client, platform_admin, project, other_project, group):
    statuses = _statuses(client, platform_admin, _pages(project, other_project, group))
    assert statuses == dict.fromkeys(statuses, 200)


def test_project_admin_manages_only_their_project(client, project_admin, project, other_project, group):
    statuses = _statuses(client, project_admin, _pages(project, other_project, group))
    assert statuses == {
        "projects": 200, "project": 200, "other_project": 404, "groups": 403, "group": 403, "onboard": 403,
    }
    content = client.get(reverse("rbac:projects")).content.decode()
    assert project.name in content and other_project.name not in content


@pytest.mark.parametrize("persona", ["developer", "viewer"])
def test_members_without_manage_see_403_on_their_project_and_404_elsewhere(
    request, client, persona, project, other_project, group
):
    statuses = _statuses(client, request.getfixturevalue(persona), _pages(project, other_project, group))
    assert statuses == {
        "projects": 403, "project": 403, "other_project": 404, "groups": 403, "group": 403, "onboard": 403,
    }


def test_outsider_gets_404_for_a_project_not_theirs(client, outsider, project):
    client.force_login(outsider)
    assert client.get(reverse("rbac:project", args=[project.slug])).status_code == 404
    assert client.post(reverse("rbac:project", args=[project.slug]), {"user": "outsider", "role": "viewer"}
                       ).status_code == 404
    assert not RoleBinding.objects.filter(user=outsider, project=project).exists()


def test_unknown_project_and_group_are_404_for_org_admin(client, platform_admin):
    client.force_login(platform_admin)
    assert client.get(reverse("rbac:project", args=["nope"])).status_code == 404
    assert client.get(reverse("rbac:group", args=[999999])).status_code == 404


# --- Role bindings -------------------------------------------------------------------------------------

def test_project_admin_adds_and_removes_a_binding(client, project_admin, project, make_user):
    newcomer = make_user("newcomer")
    client.force_login(project_admin)
    url = reverse("rbac:project", args=[project.slug])
    response = client.post(url, {"user": "newcomer@example.com", "role": "viewer"})
    assert response.status_code == 302 and response.url == url
    binding = RoleBinding.objects.get(user=newcomer, project=project)
    assert binding.role == "viewer"
    event = AuditEvent.objects.get(action="role_binding.create")
    assert event.actor == project_admin and event.project == project
    assert event.data == {"role": "viewer", "project": project.slug, "user": "newcomer"}
    assert "newcomer" in client.get(url).content.decode()

    response = client.post(reverse("rbac:binding_delete", args=[project.slug, binding.pk]))
    assert response.status_code == 302
    assert not RoleBinding.objects.filter(pk=binding.pk).exists()
    assert AuditEvent.objects.filter(action="role_binding.delete", project=project).count() == 1


def test_binding_to_a_group_by_name(client, project_admin, project, group):
    client.force_login(project_admin)
    response = client.post(reverse("rbac:project", args=[project.slug]), {"group": group.name, "role": "viewer"})
    assert response.status_code == 302
    assert RoleBinding.objects.filter(group=group, project=project, role="viewer").exists()


def test_binding_form_errors_are_next_to_the_field(client, project_admin, project, group):
    client.force_login(project_admin)
    url = reverse("rbac:project", args=[project.slug])
    before = RoleBinding.objects.count()
    response = client.post(url, {"user": "ghost", "role": "viewer"})
    assert response.status_code == 400
    assert 'data-error-for="user"' in response.content.decode()
    response = client.post(url, {"group": "no-such-group", "role": "viewer"})
    assert response.status_code == 400 and 'data-error-for="group"' in response.content.decode()
    response = client.post(url, {"user": "lead", "group": group.name, "role": "viewer"})
    assert response.status_code == 400 and "either a user or a group" in response.content.decode()
    # A duplicate is refused by the service and shown next to the field too.
    response = client.post(url, {"user": "lead", "role": "project_admin"})
    assert response.status_code == 400 and "already holds" in response.content.decode()
    assert RoleBinding.objects.count() == before


def test_project_admin_cannot_grant_org_admin(client, project_admin, project, developer):
    client.force_login(project_admin)
    response = client.post(reverse("rbac:project", args=[project.slug]), {"user": "dev", "role": "org_admin"})
    assert response.status_code == 400  # not even offered on the page
    with pytest.raises(PermissionDenied):
        services.role_binding_create(project_admin, role="org_admin", project=project, user=developer)
    with pytest.raises(PermissionDenied):
        services.role_binding_create(project_admin, role="org_admin", project=None, user=developer)
    assert not RoleBinding.objects.filter(role="org_admin").exists()


def test_project_admin_cannot_bind_in_another_project(project_admin, other_project, developer):
    with pytest.raises(PermissionDenied):
        services.role_binding_create(project_admin, role="viewer", project=other_project, user=developer)
    assert not RoleBinding.objects.filter(project=other_project).exists()


def test_org_admin_grants_org_admin_only_org_wide(platform_admin, project, developer):
    with pytest.raises(services.InvalidRequest):
        services.role_binding_create(platform_admin, role="org_admin", project=project, user=developer)
    binding = services.role_binding_create(platform_admin, role="org_admin", project=None, user=developer)
    assert binding.project is None


def test_bindings_of_another_project_cannot_be_deleted(client, project_admin, project, other_project, outsider):
    foreign = RoleBinding.objects.get(user=outsider)
    client.force_login(project_admin)
    # Through the admin's own project the binding does not exist; through its project the project is unseen.
    assert client.post(reverse("rbac:binding_delete", args=[project.slug, foreign.pk])).status_code == 404
    assert client.post(reverse("rbac:binding_delete", args=[other_project.slug, foreign.pk])).status_code == 404
    assert RoleBinding.objects.filter(pk=foreign.pk).exists()


def test_developer_cannot_change_bindings(client, developer, project, viewer):
    binding = RoleBinding.objects.get(user=viewer)
    client.force_login(developer)
    assert client.post(reverse("rbac:project", args=[project.slug]), {"user": "dev", "role": "project_admin"}
                       ).status_code == 403
    assert client.post(reverse("rbac:binding_delete", args=[project.slug, binding.pk])).status_code == 403
    assert RoleBinding.objects.filter(pk=binding.pk).exists()
    assert not RoleBinding.objects.filter(user=developer, role="project_admin").exists()


def test_deletes_need_post(client, project_admin, project, viewer):
    binding = RoleBinding.objects.get(user=viewer)
    client.force_login(project_admin)
    assert client.get(reverse("rbac:binding_delete", args=[project.slug, binding.pk])).status_code == 405
    assert RoleBinding.objects.filter(pk=binding.pk).exists()


def test_last_org_admin_binding_stays(platform_admin, make_user):
    only = RoleBinding.objects.get(user=platform_admin, role="org_admin")
    with pytest.raises(services.InvalidRequest):
        services.role_binding_delete(platform_admin, only)
    second = services.role_binding_create(platform_admin, role="org_admin", user=make_user("second"))
    services.role_binding_delete(platform_admin, second)
    assert RoleBinding.objects.filter(role="org_admin").count() == 1


def test_project_page_lists_bindings_and_shared_templates(client, project_admin, project, sandbox_version, group):
    RoleBinding.objects.create(group=group, role="env_template_user", project=project)
    client.force_login(project_admin)
    content = client.get(reverse("rbac:project", args=[project.slug])).content.decode()
    assert "lead" in content and "team-a-devs" in content
    assert sandbox_version.template.name in content


# --- Projects ------------------------------------------------------------------------------------------

def test_org_admin_creates_an_empty_project(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post(reverse("rbac:projects"), {"name": "Data", "slug": "data"})
    assert response.status_code == 302 and response.url == reverse("rbac:project", args=["data"])
    project = Project.objects.get(slug="data")
    assert AuditEvent.objects.filter(action="project.create", object_id=str(project.pk)).count() == 1
    response = client.post(reverse("rbac:projects"), {"name": "Data again", "slug": "data"})
    assert response.status_code == 400 and 'data-error-for="slug"' in response.content.decode()
    response = client.post(reverse("rbac:projects"), {"name": "Bad", "slug": "Bad_Slug"})
    assert response.status_code == 400
    assert Project.objects.count() == 1


def test_project_admin_cannot_create_projects(client, project_admin):
    client.force_login(project_admin)
    assert client.post(reverse("rbac:projects"), {"name": "Mine", "slug": "mine"}).status_code == 403
    assert not Project.objects.filter(slug="mine").exists()
    with pytest.raises(PermissionDenied):
        services.project_create(project_admin, slug="mine", name="Mine")


def _make_projects(n, start=0):
    projects = Project.objects.bulk_create(
        Project(slug=f"proj-{i:03d}", name=f"Project {i:03d}") for i in range(start, start + n)
    )
    groups = Group.objects.bulk_create(Group(name=f"grp-{p.slug}") for p in projects)
    RoleBinding.objects.bulk_create(
        RoleBinding(project=p, group=g, role="env_template_user") for p, g in zip(projects, groups, strict=True)
    )
    return projects, groups


def test_project_search_and_pagination(client, platform_admin):
    _make_projects(30)
    client.force_login(platform_admin)
    page2 = client.get(reverse("rbac:projects"), {"page": 2})
    assert page2.status_code == 200
    assert len(page2.context["page"].object_list) == 5
    assert [p.slug for p in page2.context["page"].object_list][0] == "proj-025"
    found = client.get(reverse("rbac:projects"), {"q": "PROJ-01"}).context["page"].object_list
    assert [p.slug for p in found] == [f"proj-{i:03d}" for i in range(10, 20)]
    assert client.get(reverse("rbac:projects"), {"q": "Project 007"}).context["page"].paginator.count == 1


def test_project_list_counts_members_and_bindings(client, platform_admin, project, project_admin, developer,
                                                  group):
    RoleBinding.objects.create(group=group, role="env_template_user", project=project)  # dev again, via group
    client.force_login(platform_admin)
    row = client.get(reverse("rbac:projects"), {"q": project.slug}).context["page"].object_list[0]
    assert (row.binding_count, row.member_count) == (3, 2)  # lead + dev (directly and through the group)


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_project_list_runs_a_constant_number_of_queries(client, platform_admin, django_assert_max_num_queries):
    _make_projects(10)
    client.force_login(platform_admin)
    url = reverse("rbac:projects")
    baseline = _queries(client, url)
    _make_projects(20, start=10)
    with django_assert_max_num_queries(baseline):
        client.get(url)


def test_group_list_runs_a_constant_number_of_queries(client, platform_admin, make_user,
                                                      django_assert_max_num_queries):
    users = [make_user(f"u{i}") for i in range(3)]
    _, groups = _make_projects(10)
    Membership.objects.bulk_create(Membership(group=g, user=u) for g in groups for u in users)
    client.force_login(platform_admin)
    url = reverse("rbac:groups")
    baseline = _queries(client, url)
    _, groups = _make_projects(20, start=10)
    Membership.objects.bulk_create(Membership(group=g, user=u) for g in groups for u in users)
    with django_assert_max_num_queries(baseline):
        client.get(url)


# --- Groups --------------------------------------------------------------------------------------------

def test_org_admin_creates_a_group_linked_to_the_idp(client, platform_admin):
    client.force_login(platform_admin)
    response = client.post(reverse("rbac:groups"), {"name": "data-team", "idp_group": "Data Engineers"})
    group = Group.objects.get(name="data-team")
    assert response.status_code == 302 and response.url == reverse("rbac:group", args=[group.pk])
    assert (group.source, group.external_id) == (Group.OIDC, "Data Engineers")
    assert AuditEvent.objects.filter(action="group.create").count() == 1
    response = client.post(reverse("rbac:groups"), {"name": "data-team"})
    assert response.status_code == 400 and 'data-error-for="name"' in response.content.decode()
    assert Group.objects.count() == 1


def test_group_search_and_pagination(client, platform_admin):
    _make_projects(30)
    client.force_login(platform_admin)
    assert len(client.get(reverse("rbac:groups"), {"page": 2}).context["page"].object_list) == 5
    assert client.get(reverse("rbac:groups"), {"q": "grp-proj-02"}).context["page"].paginator.count == 10


def test_group_members_show_where_they_come_from(client, platform_admin, group, make_user):
    Membership.objects.create(group=group, user=make_user("sso-user"), source=Group.OIDC)
    client.force_login(platform_admin)
    content = client.get(reverse("rbac:group", args=[group.pk])).content.decode()
    assert "sso-user" in content and "OIDC group claim" in content
    assert "dev" in content and "Added in Terrace" in content


def test_org_admin_adds_and_removes_members(client, platform_admin, group, make_user):
    newcomer = make_user("newcomer")
    client.force_login(platform_admin)
    url = reverse("rbac:group", args=[group.pk])
    assert client.post(url, {"user": "newcomer"}).status_code == 302
    membership = Membership.objects.get(group=group, user=newcomer)
    assert membership.source == Group.LOCAL
    response = client.post(url, {"user": "newcomer"})
    assert response.status_code == 400 and "already a member" in response.content.decode()
    response = client.post(url, {"user": "ghost"})
    assert response.status_code == 400 and 'data-error-for="user"' in response.content.decode()

    response = client.post(reverse("rbac:member_remove", args=[group.pk, membership.pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["membership.add", "membership.remove"]


def test_member_of_another_group_cannot_be_removed_through_this_one(client, platform_admin, group):
    other = Group.objects.create(name="other")
    client.force_login(platform_admin)
    membership = Membership.objects.get(group=group)
    assert client.post(reverse("rbac:member_remove", args=[other.pk, membership.pk])).status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_project_admin_cannot_change_groups(client, project_admin, group):
    client.force_login(project_admin)
    membership = Membership.objects.get(group=group)
    assert client.post(reverse("rbac:groups"), {"name": "mine"}).status_code == 403
    assert client.post(reverse("rbac:group", args=[group.pk]), {"user": "lead"}).status_code == 403
    assert client.post(reverse("rbac:member_remove", args=[group.pk, membership.pk])).status_code == 403
    assert Group.objects.count() == 1 and Membership.objects.count() == 1
    with pytest.raises(PermissionDenied):
        services.membership_add(project_admin, group, project_admin)
    with pytest.raises(PermissionDenied):
        services.group_create(project_admin, name="mine")
