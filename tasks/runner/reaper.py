"""Finds runs whose worker died (no heartbeat) and ends them as `errored`, saying why in their log."""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from environments.models import Run
from environments.runs import TransitionRefused, run_transition

log = logging.getLogger(__name__)


def runs_reap_stale():
    """End started runs without a heartbeat for RUN_STALE_SECONDS. Returns how many were reaped."""
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS)
    stale = Run.objects.filter(status__in=(Run.PLANNING, Run.APPLYING, Run.DESTROYING), heartbeat_at__lt=cutoff)
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
        except TransitionRefused:
            pass  # it finished in the meantime
    return reaped
