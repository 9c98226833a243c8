"""The one scoping function: who sees which project's objects."""
import pytest

from environments.models import Environment, Run
from environments.services import environment_create
from rbac import permissions as perms
from rbac.models import Group, Membership, Project, RoleBinding
from rbac.scoping import has_perm, scope


@pytest.fixture
def environment(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, _ = environment_create(developer, project, sandbox_version, "scoped", {"app_name": "scoped"})
    return env


def test_members_see_their_project_outsiders_see_nothing(environment, developer, viewer, outsider):
    for user in (developer, viewer):
        assert list(scope(Environment.objects.all(), user, perms.ENVIRONMENT_VIEW)) == [environment]
        assert scope(Run.objects.all(), user, perms.RUN_VIEW).count() == 1
    assert not scope(Environment.objects.all(), outsider, perms.ENVIRONMENT_VIEW).exists()
    assert not scope(Run.objects.all(), outsider, perms.RUN_VIEW).exists()


def test_viewers_read_but_do_not_change(project, viewer, developer):
    assert has_perm(viewer, perms.ENVIRONMENT_VIEW, project)
    assert not has_perm(viewer, perms.ENVIRONMENT_CREATE, project)
    assert not has_perm(viewer, perms.ENVIRONMENT_DESTROY, project)
    assert has_perm(developer, perms.ENVIRONMENT_DESTROY, project)


def test_org_admin_sees_every_project(environment, platform_admin, other_project):
    assert scope(Environment.objects.all(), platform_admin, perms.ENVIRONMENT_VIEW).count() == 1
    assert has_perm(platform_admin, perms.TEMPLATE_SHARE, other_project)


def test_roles_through_groups_count(make_user, project, environment):
    user = make_user("grouped")
    group = Group.objects.create(name="team-a-devs", source=Group.OIDC)
    RoleBinding.objects.create(group=group, role="viewer", project=project)
    assert not scope(Environment.objects.all(), user, perms.ENVIRONMENT_VIEW).exists()
    Membership.objects.create(group=group, user=user, source=Group.OIDC)
    assert scope(Environment.objects.all(), user, perms.ENVIRONMENT_VIEW).count() == 1


def test_anonymous_and_inactive_users_see_nothing(environment, developer, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    assert not scope(Environment.objects.all(), AnonymousUser(), perms.ENVIRONMENT_VIEW).exists()
    developer.is_active = False
    developer.save()
    assert not scope(Environment.objects.all(), developer, perms.ENVIRONMENT_VIEW).exists()
    assert not scope(Project.objects.all(), developer, perms.PROJECT_VIEW).exists()


def test_unknown_permission_is_a_programming_error(developer):
    with pytest.raises(ValueError):
        scope(Environment.objects.all(), developer, "environment.teleport")
