"""The ECS health panel: desired vs running tasks, rollout state, load balancer, last 50 log lines, read with
the template's assumed role from ECS, ELBv2 and CloudWatch Logs resources created on the moto server."""
from django.urls import reverse

from environments.models import Environment
from tests.aws.conftest import output as _out
from tests.conftest import PASSWORD


def test_health_panel_shows_tasks_rollout_alb_and_the_last_50_log_lines(client, developer, ecs_environment,
                                                                        ecs_stack):
    client.login(username=developer.username, password=PASSWORD)
    response = client.get(reverse("environments:health", args=[ecs_environment.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-health-error' not in html, html
    assert '<span data-running>2</span> running of <span data-desired>3</span> desired' in html
    assert "IN_PROGRESS" in html
    assert ecs_stack["alb_dns"] in html and '<span data-alb-state>active</span>' in html
    logs = html[html.index("data-logs"):]
    assert "line-10" in logs and "line-59" in logs and "line-09" not in logs, "the last 50 lines, no more"
    assert logs.index("line-10") < logs.index("line-59"), "oldest first"
    assert "last 50 lines" in html


def test_environment_page_polls_the_panel_every_10_seconds(client, developer, ecs_environment):
    client.login(username=developer.username, password=PASSWORD)
    html = client.get(reverse("environments:detail", args=[ecs_environment.pk])).content.decode()
    url = reverse("environments:health", args=[ecs_environment.pk])
    assert f'hx-get="{url}"' in html and 'hx-trigger="load, every 10s"' in html


def test_health_panel_is_scoped_like_the_environment(client, outsider, ecs_environment):
    client.force_login(outsider)
    assert client.get(reverse("environments:health", args=[ecs_environment.pk])).status_code == 404


def test_missing_service_is_reported_not_hidden(client, developer, ecs_environment):
    ecs_environment.outputs["service_name"] = _out("gone-svc")
    ecs_environment.save()
    client.login(username=developer.username, password=PASSWORD)
    html = client.get(reverse("environments:health", args=[ecs_environment.pk])).content.decode()
    assert "ECS service gone-svc not found in cluster demo-cluster." in html


def test_templates_without_ecs_outputs_or_cost_get_no_panel(client, developer, project, sandbox_version):
    env = Environment.objects.create(project=project, template_version=sandbox_version, name="plain",
                                     owner=developer, status=Environment.READY, outputs={"app_url": _out("x")})
    client.login(username=developer.username, password=PASSWORD)
    assert "aws-panel" not in client.get(reverse("environments:detail", args=[env.pk])).content.decode()
