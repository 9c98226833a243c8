"""Variable policy: locked, restricted, required, hidden; injected variables; enforced by the service (what the
API gets) and shown by the form."""
import shutil
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied

from environments import policy
from environments.models import Environment, Run, Template
from environments.services import (
    PolicyViolation,
    environment_create,
    environment_secret_values,
    template_import_catalog,
    template_policy_set,
)
from rbac.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
BASE = {"app_name": "pol"}


@pytest.fixture
def locked(sandbox_version, platform_admin):
    template_policy_set(platform_admin, sandbox_version.template, {
        "replicas": {"mode": "locked", "value": 2},
        "enable_debug": {"mode": "locked", "value": False, "hidden": True},
        "regions": {"mode": "editable", "required": True},
        "step_seconds": {"mode": "restricted", "choices": [0, 1]},
    })
    sandbox_version.template.refresh_from_db()
    return sandbox_version


def _create(user, project, version, values, name="pol", callbacks=None):
    return environment_create(user, project, version, name, values)


def test_policy_is_validated_against_the_variables(sandbox_version, platform_admin):
    template = sandbox_version.template
    cases = [
        ({"nope": {"mode": "locked", "value": 1}}, "nope", "no such variable"),
        ({"replicas": {"mode": "locked", "value": 9}}, "replicas", "whole number from 1 to 5"),  # validation
        ({"replicas": {"mode": "locked", "value": "many"}}, "replicas", "expected number"),
        ({"api_token": {"mode": "locked", "value": "x"}}, "api_token", "sensitive"),
        ({"regions": {"mode": "restricted", "choices": ["a"]}}, "regions", "only string and number"),
        ({"replicas": {"mode": "restricted", "choices": []}}, "replicas", "at least one"),
        ({"replicas": {"mode": "sometimes"}}, "replicas", "unknown mode"),
        ({"terrace_owner": {"mode": "locked", "value": "x"}}, "terrace_owner", "filled in by Terrace"),
    ]
    for rules, name, message in cases:
        with pytest.raises(policy.PolicyError) as exc:
            template_policy_set(platform_admin, template, rules)
        assert message in exc.value.errors[name], (rules, exc.value.errors)
    template.refresh_from_db()
    assert template.variable_policy == {}


def test_only_managers_set_the_policy_and_it_is_audited(sandbox_version, project_admin, platform_admin):
    with pytest.raises(PermissionDenied):  # team-a's admin does not own the genai template
        template_policy_set(project_admin, sandbox_version.template, {})
    template_policy_set(platform_admin, sandbox_version.template, {"replicas": {"mode": "locked", "value": "3"}})
    event = AuditEvent.objects.get(action="template.policy_set")
    assert event.data["after"]["replicas"] == {"mode": "locked", "value": 3, "hidden": False}


