"""End to end through a real Celery worker process and the real terraform binary."""
import json

import pytest

from environments.models import Environment, Run, RunEvent, StateVersion
from environments.services import environment_create, environment_destroy
from tests.conftest import import_fixture_template, wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]

SECRET = "tok-0123-very-secret"


def _log(run):
    return list(RunEvent.objects.filter(run=run).order_by("seq"))


def test_create_becomes_ready_with_outputs_then_destroy_ends_destroyed(live_worker, developer, project,
                                                                       sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "demo", {
        "app_name": "demo-app", "replicas": 3, "api_token": SECRET, "step_seconds": 0,
        "regions": ["eu-west-1", "us-east-1"], "size": {"cpu": 512, "memory": 1024},
    })
    run = wait_for_run(run)
    assert run.status == Run.SUCCEEDED, (run.error, live_worker.output()[-3000:])
    env.refresh_from_db()
    assert env.status == Environment.READY and env.status_reason == ""
    assert env.outputs["app_url"]["value"] == "http://demo-app.sandbox.local:8080/"
    assert env.outputs["connection_string"]["sensitive"] is True
    assert SECRET not in json.dumps(env.outputs)
    assert run.plan_summary == {"add": 3, "change": 0, "remove": 0}

    events = _log(run)
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), "the log is numbered without gaps"
    kinds = {e.kind for e in events}
    assert {"status", "phase", "planned_change", "change_summary", "resource", "provision", "outputs"} <= kinds
    phases = [e.data["phase"] for e in events if e.kind == "phase"]
    assert phases == ["init", "plan", "apply"]
    completed = [e.data["addr"] for e in events if e.kind == "resource" and e.data["state"] == "completed"]
    assert completed == ["null_resource.network", "null_resource.app", "null_resource.secret"]
    statuses = [e.message for e in events if e.kind == "status"]
    assert statuses == ["queued", "planning", "applying", "succeeded"]
    # The secret was used by Terraform (its length is printed) but never appears in the durable log.
    everything = json.dumps([[e.message, e.data] for e in events])
    assert SECRET not in everything
    assert f"token length: {len(SECRET)}" in everything or str(len(SECRET)) in everything
    state = StateVersion.objects.filter(environment=env).latest()
    assert state.resource_count == 3 and SECRET not in state.encrypted_state

    destroy = wait_for_run(environment_destroy(developer, env))
    assert destroy.status == Run.DESTROYED, destroy.error
    env.refresh_from_db()
    assert env.status == Environment.DESTROYED and env.outputs == {}
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 0
    destroy_phases = [e.data["phase"] for e in _log(destroy) if e.kind == "phase"]
    assert destroy_phases == ["init", "destroy"]


def test_a_failing_apply_ends_failed_with_the_diagnostic_and_keeps_state(live_worker, developer, project, central):
    version = import_fixture_template(central, project, "fails-on-apply")
    env, run = environment_create(developer, project, version, "boom", {})
    run = wait_for_run(run)
    assert run.status == Run.FAILED
    env.refresh_from_db()
    assert env.status == Environment.FAILED
    assert "quota exceeded for sandbox resources" in env.status_reason
    assert "terraform apply failed" in env.status_reason
    diagnostics = RunEvent.objects.filter(run=run, kind="diagnostic")
    assert any("quota exceeded" in (d.data.get("detail") or "") for d in diagnostics)
    # What was created before the failure is kept in state, so a destroy can clean it up.
    assert StateVersion.objects.filter(environment=env).latest().resource_count >= 1

    destroy = wait_for_run(environment_destroy(developer, env))
    assert destroy.status == Run.DESTROYED, destroy.error
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 0


def test_a_validation_only_terraform_sees_fails_the_plan_with_its_message(live_worker, developer, project,
                                                                         sandbox_version):
    # Bypasses the form on purpose: if a bad value reaches Terraform, the run says why.
    env, run = environment_create(developer, project, sandbox_version, "bad", {"app_name": "Bad Name!"})
    run = wait_for_run(run)
    assert run.status == Run.FAILED
    assert "terraform plan failed" in run.error and "app_name must start with a lowercase letter" in run.error
    assert not StateVersion.objects.filter(environment=env).exists()


def test_a_duplicate_delivery_runs_terraform_once(live_worker, developer, project, sandbox_version):
    from portal.celery import app

    env, run = environment_create(developer, project, sandbox_version, "twice",
                                  {"app_name": "twice", "step_seconds": 0})
    app.send_task("tasks.run_execute", args=[run.pk])
    run = wait_for_run(run)
    assert run.status == Run.SUCCEEDED
    assert RunEvent.objects.filter(run=run, kind="phase", message="Planning").count() == 1
