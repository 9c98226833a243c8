"""Where a run's Terraform state comes from and goes to.

This is the seam for the portal's HTTP state backend: for now the worker pulls the latest `StateVersion`
into the working directory before Terraform runs and pushes what Terraform wrote afterwards (also after a
failure or a cancel, so partial progress is kept).
"""
import json
import os

from environments import crypto
from environments.models import StateVersion

STATE_FILE = "terraform.tfstate"


def state_pull(environment, workdir):
    """Write the environment's latest state into `workdir`; returns its serial (None if there is none)."""
    latest = StateVersion.objects.filter(environment=environment).order_by("-created_at", "-pk").first()
    if latest is None:
        return None
    path = os.path.join(workdir, STATE_FILE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(crypto.decrypt_bytes(latest.encrypted_state))
    return latest.serial


def state_push(environment, run, workdir):
    """Store the state Terraform left in `workdir` if it changed. Returns the new StateVersion or None."""
    path = os.path.join(workdir, STATE_FILE)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    raw = open(path, "rb").read()
    try:
        doc = json.loads(raw)
    except ValueError:
        return None  # a torn write: keep the previous version rather than a broken one
    latest = StateVersion.objects.filter(environment=environment).order_by("-created_at", "-pk").first()
    if latest is not None and crypto.decrypt_bytes(latest.encrypted_state) == raw:
        return None
    return StateVersion.objects.create(
        environment=environment,
        run=run,
        serial=doc.get("serial", 0),
        lineage=doc.get("lineage", ""),
        resource_count=sum(len(r.get("instances", [])) for r in doc.get("resources", []) if r.get("mode") == "managed"),
        encrypted_state=crypto.encrypt_bytes(raw),
    )


def state_resource_count(environment):
    latest = StateVersion.objects.filter(environment=environment).order_by("-created_at", "-pk").first()
    return latest.resource_count if latest else 0
