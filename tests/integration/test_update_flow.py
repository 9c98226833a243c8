"""Updates through a real worker and Terraform: create → change a variable → the plan waits → confirm → applied;
upgrade to a newer version; reject keeps the environment as it was; bulk upgrade with one approval."""
import shutil
from pathlib import Path

import pytest

from environments.models import Environment, EnvironmentUpdate, Run, StateVersion
from environments.selectors import environment_update_available
from environments.services import (
    environment_create,
    environment_update_request,
    run_approve,
    run_reject,
    template_import_catalog,
    upgrade_batch_create,
)
from rbac.models import AuditEvent
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
VALUES = {"app_name": "upd", "step_seconds": 0}


def _settled(run):
    return wait_for_run(run, statuses=(Run.AWAITING_APPROVAL, *Run.FINISHED))


def _created(developer, project, version, name):
    env, run = environment_create(developer, project, version, name, dict(VALUES, app_name=name))
    assert wait_for_run(run).status == Run.SUCCEEDED, run.error
    env.refresh_from_db()
    return env


@pytest.fixture
def version_two(central, sandbox_version, tmp_path):
    """hello-sandbox 2.0.0: declares `terrace_environment_name` (filled by the portal) and labels with it."""
    folder = tmp_path / "hello-sandbox"
    shutil.copytree(ROOT / "catalog" / "hello-sandbox", folder)
    (folder / "terrace.yaml").write_text((folder / "terrace.yaml").read_text().replace("1.0.0", "2.0.0"))
    with open(folder / "variables.tf", "a") as fh:
        fh.write('\nvariable "terrace_environment_name" {\n  type = string\n}\n')
    with open(folder / "main.tf", "a") as fh:
        fh.write('\nresource "null_resource" "label" {\n  triggers = { name = var.terrace_environment_name }\n}\n')
    with open(folder / "outputs.tf", "a") as fh:
        fh.write('\noutput "label" {\n  value = null_resource.label.triggers.name\n}\n')
    return template_import_catalog(central, folder, publish=True)


def test_variable_update_waits_for_confirmation_then_applies(live_worker, developer, project, sandbox_version):
    env = _created(developer, project, sandbox_version, "upd-var")
    update = environment_update_request(developer, env, sandbox_version, {"replicas": 3})
    run = _settled(update.run)
    assert run.status == Run.AWAITING_APPROVAL, (run.error, live_worker.output()[-2000:])
    assert run.gate == Run.GATE_CONFIRMATION
    assert run.plan_summary == {"add": 1, "change": 0, "remove": 1}  # the app resource is replaced
    planned = set(run.events.filter(kind="planned_change").values_list("data__addr", flat=True))
    assert "null_resource.app" in planned
    env.refresh_from_db()
    assert env.variables.get("replicas") is None  # still pinned to what was applied
    assert env.status == Environment.AWAITING

    run_approve(run, developer, "looks right")  # the requester confirms their own change
    run = wait_for_run(run)
    assert run.status == Run.SUCCEEDED, (run.error, live_worker.output()[-2000:])
    env.refresh_from_db()
    assert env.status == Environment.READY and env.variables["replicas"] == 3
    update.refresh_from_db()
    assert update.status == EnvironmentUpdate.APPLIED
    assert AuditEvent.objects.filter(action="environment.update", object_id=str(env.pk)).exists()


def test_upgrade_to_new_version_fills_injected_variables(live_worker, developer, project, sandbox_version,
                                                         version_two):
    env = _created(developer, project, sandbox_version, "upd-ver")
    assert environment_update_available(env) == version_two
    update = environment_update_request(developer, env, version_two, {})
    run = _settled(update.run)
    assert run.status == Run.AWAITING_APPROVAL, (run.error, live_worker.output()[-2000:])
    assert run.plan_summary == {"add": 1, "change": 0, "remove": 0}
    env.refresh_from_db()
    assert env.template_version == sandbox_version
    run_approve(run, developer)
    assert wait_for_run(run).status == Run.SUCCEEDED, run.error
    env.refresh_from_db()
    assert env.template_version == version_two
    assert env.variables["terrace_environment_name"] == "upd-ver"
    assert env.outputs["label"]["value"] == "upd-ver" if isinstance(env.outputs["label"], dict) else \
        env.outputs["label"] == "upd-ver"
    assert environment_update_available(env) is None
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 4


