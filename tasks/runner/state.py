"""How a run reaches its state: the portal's own `http` backend.

The worker writes a backend override into the working directory and gives Terraform the address and the run's
credential through `TF_HTTP_*` variables, which keeps the token off argv and out of `.terraform/`. Terraform
then reads, locks, writes and unlocks the state itself, every write becoming a `StateVersion`.
"""
import logging
import os

from django.conf import settings

from environments.state import StateRejected, state_lock_release_for_run, state_store, state_token_issue

log = logging.getLogger(__name__)

OVERRIDE_FILE = "terrace_backend_override.tf"
# Terraform writes this when it cannot save state to the backend (e.g. the portal was unreachable).
ERRORED_STATE = "errored.tfstate"

_OVERRIDE = """# Written by Terrace for this run: state lives in the portal (see TF_HTTP_* in the run's environment).
terraform {
  backend "http" {}
}
"""


def state_backend_prepare(run, workdir):
    """Point Terraform at the portal for `run`; returns (environment variables, the secret to mask)."""
    with open(os.path.join(workdir, OVERRIDE_FILE), "w") as fh:
        fh.write(_OVERRIDE)
    token = state_token_issue(run)
    address = f"{settings.TERRACE_INTERNAL_URL.rstrip('/')}/state/{run.environment_id}"
    env = {
        "TF_HTTP_ADDRESS": address,
        "TF_HTTP_LOCK_ADDRESS": address,
        "TF_HTTP_UNLOCK_ADDRESS": address,
        "TF_HTTP_USERNAME": f"run-{run.pk}",
        "TF_HTTP_PASSWORD": token,
        # A brief outage of the web process (a restart, a database blip) is retried rather than failing the run.
        "TF_HTTP_RETRY_MAX": "5",
        "TF_HTTP_RETRY_WAIT_MIN": "1",
        "TF_HTTP_RETRY_WAIT_MAX": "8",
    }
    return env, token


def state_rescue(run, workdir):
    """Keep the state Terraform could not send (`errored.tfstate`), straight through the database. Returns True
    when something was rescued."""
    path = os.path.join(workdir, ERRORED_STATE)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    try:
        version = state_store(run.environment, run, open(path, "rb").read())
    except StateRejected as exc:
        log.error("run %s: could not rescue %s: %s", run.pk, ERRORED_STATE, exc)
        return False
    return version is not None


def state_lock_cleanup(run):
    """Release a lock this run's Terraform left (it was interrupted before it could unlock)."""
    return state_lock_release_for_run(run)
