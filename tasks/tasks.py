"""Celery tasks: thin. Each takes ids and calls one runner or service function."""
import os

from celery import shared_task

from tasks import liveness  # noqa: F401  (connects the worker heartbeat signals)
from tasks.runner.execute import execute_run
from tasks.runner.reaper import runs_expire_plans, runs_reap_stale


@shared_task(name="tasks.run_execute", bind=True, acks_late=True, ignore_result=True)
def run_execute(self, run_id):
    """Execute a queued run (a second delivery of the same run does nothing)."""
    # Host and pid: what an operator needs to find the process of a stuck run.
    return execute_run(run_id, worker=f"{self.request.hostname or 'worker'} pid {os.getpid()}")


@shared_task(name="tasks.runs_reap", ignore_result=True)
def runs_reap():
    """Mark runs whose worker stopped heartbeating as errored; discard plans that waited too long."""
    return runs_reap_stale() + runs_expire_plans()


@shared_task(name="tasks.environments_lifecycle", ignore_result=True)
def environments_lifecycle():
    """Send due expiry notices, then queue destroys for expired environments."""
    from tasks.lifecycle import environments_expire, expiry_notices_send

    return expiry_notices_send(), environments_expire()