def test_rejected_update_keeps_version_and_values(live_worker, developer, project, sandbox_version, version_two):
    env = _created(developer, project, sandbox_version, "upd-rej")
    update = environment_update_request(developer, env, version_two, {"replicas": 4})
    run = _settled(update.run)
    assert run.status == Run.AWAITING_APPROVAL, run.error
    run_reject(run, developer, "not now")
    env.refresh_from_db()
    assert env.status == Environment.READY
    assert env.template_version == sandbox_version and "replicas" not in env.variables
    update.refresh_from_db()
    assert update.outcome == Run.DISCARDED


def test_bulk_upgrade_plans_each_and_applies_the_chosen(live_worker, developer, platform_admin, project,
                                                        sandbox_version, version_two, client):
    envs = [_created(developer, project, sandbox_version, f"bulk-{i}") for i in range(3)]
    # One environment is busy (a destroy is running): it is reported, the others are planned.
    busy = envs[2]
    from environments.services import environment_destroy

    environment_destroy(developer, busy)
    batch = upgrade_batch_create(platform_admin, version_two, envs)
    assert set(batch.errors) == {str(busy.pk)}
    updates = {u.environment_id: u for u in batch.updates.select_related("run")}
    assert set(updates) == {envs[0].pk, envs[1].pk}
    for update in updates.values():
        assert _settled(update.run).status == Run.AWAITING_APPROVAL, update.run.error

    # Every plan on one page: summary and changed resources per environment, and the one not planned.
    client.force_login(platform_admin)
    page = client.get(f"/admin-portal/templates/upgrades/{batch.pk}/").content.decode()
    for env in envs[:2]:
        row = page.split(f'data-env="{env.name}"')[1].split("</tr>")[0]
        assert "+1 ~0 -0" in row and "null_resource.label" in row and 'name="environment"' in row
    assert f'data-failed="{busy.name}"' in page and "only a ready or failed" in page.lower()
    # One approval through the page: the checked one is applied, the unchecked plan discarded.
    response = client.post(f"/admin-portal/templates/upgrades/{batch.pk}/", {"environment": [envs[0].pk]})
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.approved_by == platform_admin
    assert wait_for_run(updates[envs[0].pk].run).status == Run.SUCCEEDED
    updates[envs[1].pk].run.refresh_from_db()
    assert updates[envs[1].pk].run.status == Run.DISCARDED
    for env in envs:
        env.refresh_from_db()
    assert envs[0].template_version == version_two
    assert envs[1].template_version == sandbox_version and envs[1].status == Environment.READY


def test_failed_update_keeps_the_pinned_version(live_worker, developer, project, central, sandbox_version,
                                                tmp_path):
    folder = tmp_path / "hello-sandbox"
    shutil.copytree(ROOT / "catalog" / "hello-sandbox", folder)
    (folder / "terrace.yaml").write_text((folder / "terrace.yaml").read_text().replace("1.0.0", "1.5.0"))
    with open(folder / "main.tf", "a") as fh:
        fh.write('\nresource "null_resource" "boom" {\n  provisioner "local-exec" {\n'
                 '    command = "echo upgrade broke; exit 3"\n  }\n}\n')
    broken = template_import_catalog(central, folder, publish=True)
    env = _created(developer, project, sandbox_version, "upd-fail")
    update = environment_update_request(developer, env, broken, {})
    run = _settled(update.run)
    assert run.status == Run.AWAITING_APPROVAL, run.error
    run_approve(run, developer)
    run = wait_for_run(run)
    assert run.status == Run.FAILED and "upgrade broke" in run.error
    env.refresh_from_db()
    update.refresh_from_db()
    assert env.status == Environment.FAILED and env.template_version == sandbox_version
    assert update.outcome == Run.FAILED
