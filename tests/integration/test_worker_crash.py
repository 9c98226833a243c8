"""A worker that dies mid-apply (kill -9, Terraform with it, as in a machine crash): the reaper marks the run
errored with a reason, the environment says what happened, and it can still be destroyed."""
import os
import re
import signal
import time
from pathlib import Path

import pytest

from environments.models import Environment, Run, RunEvent, StateLock, StateVersion
from environments.services import environment_destroy, environment_retry
from tasks.runner.reaper import runs_reap_stale
from tests.conftest import wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]


def _processes_in(folder):
    """PIDs whose working directory is inside `folder` (Terraform and its provisioners)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(Path(os.readlink(entry / "cwd"))).startswith(str(folder)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_killed_worker_leaves_an_errored_run_with_a_reason(live_worker, developer, project, sandbox_version,
                                                             settings):
    from environments.services import environment_create

    env, run = environment_create(developer, project, sandbox_version, "crash",
                                  {"app_name": "crash-app", "step_seconds": 5})
    deadline = time.monotonic() + 60
    while not RunEvent.objects.filter(run=run, kind="resource", data__state="started").exists():
        assert time.monotonic() < deadline, "the apply never started"
        time.sleep(0.1)
    run.refresh_from_db()
    assert run.status == Run.APPLYING
    pid = int(re.search(r"pid (\d+)", run.worker).group(1))
    os.kill(pid, signal.SIGKILL)  # the pool process executing the run
    for child in _processes_in(live_worker.runs_dir):
        try:
            os.killpg(child, signal.SIGKILL)  # Terraform runs in its own session
        except ProcessLookupError:
            pass
    killed_at = time.monotonic()

    settings.RUN_STALE_SECONDS = 3
    while True:
        runs_reap_stale()  # what beat runs every 10 s
        run.refresh_from_db()
        if run.status != Run.APPLYING:
            break
        assert time.monotonic() - killed_at < 60, "the run was not reaped within 60 s"
        time.sleep(0.5)
    recovery = time.monotonic() - killed_at
    assert run.status == Run.ERRORED and run.finished_at is not None
    assert "stopped sending heartbeats" in run.error
    print(f"worker kill -> run errored: {recovery:.1f} s (stale after {settings.RUN_STALE_SECONDS} s)")
    env.refresh_from_db()
    assert env.status == Environment.FAILED
    assert "was lost" in env.status_reason and "Retry it, or destroy the environment" in env.status_reason
    assert RunEvent.objects.filter(run=run, kind="status").order_by("-seq").first().message == Run.ERRORED
    # The killed Terraform held the state lock; the reaper released it with the run.
    assert not StateLock.objects.filter(environment=env).exists()

    # The redelivered task (acks_late) finds the run no longer queued and does nothing; the environment is
    # actionable: a retry converges from the state written before the kill, and a destroy runs to the end.
    retry = wait_for_run(environment_retry(developer, env))
    assert retry.status == Run.SUCCEEDED, retry.error
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 3
    destroy = wait_for_run(environment_destroy(developer, env))
    assert destroy.status == Run.DESTROYED, destroy.error


def test_a_running_worker_reports_in(live_worker):
    from environments.models import WorkerHeartbeat
    from environments.selectors import workers_alive

    deadline = time.monotonic() + 15  # tables are flushed between tests; the worker reports in every 5 s
    while not workers_alive().exists():
        assert time.monotonic() < deadline, "the worker never reported in:\n" + live_worker.output()[-2000:]
        time.sleep(0.2)
    beat = WorkerHeartbeat.objects.get()
    assert beat.name.startswith("test-") and beat.pid > 0
