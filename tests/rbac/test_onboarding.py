"""Onboarding a developer: one click creates project, group, membership, binding and shares, with one audit
record; bad input creates nothing."""
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from environments.models import Template, TemplateShare
from environments.selectors import template_versions_for_project
from portal.onboarding import project_onboard
from rbac.models import AuditEvent, Group, Membership, Project, RoleBinding
from rbac.services import InvalidRequest

MODELS = [Project, Group, Membership, RoleBinding, TemplateShare, AuditEvent, Template]


def _counts():
    counts = {model.__name__: model.objects.count() for model in MODELS}
    counts["User"] = get_user_model().objects.count()
    return counts


@pytest.fixture
def newcomer(make_user):
    return make_user("newdev")


@pytest.fixture
def second_template(central):
    return Template.objects.create(project=central, slug="second", name="Second template")


def _post(client, **overrides):
    data = {"name": "Team C", "slug": "team-c", "developer": "newdev", "role": "env_template_user"}
    data.update(overrides)
    return client.post(reverse("onboard"), data)


def test_onboarding_creates_everything_with_one_audit_record(
    client, platform_admin, newcomer, sandbox_version, second_template
):
    client.force_login(platform_admin)
    assert client.get(reverse("onboard")).status_code == 200
    before = _counts()
    response = _post(client, developer="newdev@example.com",
                     templates=[sandbox_version.template.pk, second_template.pk])
    assert response.status_code == 302 and response.url == reverse("rbac:project", args=["team-c"])
    after = _counts()
    assert {k: after[k] - before[k] for k in after} == {
        "Project": 1, "Group": 1, "Membership": 1, "RoleBinding": 1, "TemplateShare": 2, "AuditEvent": 1,
        "Template": 0, "User": 0,
    }
    project = Project.objects.get(slug="team-c")
    group = Group.objects.get(name="team-c-developers")
    assert (group.source, group.external_id) == (Group.LOCAL, "")
    assert Membership.objects.get(group=group).user == newcomer
    assert Membership.objects.get(group=group).source == Group.LOCAL
    assert RoleBinding.objects.get(project=project).group == group
    event = AuditEvent.objects.latest("pk")
    assert (event.action, event.actor, event.project) == ("project.onboard", platform_admin, project)
    assert event.data["developer"] == "newdev" and event.data["group"] == "team-c-developers"
    assert sorted(event.data["templates"]) == ["genai/hello-sandbox", "genai/second"]

    # The developer can start right away: the shared template is offered in the new project.
    assert sandbox_version in template_versions_for_project(newcomer, project)
    follow = client.get(response.url)
    assert "Team C is ready" in follow.content.decode()


def test_idp_group_links_the_group_for_sso_sync(platform_admin, newcomer):
    project = project_onboard(platform_admin, slug="team-c", name="Team C", developer=newcomer,
                              group_name="c-devs", idp_group="Team C Developers", role="viewer")
    group = Group.objects.get(name="c-devs")
    assert (group.source, group.external_id) == (Group.OIDC, "Team C Developers")
    assert RoleBinding.objects.get(project=project).role == "viewer"
    # The developer's own membership stays local: it does not wait for the IdP.
    assert Membership.objects.get(group=group, user=newcomer).source == Group.LOCAL


def test_an_existing_group_is_reused(platform_admin, newcomer, developer):
    group = Group.objects.create(name="shared-devs")
    Membership.objects.create(group=group, user=developer)
    project = project_onboard(platform_admin, slug="team-c", name="Team C", developer=newcomer,
                              group_name="shared-devs")
    assert Group.objects.filter(name="shared-devs").count() == 1
    assert set(group.members.all()) == {developer, newcomer}
    assert RoleBinding.objects.get(project=project).group == group
    assert AuditEvent.objects.get(action="project.onboard").data["group_created"] is False


@pytest.mark.parametrize("overrides, field", [
    ({"slug": "team-a"}, "slug"),  # the `project` fixture's slug
    ({"developer": "ghost"}, "developer"),
    ({"developer": "ghost@example.com"}, "developer"),
    ({"slug": "Team_C"}, "slug"),
    ({"slug": "-team-c"}, "slug"),
    ({"name": ""}, "name"),
    ({"role": "org_admin"}, "role"),
])
def test_bad_input_creates_nothing(client, platform_admin, newcomer, project, sandbox_version, overrides, field):
    client.force_login(platform_admin)
    before = _counts()
    response = _post(client, templates=[sandbox_version.template.pk], **overrides)
    assert response.status_code == 400
    assert f'data-error-for="{field}"' in response.content.decode()
    assert _counts() == before


def test_failure_after_the_first_insert_rolls_everything_back(client, platform_admin, newcomer, sandbox_version):
    # The group exists linked to another IdP group: found only after the project row is written.
    Group.objects.create(name="team-c-developers", source=Group.SCIM, external_id="someone-else")
    client.force_login(platform_admin)
    before = _counts()
    response = _post(client, idp_group="Team C", templates=[sandbox_version.template.pk])
    assert response.status_code == 400 and 'data-error-for="idp_group"' in response.content.decode()
    assert _counts() == before
    assert Group.objects.get(name="team-c-developers").external_id == "someone-else"


def test_service_refuses_a_duplicate_slug(platform_admin, newcomer, project):
    before = _counts()
    with pytest.raises(InvalidRequest) as exc:
        project_onboard(platform_admin, slug=project.slug, name="Again", developer=newcomer)
    assert exc.value.field == "slug"
    assert _counts() == before


@pytest.mark.parametrize("persona", ["project_admin", "developer", "viewer"])
def test_only_org_admins_onboard(request, client, persona, newcomer):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    before = _counts()
    assert _post(client).status_code == 403
    with pytest.raises(PermissionDenied):
        project_onboard(user, slug="team-c", name="Team C", developer=newcomer)
    assert _counts() == before


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(reverse("onboard"))
    assert response.status_code == 302 and "/accounts/login/" in response.url
