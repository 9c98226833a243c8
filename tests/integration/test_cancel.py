"""Cancel: a queued run ends at once; a running apply is interrupted (SIGINT to Terraform's process group),
keeps the state written so far, and the environment can then be destroyed."""
import time
from unittest import mock

import pytest

from environments.models import Environment, Run, RunEvent, StateVersion
from environments.services import environment_create, environment_destroy, environment_retry, run_cancel
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]


def _wait_for_event(run, **filters):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if RunEvent.objects.filter(run=run, **filters).exists():
            return
        time.sleep(0.1)
    raise AssertionError(f"no event {filters} in run {run.pk}")


def test_canceling_a_running_apply_interrupts_terraform_and_keeps_state(live_worker, developer, project,
                                                                        sandbox_version):
    env, run = environment_create(developer, project, sandbox_version, "cancel-me",
                                  {"app_name": "cancel-app", "step_seconds": 3})
    # Wait until the first resource has completed and the second is in its long sleep.
    _wait_for_event(run, kind="resource", data__addr="null_resource.app", data__state="started")
    started = time.monotonic()
    run_cancel(developer, run)
    run = wait_for_run(run)
    took = time.monotonic() - started
    assert run.status == Run.CANCELED
    assert took < 8, f"cancel took {took:.1f} s (heartbeat {1} s + Terraform's interrupt)"
    env.refresh_from_db()
    assert env.status == Environment.FAILED and "canceled" in env.status_reason
    # The network resource finished before the cancel: it is in the kept state, so destroy can remove it.
    assert StateVersion.objects.filter(environment=env).latest().resource_count >= 1
    assert not RunEvent.objects.filter(run=run, kind="resource", data__addr="null_resource.secret").exists()
    # Retry picks up from the kept state and finishes the job; then destroy cleans everything up.
    env.variables["step_seconds"] = 0  # (test speed only: the same template, version and other values)
    env.save(update_fields=["variables"])
    retry = wait_for_run(environment_retry(developer, env))
    assert retry.status == Run.SUCCEEDED, retry.error
    env.refresh_from_db()
    assert env.status == Environment.READY and env.outputs["app_url"]["value"].startswith("http://cancel-app.")
    destroy = wait_for_run(environment_destroy(developer, env))
    assert destroy.status == Run.DESTROYED, destroy.error
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 0


def test_canceling_a_queued_run_ends_it_without_terraform(developer, project, sandbox_version):
    # Never handed to a worker: in a transactional test the on-commit enqueue would run at once, and the
    # session's live worker could claim the run before the cancel (it then ends via the heartbeat instead).
    with mock.patch("environments.services._enqueue") as enqueue:
        env, run = environment_create(developer, project, sandbox_version, "queued", {"app_name": "queued"})
    enqueue.assert_called_once_with(run.pk)
    run_cancel(developer, run)
    run.refresh_from_db()
    assert run.status == Run.CANCELED and "before it started" in run.error
    assert [e.message for e in RunEvent.objects.filter(run=run, kind="status")] == ["queued", "canceled"]
