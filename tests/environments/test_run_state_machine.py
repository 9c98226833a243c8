"""The run state machine: allowed transitions only, the environment follows, one active run per environment."""
import pytest
from django.db import IntegrityError, transaction

from environments.models import Environment, Run, RunEvent
from environments.runs import TransitionRefused, run_claim, run_transition
from environments.services import RunConflict, environment_create, run_request


@pytest.fixture
def env_and_run(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        environment, run = environment_create(developer, project, sandbox_version, "demo", {"app_name": "demo-app"})
    return environment, run


def test_create_queues_one_apply_and_marks_environment_provisioning(env_and_run):
    environment, run = env_and_run
    environment.refresh_from_db()
    assert run.status == Run.QUEUED and run.operation == Run.APPLY
    assert environment.status == Environment.PROVISIONING
    assert list(run.events.values_list("seq", "kind", "message")) == [(1, "status", "queued")]


def test_claim_moves_queued_to_planning_once(env_and_run):
    _, run = env_and_run
    assert run_claim(run.pk, "w1").status == Run.PLANNING
    # A duplicate delivery of the same task claims nothing.
    assert run_claim(run.pk, "w2") is None
    run.refresh_from_db()
    assert run.worker == "w1" and run.started_at is not None


def test_run_moves_forward_only(env_and_run):
    environment, run = env_and_run
    run_claim(run.pk, "w")
    run_transition(run, Run.APPLYING)
    run_transition(run, Run.SUCCEEDED, exit_code=0)
    environment.refresh_from_db()
    assert environment.status == Environment.READY
    with pytest.raises(TransitionRefused):
        run_transition(run, Run.APPLYING)
    with pytest.raises(TransitionRefused):
        run_transition(run, Run.FAILED, error="late")
    run.refresh_from_db()
    assert run.status == Run.SUCCEEDED and run.finished_at is not None


def test_failure_reason_reaches_the_environment(env_and_run):
    environment, run = env_and_run
    run_claim(run.pk, "w")
    run_transition(run, Run.FAILED, error="terraform plan failed: boom")
    environment.refresh_from_db()
    assert environment.status == Environment.FAILED
    assert "boom" in environment.status_reason
    statuses = list(RunEvent.objects.filter(run=run, kind="status").values_list("message", flat=True))
    assert statuses == ["queued", "planning", "failed"]


def test_second_active_run_is_refused_by_the_database(env_and_run, developer):
    environment, _ = env_and_run
    with pytest.raises(RunConflict):
        run_request(environment, Run.DESTROY, developer)
    # Even bypassing the service, the partial unique constraint refuses it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(environment=environment, operation=Run.DESTROY)
    assert environment.runs.count() == 1


def test_a_finished_run_needs_finished_at(env_and_run):
    _, run = env_and_run
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.filter(pk=run.pk).update(status=Run.SUCCEEDED)


def test_create_enqueues_the_run_only_after_commit(developer, project, sandbox_version,
                                                   django_capture_on_commit_callbacks):
    from unittest import mock

    with mock.patch("portal.celery.app.send_task") as send_task:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            _, run = environment_create(developer, project, sandbox_version, "later", {"app_name": "later-app"})
            assert not send_task.called
        assert len(callbacks) == 1
        callbacks[0]()
    send_task.assert_called_once_with("tasks.run_execute", args=[run.pk])


def test_cancel_of_a_run_a_worker_just_claimed_does_not_end_it_behind_the_workers_back(env_and_run, developer):
    from environments.services import run_cancel

    _, stale = env_and_run  # still says "queued" in memory
    run_claim(stale.pk, "w")  # ...but a worker has claimed it
    run_cancel(developer, stale)
    stale.refresh_from_db()
    assert stale.status == Run.PLANNING, "the worker must interrupt Terraform and end the run itself"
    assert stale.cancel_requested_at is not None


def test_constraint_statuses_match_the_active_set():
    from environments import models

    assert set(models._ACTIVE_STATUSES) == set(Run.ACTIVE)
    assert set(Run.ACTIVE) | set(Run.FINISHED) == {s for s, _ in Run.STATUS_CHOICES}


def test_plan_waiting_for_decision_holds_the_environment_and_expires(env_and_run, settings):
    from datetime import timedelta

    from django.utils import timezone

    from tasks.runner.reaper import runs_expire_plans

    environment, run = env_and_run
    run_claim(run.pk, "w")
    run_transition(run, Run.AWAITING_APPROVAL, plan_file="x", planned_at=timezone.now() - timedelta(hours=80))
    # The waiting run is still the environment's active run: no second run can start.
    with pytest.raises(RunConflict):
        run_request(environment, Run.DESTROY, None)
    settings.RUN_APPROVAL_TIMEOUT_HOURS = 72
    assert runs_expire_plans() == 1
    run.refresh_from_db()
    environment.refresh_from_db()
    assert run.status == Run.DISCARDED and run.plan_file == "" and "expired after 72 h" in run.error
    assert environment.status == Environment.FAILED, "a first plan discarded leaves a retryable environment"


def test_rejecting_an_update_plan_leaves_a_ready_environment_ready(env_and_run, developer, project_admin):
    from environments.services import run_reject

    environment, run = env_and_run
    run_claim(run.pk, "w")
    run_transition(run, Run.APPLYING)
    run_transition(run, Run.SUCCEEDED, exit_code=0)
    update = run_request(environment, Run.APPLY, developer, confirm=True)
    assert update.gate == Run.GATE_CONFIRMATION and update.prior_status == Environment.READY
    run_claim(update.pk, "w")
    run_transition(update, Run.AWAITING_APPROVAL, plan_file="x")
    # A confirmation gate: the requester (who may update environments) decides.
    run_reject(update, developer, "not now")
    environment.refresh_from_db()
    update.refresh_from_db()
    assert update.status == Run.DISCARDED and update.decided_by == developer
    assert environment.status == Environment.READY
