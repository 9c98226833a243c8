"""The ECS health panel: desired vs running tasks, rollout state, load balancer, last 50 log lines, read with
the template's assumed role from ECS, ELBv2 and CloudWatch Logs resources created on the moto server."""
import time

import pytest
from django.urls import reverse

from environments.models import Environment
from tests.aws.conftest import REGION, base_client
from tests.conftest import PASSWORD


def _out(value):
    return {"value": value, "type": "string", "sensitive": False}


@pytest.fixture
def ecs_stack(monkeypatch):
    """An ECS service (3 desired, 2 running), an ALB and a log group with 60 lines, in moto."""
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # moto's running count for new services
    ecs = base_client("ecs")
    ecs.create_cluster(clusterName="demo-cluster")
    ecs.register_task_definition(family="demo", containerDefinitions=[{"name": "app", "image": "nginx",
                                                                       "memory": 512}])
    ecs.create_service(cluster="demo-cluster", serviceName="demo-svc", taskDefinition="demo", desiredCount=3)
    ec2 = base_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb = base_client("elbv2").create_load_balancer(Name="demo-alb", Subnets=subnets)["LoadBalancers"][0]
    logs = base_client("logs")
    logs.create_log_group(logGroupName="/ecs/demo")
    now = int(time.time() * 1000)
    for stream, lines in (("app/old", range(0, 30)), ("app/new", range(30, 60))):
        logs.create_log_stream(logGroupName="/ecs/demo", logStreamName=stream)
        logs.put_log_events(logGroupName="/ecs/demo", logStreamName=stream, logEvents=[
            {"timestamp": now - 60_000 + n * 100, "message": f"request line-{n:02d} ok"} for n in lines])
    return {"alb_dns": lb["DNSName"]}


@pytest.fixture
def ecs_environment(project, developer, echo_version, ecs_stack):
    return Environment.objects.create(
        project=project, template_version=echo_version, name="svc", owner=developer, status=Environment.READY,
        outputs={"cluster_name": _out("demo-cluster"), "service_name": _out("demo-svc"),
                 "log_group_name": _out("/ecs/demo"), "alb_dns_name": _out(ecs_stack["alb_dns"])},
    )


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
