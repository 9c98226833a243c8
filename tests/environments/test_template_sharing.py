"""Sharing templates from the central project: shared ones appear in the picker; unsharing stops new
environments while existing ones keep working and say so."""
import pytest
from django.core.exceptions import PermissionDenied

from environments.models import Environment, Run, TemplateShare
from environments.services import environment_create, template_share, template_unshare
from rbac.models import AuditEvent


@pytest.fixture
def unshared(central, platform_admin):
    from environments.services import template_import_catalog
    from tests.conftest import ROOT

    return template_import_catalog(central, ROOT / "catalog" / "hello-sandbox", publish=True)


def _picker(client, user, project):
    client.force_login(user)
    return client.get(f"/environments/new/?project={project.slug}").content.decode()


def test_a_shared_template_appears_in_the_projects_picker(client, developer, project, platform_admin, unshared):
    assert "data-template=\"hello-sandbox\"" not in _picker(client, developer, project)
    client.force_login(platform_admin)
    response = client.post(f"/templates/{unshared.template.pk}/", {"project": project.slug})
    assert response.status_code == 302
    assert TemplateShare.objects.filter(template=unshared.template, project=project).exists()
    assert "data-template=\"hello-sandbox\"" in _picker(client, developer, project)
    assert AuditEvent.objects.filter(action="template.share").count() == 1


def test_sharing_with_all_projects_reaches_every_project(client, outsider, other_project, platform_admin, unshared):
    client.force_login(platform_admin)
    client.post(f"/templates/{unshared.template.pk}/", {"project": "*"})
    assert "data-template=\"hello-sandbox\"" in _picker(client, outsider, other_project)


def test_unsharing_stops_new_environments_but_existing_ones_keep_working(
        client, developer, project, platform_admin, unshared, django_capture_on_commit_callbacks):
    template_share(unshared.template, project, actor=platform_admin)
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, unshared, "kept", {"app_name": "kept-app"})
    Run.objects.filter(pk=run.pk).update(status=Run.SUCCEEDED, started_at=run.created_at, finished_at=run.created_at)
    Environment.objects.filter(pk=env.pk).update(status=Environment.READY)

    client.force_login(platform_admin)
    client.post(f"/templates/{unshared.template.pk}/", {"project": project.slug, "action": "unshare"})
    assert not TemplateShare.objects.filter(template=unshared.template, project=project).exists()

    assert "data-template=\"hello-sandbox\"" not in _picker(client, developer, project)
    form_url = f"/environments/new/{unshared.pk}/?project={project.slug}"
    assert client.get(form_url).status_code == 404
    assert client.post(form_url, {"name": "new", "var_app_name": "new-app"}).status_code == 404
    assert Environment.objects.count() == 1

    page = client.get(f"/environments/{env.pk}/").content.decode()
    assert 'data-notice="unshared"' in page and "no longer shared" in page
    with django_capture_on_commit_callbacks():
        response = client.post(f"/environments/{env.pk}/destroy/")
    assert response.status_code == 302
    assert env.runs.filter(operation=Run.DESTROY, status=Run.QUEUED).exists()


def test_only_those_who_may_share_can_share(client, developer, project, unshared):
    with pytest.raises(PermissionDenied):
        template_share(unshared.template, project, actor=developer)
    with pytest.raises(PermissionDenied):
        template_unshare(unshared.template, project, actor=developer)
    client.force_login(developer)
    # The developer cannot even see the (unshared) template: 404, and nothing changes.
    assert client.post(f"/templates/{unshared.template.pk}/", {"project": project.slug}).status_code == 404
    assert not TemplateShare.objects.exists()


def test_a_viewer_of_a_project_with_the_template_may_not_share_it(client, viewer, project, platform_admin, unshared):
    template_share(unshared.template, project, actor=platform_admin)
    client.force_login(viewer)
    assert client.get(f"/templates/{unshared.template.pk}/").status_code == 200
    assert client.post(f"/templates/{unshared.template.pk}/", {"project": "*"}).status_code == 403
    assert TemplateShare.objects.count() == 1
