"""The Create Environment page: a form generated from the template's variables; bad input queues nothing."""
import pytest
from django.urls import reverse

from environments.models import Environment, Run
from tests.conftest import PASSWORD


@pytest.fixture
def dev_client(client, developer):
    client.login(username=developer.username, password=PASSWORD)
    return client


def _url(version, project):
    return reverse("environments:create", args=[version.pk]) + f"?project={project.slug}"


def test_picker_lists_templates_shared_with_the_project(dev_client, project, sandbox_version):
    response = dev_client.get(reverse("environments:new") + f"?project={project.slug}")
    assert response.status_code == 200
    assert b"Hello sandbox" in response.content


def test_form_renders_a_field_per_variable_with_type_and_description(dev_client, project, sandbox_version):
    response = dev_client.get(_url(sandbox_version, project))
    html = response.content.decode()
    for var in sandbox_version.variables:
        assert f'name="var_{var["name"]}"' in html
    assert 'type="password"' in html  # the sensitive token
    assert "list(string)" in html and "Short name of the application" in html


@pytest.mark.parametrize("field,value,message", [
    ("app_name", "", "This value is required."),
    ("app_name", "Bad Name!", "must start with a lowercase letter"),
    ("replicas", "seven", "Expected number"),
    ("replicas", "9", "whole number from 1 to 5"),
    ("size", '{"cpu": 300, "memory": 512}', "must be one of 256, 512 or 1024"),
    ("size", '{"cpu": 256', "not valid JSON"),
    ("size", '{"cpu": 256}', "memory"),
    ("tags", "no equals sign", "expected key = value"),
])
def test_bad_value_gets_an_error_next_to_its_field_and_nothing_is_queued(
        dev_client, project, sandbox_version, field, value, message, django_capture_on_commit_callbacks):
    data = {"name": "demo", "project": project.slug, "var_app_name": "good-name", f"var_{field}": value}
    with django_capture_on_commit_callbacks() as callbacks:
        response = dev_client.post(_url(sandbox_version, project), data)
    assert response.status_code == 400
    errors = [e for e in response.context["form"].errors.get(f"var_{field}", [])]
    assert any(message in e for e in errors), errors
    assert f'data-error-for="{field}"' in response.content.decode()
    assert not Environment.objects.exists() and not Run.objects.exists() and not callbacks


def test_valid_input_creates_and_redirects_to_the_live_run(dev_client, project, sandbox_version,
                                                           django_capture_on_commit_callbacks):
    data = {
        "name": "demo", "project": project.slug, "var_app_name": "good-name", "var_replicas": "3",
        "var_regions": "eu-west-1\nus-east-1", "var_tags": "team = a\ncost = low",
        "var_size": '{"cpu": 512, "memory": 1024}', "var_enable_debug": "true", "var_api_token": "sekret-token",
    }
    with django_capture_on_commit_callbacks() as callbacks:
        response = dev_client.post(_url(sandbox_version, project), data)
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == reverse("runs:detail", args=[run.pk])
    assert len(callbacks) == 1
    env = run.environment
    assert env.variables == {
        "app_name": "good-name", "replicas": 3, "regions": ["eu-west-1", "us-east-1"],
        "tags": {"team": "a", "cost": "low"}, "size": {"cpu": 512, "memory": 1024}, "enable_debug": True,
    }
    assert "sekret-token" not in str(env.variables)


def test_sensitive_value_is_never_rendered_back(dev_client, project, sandbox_version):
    response = dev_client.post(_url(sandbox_version, project), {
        "name": "demo", "project": project.slug, "var_app_name": "BAD", "var_api_token": "sekret-token"})
    assert response.status_code == 400
    assert b"sekret-token" not in response.content


def test_duplicate_name_is_reported_on_the_name_field(dev_client, project, sandbox_version,
                                                      django_capture_on_commit_callbacks):
    data = {"name": "demo", "project": project.slug, "var_app_name": "good-name"}
    with django_capture_on_commit_callbacks():
        dev_client.post(_url(sandbox_version, project), data)
        response = dev_client.post(_url(sandbox_version, project), data)
    assert response.status_code == 400
    assert "already exists" in str(response.context["form"].errors["name"])
    assert Environment.objects.count() == 1
