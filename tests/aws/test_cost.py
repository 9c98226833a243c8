"""Fargate cost: the arithmetic against figures computed by hand, the live estimate on the create form, and
the running-cost meter on the environment page."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from environments import cost
from environments.models import Environment, Run
from tests.conftest import PASSWORD


def test_hourly_price_by_hand():
    # 2 tasks × (0.5 vCPU × $0.04048 + 1 GB × $0.004445) = 2 × (0.02024 + 0.004445) = $0.04937 per hour
    assert cost.fargate_hourly("us-east-1", 512, 1024, 2) == Decimal("0.04937")
    # 1 task × (1 vCPU × $0.04656 + 2 GB × $0.00511) = $0.05678 per hour in Frankfurt
    assert cost.fargate_hourly("eu-central-1", 1024, 2048, 1) == Decimal("0.05678")
    # 0.25 vCPU, 0.5 GB: 0.01012 + 0.0022225 = $0.0123425
    assert cost.fargate_hourly("eu-west-1", 256, 512) == Decimal("0.0123425")


def test_estimate_per_month_and_for_the_lifetime(echo_version):
    # The echo template: 512 CPU units, 1024 MiB, 2 tasks by default; its credential set is in eu-west-1.
    found = cost.estimate(echo_version, {}, Decimal(8))
    assert found["hourly"] == Decimal("0.04937")
    assert found["monthly"] == Decimal("36.04010")  # × 730 h
    assert found["lifetime"] == Decimal("0.39496")  # × 8 h
    assert (found["region"], found["count"]) == ("eu-west-1", 2)


def test_without_a_chosen_lifetime_the_templates_default_ttl_is_used(echo_version):
    found = cost.estimate(echo_version, {"desired_count": 1})  # terrace.yaml: ttl: 8h
    assert found["hours"] == 8 and found["hours_source"] == "template's default lifetime"
    assert found["lifetime"] == Decimal("0.197480")


def test_the_templates_run_policy_lifetime_comes_before_terrace_yaml(echo_version):
    echo_version.template.default_ttl_hours = 12
    echo_version.template.save()
    found = cost.estimate(echo_version, {"desired_count": 1})
    assert found["hours"] == 12 and found["lifetime"] == Decimal("0.29622")  # 0.024685 × 12


@pytest.mark.parametrize("cpu,memory,message", [
    (300, 1024, "300 CPU units is not a Fargate size"),
    (256, 4096, "4096 MiB is not allowed with 256 CPU units"),
    (1024, 1024, "1024 MiB is not allowed with 1024 CPU units"),
])
def test_invalid_fargate_sizes_are_refused(cpu, memory, message):
    with pytest.raises(cost.CostError, match=message):
        cost.fargate_hourly("us-east-1", cpu, memory)


def test_unknown_region_has_no_price():
    with pytest.raises(cost.CostError, match="No Fargate price known for region mars-north-1"):
        cost.fargate_hourly("mars-north-1", 256, 512)


@pytest.mark.parametrize("text,hours", [("8", 8), ("8h", 8), ("2d", 48), ("1w", 168), ("90m", Decimal("1.5")),
                                        ("", None), ("soon", None), ("0", None)])
def test_lifetimes_are_read_in_hours(text, hours):
    assert cost.parse_hours(text) == hours


def test_the_create_form_updates_the_estimate_as_values_change(client, developer, project, echo_version):
    echo_version.template.default_ttl_hours = 12  # the form gets a lifetime field, and the estimate uses it
    echo_version.template.save()
    client.login(username=developer.username, password=PASSWORD)
    page = client.get(reverse("environments:create", args=[echo_version.pk]) + f"?project={project.slug}")
    html = page.content.decode()
    assert ('hx-include="[name=var_task_cpu],[name=var_task_memory],[name=var_desired_count],'
            '[name=lifetime_hours]"') in html
    assert 'name="lifetime_hours"' in html and "For 12 h" in html
    assert "change from:closest form" in html and "data-cost-hourly>$0.0494<" in html

    url = reverse("environments:cost", args=[echo_version.pk])
    fragment = client.get(url, {"project": project.slug, "var_task_cpu": "1024", "var_task_memory": "2048",
                                "var_desired_count": "3", "lifetime_hours": "48"}).content.decode()
    # 3 × (1 × 0.04048 + 2 × 0.004445) = 3 × 0.04937 = $0.14811/h; × 730 = $108.12; × 48 h = $7.11
    assert "data-cost-hourly>$0.1481<" in fragment
    assert "data-cost-monthly>$108.12<" in fragment and "data-cost-lifetime>$7.11<" in fragment
    bad = client.get(url, {"project": project.slug, "var_task_cpu": "256", "var_task_memory": "8192"})
    assert "8192 MiB is not allowed with 256 CPU units" in bad.content.decode()


def test_cost_estimate_is_scoped_like_the_create_form(client, outsider, project, echo_version):
    client.force_login(outsider)
    url = reverse("environments:cost", args=[echo_version.pk])
    assert client.get(url).status_code == 404
    assert client.get(url, {"project": project.slug}).status_code == 404


def test_running_cost_since_the_last_successful_apply(client, developer, project, echo_version):
    env = Environment.objects.create(project=project, template_version=echo_version, name="meter", owner=developer,
                                     status=Environment.READY, variables={"desired_count": 1})
    finished = timezone.now() - timedelta(hours=10)
    Run.objects.create(environment=env, operation=Run.APPLY, status=Run.SUCCEEDED,
                       started_at=finished - timedelta(minutes=1), finished_at=finished)
    running = cost.environment_running_cost(env, now=finished + timedelta(hours=10))
    # 1 task × $0.024685/h × 10 h = $0.24685
    assert running["total"] == Decimal("0.24685") and running["hours"] == 10
    client.login(username=developer.username, password=PASSWORD)
    html = client.get(reverse("environments:health", args=[env.pk])).content.decode()
    assert "data-cost-total>$0.25<" in html
    env.status = Environment.DESTROYED
    env.save()
    assert cost.environment_running_cost(env) is None