def test_service_fills_locked_values_and_refuses_a_different_one(locked, developer, project,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, _ = _create(developer, project, locked, dict(BASE, regions=["eu-west-1"]))
    assert env.variables["replicas"] == 2 and env.variables["enable_debug"] is False
    # The same locked value may be sent (an API client echoing the form); a different one is an error.
    with django_capture_on_commit_callbacks():
        _create(developer, project, locked, dict(BASE, regions=["x"], replicas=2), name="same")
    with pytest.raises(PolicyViolation) as exc:
        _create(developer, project, locked, dict(BASE, regions=["x"], replicas=3), name="other")
    assert "locked by the platform team to 2" in exc.value.errors["replicas"]
    with pytest.raises(PolicyViolation) as exc:
        _create(developer, project, locked, dict(BASE, regions=["x"], enable_debug=True), name="hidden")
    assert exc.value.errors["enable_debug"] == "locked by the platform team; it cannot be changed"  # value not told
    assert not Environment.objects.filter(name__in=("other", "hidden")).exists()


def test_restricted_and_required(locked, developer, project):
    with pytest.raises(PolicyViolation) as exc:
        _create(developer, project, locked, dict(BASE, step_seconds=5))
    assert exc.value.errors == {"step_seconds": "choose one of 0, 1", "regions": "This value is required."}
    assert not Run.objects.exists()


def test_injected_variables_are_filled_and_cannot_be_sent(sandbox_version, central, project, developer,
                                                          tmp_path, django_capture_on_commit_callbacks):
    folder = tmp_path / "hello-sandbox"
    shutil.copytree(ROOT / "catalog" / "hello-sandbox", folder)
    (folder / "terrace.yaml").write_text((folder / "terrace.yaml").read_text().replace("1.0.0", "1.1.0"))
    with open(folder / "variables.tf", "a") as fh:
        for name in policy.INJECTED:
            fh.write(f'\nvariable "{name}" {{\n  type = string\n}}\n')
    version = template_import_catalog(central, folder, publish=True)
    with pytest.raises(PolicyViolation) as exc:
        _create(developer, project, version, dict(BASE, terrace_owner="someone-else"))
    assert "filled in by Terrace" in exc.value.errors["terrace_owner"]
    with django_capture_on_commit_callbacks():
        env, _ = _create(developer, project, version, BASE)
    assert env.variables["terrace_environment_id"] == str(env.pk)
    assert env.variables["terrace_environment_name"] == "pol"
    assert env.variables["terrace_project"] == "team-a"
    assert env.variables["terrace_owner"] == "dev@example.com"
    env.refresh_from_db()
    assert env.variables["terrace_environment_id"] == str(env.pk)


def test_form_shows_policy(client, locked, developer, project):
    client.force_login(developer)
    page = client.get(f"/environments/new/{locked.pk}/?project=team-a").content.decode()
    assert 'name="var_replicas"' in page and "disabled" in page.split('name="var_replicas"')[1].split(">")[0]
    assert 'name="var_enable_debug"' not in page  # locked and hidden
    assert '<select name="var_step_seconds"' in page
    # A tampered post for a locked field is ignored by the form (disabled) and the locked value is used.
    response = client.post(f"/environments/new/{locked.pk}/?project=team-a", {
        "project": "team-a", "name": "viaform", "var_app_name": "viaform", "var_replicas": "5",
        "var_regions": "eu-west-1", "var_step_seconds": "7",
    })
    assert response.status_code == 400
    assert "not one of the available choices" in str(response.context["form"].errors["var_step_seconds"])
    response = client.post(f"/environments/new/{locked.pk}/?project=team-a", {
        "project": "team-a", "name": "viaform", "var_app_name": "viaform", "var_replicas": "5",
        "var_regions": "eu-west-1", "var_step_seconds": "1",
    })
    assert response.status_code == 302
    env = Environment.objects.get(name="viaform")
    assert env.variables["replicas"] == 2 and env.variables["step_seconds"] == 1


def test_sensitive_values_stay_write_only(sandbox_version, developer, project, client,
                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, _ = _create(developer, project, sandbox_version, dict(BASE, api_token="tok-123456"))
    assert "api_token" not in env.variables
    assert environment_secret_values(env) == {"api_token": "tok-123456"}
    client.force_login(developer)
    page = client.get(f"/environments/{env.pk}/update/").content.decode()
    assert "tok-123456" not in page and "leave blank to keep it" in page


def test_template_field_holds_policy_json():
    assert Template._meta.get_field("variable_policy").default is dict


def test_policy_editor_saves_and_shows_errors_next_to_the_variable(client, platform_admin, sandbox_version):
    client.force_login(platform_admin)
    url = f"/admin-portal/templates/{sandbox_version.template.pk}/policy/"
    response = client.post(url, {"mode_replicas": "locked", "value_replicas": "9"})
    assert response.status_code == 400
    assert 'data-error-for="replicas"' in response.content.decode()
    response = client.post(url, {"mode_replicas": "locked", "value_replicas": "3", "mode_step_seconds": "restricted",
                                 "value_step_seconds": "0\n1", "mode_app_name": "editable",
                                 "required_regions": "1"})
    assert response.status_code == 302
    sandbox_version.template.refresh_from_db()
    assert sandbox_version.template.variable_policy == {
        "replicas": {"mode": "locked", "value": 3, "hidden": False},
        "step_seconds": {"mode": "restricted", "choices": [0, 1], "required": False},
        "regions": {"mode": "editable", "required": True},
    }




def test_service_checks_types_for_api_callers(sandbox_version, developer, project):
    with pytest.raises(PolicyViolation) as exc:
        _create(developer, project, sandbox_version, {"app_name": "ok-name", "replicas": "many"})
    assert "expected number" in exc.value.errors["replicas"]
    with pytest.raises(PolicyViolation) as exc:
        _create(developer, project, sandbox_version, dict(BASE, no_such_variable=1))
    assert exc.value.errors == {"no_such_variable": "no such variable in this template version"}
    assert not Environment.objects.exists()
