"""The run state machine: the only code that writes `Run.status` (and the environment status it implies).

Every transition is a conditional update from an allowed set of states, so a duplicate Celery delivery or a
racing cancel changes nothing. Each transition also appends a `status` event to the run's log, so a viewer
following the log sees the run finish.
"""
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from environments import notify
from environments.models import Environment, Run, RunEvent

# to-state -> the states it may be reached from
TRANSITIONS = {
    Run.PLANNING: {Run.QUEUED},
    Run.AWAITING_APPROVAL: {Run.PLANNING},  # a gated apply stops after its plan
    Run.APPROVED: {Run.AWAITING_APPROVAL},  # queued again for a worker to apply the saved plan
    Run.DISCARDED: {Run.AWAITING_APPROVAL},  # rejected, or expired without a decision
    Run.APPLYING: {Run.PLANNING, Run.APPROVED},
    Run.DESTROYING: {Run.QUEUED},
    Run.SUCCEEDED: {Run.APPLYING, Run.PLANNING},  # PLANNING -> SUCCEEDED when the plan has no changes
    Run.DESTROYED: {Run.DESTROYING},
    Run.FAILED: {Run.PLANNING, Run.APPLYING, Run.DESTROYING},
    Run.CANCELED: set(Run.ACTIVE),
    Run.ERRORED: set(Run.ACTIVE),
}

# What the environment becomes when its run reaches a state.
_ENVIRONMENT_STATUS = {
    (Run.APPLY, Run.QUEUED): Environment.PROVISIONING,
    (Run.APPLY, Run.PLANNING): Environment.PROVISIONING,
    (Run.APPLY, Run.AWAITING_APPROVAL): Environment.AWAITING,
    (Run.APPLY, Run.APPROVED): Environment.PROVISIONING,
    (Run.APPLY, Run.APPLYING): Environment.PROVISIONING,
    (Run.APPLY, Run.SUCCEEDED): Environment.READY,
    (Run.APPLY, Run.FAILED): Environment.FAILED,
    (Run.APPLY, Run.CANCELED): Environment.FAILED,
    (Run.APPLY, Run.ERRORED): Environment.FAILED,
    (Run.DESTROY, Run.QUEUED): Environment.DESTROYING,
    (Run.DESTROY, Run.DESTROYING): Environment.DESTROYING,
    (Run.DESTROY, Run.DESTROYED): Environment.DESTROYED,
    (Run.DESTROY, Run.FAILED): Environment.FAILED,
    (Run.DESTROY, Run.CANCELED): Environment.FAILED,
    (Run.DESTROY, Run.ERRORED): Environment.FAILED,
}


class TransitionRefused(Exception):
    """The run was not in a state the transition may start from (already moved on, or taken by another)."""


def next_seq(run_id):
    """The next free sequence number of a run's log."""
    last = RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"]
    return (last or 0) + 1


def _status_reason(run, status, error):
    if status == Run.SUCCEEDED:
        return ""
    if status == Run.DESTROYED:
        if run.triggered_by_id is None:  # beat's TTL destroy
            expires_at = Environment.objects.values_list("expires_at", flat=True).get(pk=run.environment_id)
            if expires_at is not None and expires_at <= timezone.now():
                return f"Expired at {timezone.localtime(expires_at):%Y-%m-%d %H:%M %Z}; destroyed automatically."
        return ""
    if status == Run.CANCELED:
        return f"The {run.operation} run #{run.pk} was canceled. " + (error or "")
    if status == Run.ERRORED:
        return f"The {run.operation} run #{run.pk} was lost: {error} Retry it, or destroy the environment."
    if status == Run.FAILED:
        return f"The {run.operation} run #{run.pk} failed: {error}"
    if status == Run.AWAITING_APPROVAL:
        who = "approval" if run.gate == Run.GATE_APPROVAL else "confirmation"
        return f"The plan of run #{run.pk} is waiting for {who}."
    if status == Run.DISCARDED:
        return f"The plan of run #{run.pk} was not applied: {error}"
    return ""


def run_transition(run, status, *, error="", only_from=None, **fields):
    """Move `run` to `status` if it is in an allowed state; update its environment; log a status event.

    Raises TransitionRefused when the run has moved on. `only_from` narrows the allowed states further (e.g.
    cancel a run only while it is still queued). `fields` are other Run columns to set atomically.
    """
    allowed = TRANSITIONS[status] if only_from is None else TRANSITIONS[status] & set(only_from)
    now = timezone.now()
    values = dict(fields, status=status)
    if error:
        values["error"] = error
    if status in (Run.PLANNING, Run.DESTROYING):
        values.setdefault("started_at", now)
    if status in Run.EXECUTING:
        values.setdefault("heartbeat_at", now)
    if status in Run.FINISHED:
        values["finished_at"] = now
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status__in=allowed).update(**values)
        if updated != 1:
            raise TransitionRefused(f"run {run.pk} cannot go to {status} from {Run.objects.get(pk=run.pk).status}")
        env_status = _ENVIRONMENT_STATUS.get((run.operation, status))
        if status == Run.DISCARDED:  # nothing was applied: the environment is as it was before the run
            prior = Run.objects.values_list("prior_status", flat=True).get(pk=run.pk)
            # A first plan that is discarded leaves an environment with nothing in it: failed, so it can be
            # retried or destroyed.
            env_status = Environment.FAILED if prior in ("", Environment.PENDING) else prior
        if env_status:
            Environment.objects.filter(pk=run.environment_id).update(
                status=env_status, status_reason=_status_reason(run, status, error), updated_at=now
            )
        seq = next_seq(run.pk)
        RunEvent.objects.create(
            run_id=run.pk, seq=seq, created_at=now, kind="status", message=status,
            data={"status": status, "error": error} if error else {"status": status},
        )
        transaction.on_commit(lambda: notify.publish(run.pk, seq))
    for key, value in values.items():
        setattr(run, key, value)
    return run


def run_claim(run_id, worker):
    """Claim a queued (or approved) run for this worker; None when there is nothing to do any more (duplicate
    delivery, canceled)."""
    run = Run.objects.select_related("environment").filter(pk=run_id).first()
    if run is None:
        return None
    if run.status == Run.APPROVED:
        start = Run.APPLYING
    else:
        start = Run.PLANNING if run.operation == Run.APPLY else Run.DESTROYING
    try:
        return run_transition(run, start, worker=worker)
    except TransitionRefused:
        return None
