"""Terraform state kept by the portal: versions, the lock, and the per-run credential the backend accepts.

The HTTP views in `state_backend.py` and the worker (rescuing an `errored.tfstate`) both write through here.
"""
import hmac
import json
import secrets

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from environments import crypto
from environments.models import Run, StateLock, StateVersion
from rbac import permissions as perms
from rbac.audit import audit
from rbac.scoping import has_perm
from rbac.tokens import token_digest


class StateRejected(Exception):
    """The state document cannot be stored; the message says why."""


def state_latest(environment):
    """The environment's newest StateVersion, or None."""
    return StateVersion.objects.filter(environment=environment).order_by("-created_at", "-pk").first()


def state_resources(environment):
    """Addresses of the managed resources in the latest state (what exists, as far as Terraform knows)."""
    latest = state_latest(environment)
    if latest is None:
        return []
    doc = json.loads(crypto.decrypt_bytes(latest.encrypted_state))
    addresses = []
    for res in doc.get("resources", []):
        if res.get("mode") != "managed":
            continue
        base = ".".join(p for p in (res.get("module"), f"{res['type']}.{res['name']}") if p)
        for inst in res.get("instances", []):
            key = inst.get("index_key")
            addresses.append(base + ("" if key is None else f"[{json.dumps(key)}]"))
    return addresses


def state_store(environment, run, raw: bytes):
    """Keep `raw` as the environment's newest state (unless it equals the newest). Returns the version or None.

    Raises StateRejected for a document that is not Terraform state, or an older serial of the same lineage
    (a delayed or replayed write must never replace newer state).
    """
    try:
        doc = json.loads(raw)
        serial = int(doc["serial"])
        lineage = str(doc.get("lineage", ""))
        resources = doc.get("resources", [])
    except (ValueError, KeyError, TypeError) as exc:
        raise StateRejected("the body is not a Terraform state document") from exc
    with transaction.atomic():
        latest = (StateVersion.objects.select_for_update().filter(environment=environment)
                  .order_by("-created_at", "-pk").first())
        if latest is not None:
            if crypto.decrypt_bytes(latest.encrypted_state) == raw:
                return None
            if latest.lineage == lineage and serial < latest.serial:
                raise StateRejected(f"serial {serial} is older than the stored serial {latest.serial}")
        return StateVersion.objects.create(
            environment=environment,
            run=run,
            serial=serial,
            lineage=lineage,
            resource_count=sum(len(r.get("instances", [])) for r in resources if r.get("mode") == "managed"),
            encrypted_state=crypto.encrypt_bytes(raw),
        )


# -- lock ---------------------------------------------------------------------------------------------------
def state_lock_acquire(environment, run, info):
    """Take the lock for `run`. Returns (True, info) or (False, the holder's info)."""
    lock_id = str(info.get("ID", ""))[:64]
    try:
        with transaction.atomic():
            StateLock.objects.create(environment=environment, lock_id=lock_id, info=info, run=run)
        return True, info
    except IntegrityError:
        holder = StateLock.objects.filter(environment=environment).select_related("run").first()
        if holder is None:  # released between our insert and this read: let Terraform try again
            return False, {"ID": "", "Who": "nobody (retry)", "Info": "the lock was just released"}
        return False, state_lock_info(holder)


def state_lock_info(lock):
    """Terraform's lock info, with the portal's word on who holds it."""
    info = dict(lock.info)
    who = f"Terrace run #{lock.run_id}" if lock.run_id else "Terrace"
    info["Who"] = f"{who} ({info.get('Who', '')})" if info.get("Who") else who
    return info


def state_lock_release(environment, lock_id):
    """Release the lock if `lock_id` holds it. Returns (True, None) or (False, the holder's info)."""
    with transaction.atomic():
        lock = StateLock.objects.select_for_update().filter(environment=environment).first()
        if lock is None:
            return True, None
        if lock_id and lock.lock_id != lock_id:
            return False, state_lock_info(lock)
        lock.delete()
    return True, None


def state_lock_release_for_run(run):
    """Drop a lock the run's Terraform left behind (it was killed, or the run was reaped). Returns True if any."""
    return StateLock.objects.filter(environment_id=run.environment_id, run=run).delete()[0] > 0


def state_force_unlock(user, environment, *, ip=None):
    """An admin removes a stuck lock (audited). Refused while a run that may hold it is executing."""
    if not has_perm(user, perms.STATE_MANAGE, environment.project):
        raise PermissionDenied("Force-unlocking state needs the state.manage permission.")
    lock = StateLock.objects.filter(environment=environment).first()
    if lock is None:
        return None
    if lock.run_id and Run.objects.filter(pk=lock.run_id, status__in=Run.EXECUTING).exists():
        from environments.services import InvalidRequest

        raise InvalidRequest(f"Run #{lock.run_id} is still executing and holds the lock: cancel it first.")
    info = state_lock_info(lock)
    lock.delete()
    audit(user, "state.force_unlock", environment, project=environment.project, data={"lock": info}, ip=ip)
    return info


# -- run credential -----------------------------------------------------------------------------------------
def state_token_issue(run):
    """A fresh secret for `run` to reach its environment's state; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    Run.objects.filter(pk=run.pk).update(state_token_hash=token_digest(token))
    return token


def state_token_run(environment_id, username, token):
    """The run a backend request authenticates as, or None. Valid only for the run's own environment and only
    while the run is active: the credential expires with the run."""
    if not username.startswith("run-") or not token:
        return None
    try:
        run_id = int(username[4:])
    except ValueError:
        return None
    run = Run.objects.select_related("environment").filter(pk=run_id, status__in=Run.ACTIVE).first()
    if run is None or not run.state_token_hash or not hmac.compare_digest(run.state_token_hash, token_digest(token)):
        return None
    if run.environment_id != environment_id:
        return None
    return run
