"""Gated applies through a real worker and Terraform: plan, wait, then approve (apply the saved plan) or reject."""
import pytest
from django.core.exceptions import PermissionDenied

from environments.models import Environment, Run, StateVersion
from environments.services import environment_create, run_approve, run_reject
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]

VALUES = {"app_name": "gated", "step_seconds": 0}


@pytest.fixture
def gated_version(sandbox_version):
    template = sandbox_version.template
    template.requires_approval = True
    template.save(update_fields=["requires_approval"])
    return sandbox_version


def _wait_awaiting(run):
    return wait_for_run(run, statuses=(Run.AWAITING_APPROVAL, *Run.FINISHED))


def test_approved_plan_is_applied_exactly_as_planned(live_worker, developer, project_admin, project, gated_version):
    env, run = environment_create(developer, project, gated_version, "gated", VALUES)
    run = _wait_awaiting(run)
    assert run.status == Run.AWAITING_APPROVAL, (run.error, live_worker.output()[-2000:])
    assert run.gate == Run.GATE_APPROVAL and run.plan_summary == {"add": 3, "change": 0, "remove": 0}
    assert run.plan_file and run.planned_at is not None
    env.refresh_from_db()
    assert env.status == Environment.AWAITING and "waiting for approval" in env.status_reason
    assert not StateVersion.objects.filter(environment=env, resource_count__gt=0).exists(), "nothing applied yet"

    # The requester is an environment template user: approval needs run.approve.
    with pytest.raises(PermissionDenied):
        run_approve(run, developer, "lgtm")

    run_approve(run, project_admin, "reviewed the plan")
    run = wait_for_run(run)
    assert run.status == Run.SUCCEEDED, (run.error, live_worker.output()[-2000:])
    assert run.decided_by == project_admin and run.decision_comment == "reviewed the plan"
    assert run.plan_file == "", "the saved plan (it holds variable values) is dropped once applied"
    statuses = list(run.events.filter(kind="status").values_list("message", flat=True))
    assert statuses == ["queued", "planning", "awaiting_approval", "approved", "applying", "succeeded"]
    phases = list(run.events.filter(kind="phase").values_list("data__phase", flat=True))
    assert phases == ["init", "plan", "init", "apply"], "the apply reuses the saved plan: no second plan"
    env.refresh_from_db()
    assert env.status == Environment.READY
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 3


def test_rejected_plan_changes_nothing(live_worker, developer, project_admin, project, gated_version):
    env, run = environment_create(developer, project, gated_version, "rejected", VALUES)
    run = _wait_awaiting(run)
    assert run.status == Run.AWAITING_APPROVAL, run.error
    run_reject(run, project_admin, "too big")
    run.refresh_from_db()
    assert run.status == Run.DISCARDED and run.plan_file == ""
    assert "rejected by" in run.error and "too big" in run.error
    env.refresh_from_db()
    # A new environment whose first plan was rejected has nothing; it may be retried or destroyed.
    assert env.status == Environment.FAILED and "too big" in env.status_reason
    assert not StateVersion.objects.filter(environment=env, resource_count__gt=0).exists()
