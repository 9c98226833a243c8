"""The environment list stays cheap: a constant number of queries whatever the number of projects and
environments, and pages of 25."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments.models import Environment
from rbac.models import Project, RoleBinding


def _populate(user, version, projects, per_project):
    made = Project.objects.bulk_create(
        [Project(slug=f"scale-{user.pk}-{n}", name=f"Scale {n}") for n in range(projects)])
    RoleBinding.objects.bulk_create([RoleBinding(user=user, role="env_template_user", project=p) for p in made])
    Environment.objects.bulk_create([
        Environment(project=p, template_version=version, name=f"env-{i}", owner=user, status="ready")
        for p in made for i in range(per_project)
    ], batch_size=2000)
    return made


def _list_queries(client, user, project):
    client.force_login(user)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/environments/?project={project.slug}")
    assert response.status_code == 200
    return len(ctx.captured_queries), response


@pytest.mark.django_db
def test_list_runs_a_constant_number_of_queries_at_scale(client, make_user, sandbox_version):
    small_user, big_user = make_user("small"), make_user("big")
    small = _populate(small_user, sandbox_version, projects=2, per_project=5)
    big = _populate(big_user, sandbox_version, projects=50, per_project=200)
    assert Environment.objects.count() == 10_010
    small_count, _ = _list_queries(client, small_user, small[0])
    big_count, response = _list_queries(client, big_user, big[0])
    assert big_count == small_count, "queries must not grow with projects or environments"
    assert big_count <= 11  # 8 (incl. the nav's "may administer?") + saving the project in the session once
    page = response.context["page"]
    assert len(page.object_list) == 25 and page.paginator.count == 200 and page.paginator.num_pages == 8
    html = response.content.decode()
    assert html.count('href="/environments/') >= 25 and "Page 1 of 8" in html
    # Later pages cost no more (and the session is not rewritten when the project did not change).
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/environments/?project={big[0].slug}&page=8").status_code == 200
    assert len(ctx.captured_queries) <= 8


@pytest.mark.django_db
def test_the_pager_keeps_the_status_filter(client, make_user, sandbox_version):
    user = make_user("pager")
    project = _populate(user, sandbox_version, projects=1, per_project=30)[0]
    Environment.objects.filter(project=project, name__in=[f"env-{i}" for i in range(3)]).update(status="failed")
    client.force_login(user)
    html = client.get(f"/environments/?project={project.slug}&status=ready").content.decode()
    assert "page=2" in html and "status=ready" in html.split("Next")[0].rsplit("href=", 1)[-1]
    page2 = client.get(f"/environments/?project={project.slug}&status=ready&page=2")
    assert page2.context["page"].paginator.count == 27 and len(page2.context["page"].object_list) == 2
