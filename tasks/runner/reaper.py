"""Finds runs whose worker died (no heartbeat) and ends them as `errored`, saying why in their log."""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from environments.models import Run
from environments.runs import TransitionRefused, run_transition
from environments.state import state_lock_release_for_run

log = logging.getLogger(__name__)


def runs_reap_stale():
    """End started runs without a heartbeat for RUN_STALE_SECONDS. Returns how many were reaped."""
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS)
    stale = Run.objects.filter(status__in=Run.EXECUTING, heartbeat_at__lt=cutoff)
    reaped = 0
    for run in stale.select_related("environment"):
        reason = (
            f"the worker {run.worker or ''} stopped sending heartbeats {settings.RUN_STALE_SECONDS} s ago "
            "(it probably died or was restarted)."
        )
        try:
            run_transition(run, Run.ERRORED, error=reason)
            reaped += 1
            log.warning("run %s errored: %s", run.pk, reason)
            # A killed Terraform never unlocks; the lock was this run's, and the run is over.
            if state_lock_release_for_run(run):
                log.warning("run %s: released the state lock its Terraform left", run.pk)
        except TransitionRefused:
            pass  # it finished in the meantime
    return reaped


def runs_expire_plans():
    """Discard plans that waited longer than RUN_APPROVAL_TIMEOUT_HOURS for a decision: the state they were
    planned against may have drifted, and a waiting run blocks every other run of its environment."""
    hours = settings.RUN_APPROVAL_TIMEOUT_HOURS
    cutoff = timezone.now() - timedelta(hours=hours)
    expired = 0
    for run in Run.objects.filter(status=Run.AWAITING_APPROVAL, planned_at__lt=cutoff).select_related("environment"):
        try:
            run_transition(run, Run.DISCARDED, only_from={Run.AWAITING_APPROVAL}, plan_file="",
                           error=f"the plan expired after {hours} h without a decision; request the change again.")
            expired += 1
        except TransitionRefused:
            pass  # decided meanwhile
    return expired
