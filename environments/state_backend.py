"""Terraform's `http` state backend, served by the portal: GET/POST state, LOCK/UNLOCK.

Only runs call it, with HTTP Basic credentials `run-<id>` / a token issued to that run when it started
(`environments.state.state_token_issue`): scoped to the run's one environment and void once the run ends.
People read state through the audited download on the environment page instead.
"""
import base64
import binascii
import hashlib
import json
import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from environments import crypto
from environments.models import Environment, StateLock
from environments.state import (
    StateRejected,
    state_latest,
    state_lock_acquire,
    state_lock_release,
    state_store,
    state_token_run,
)

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 64 * 1024 * 1024


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def _credentials(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Basic "):
        return "", ""
    try:
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return username, password


@csrf_exempt
def state(request, environment_id):
    """One URL for the whole protocol, as Terraform's http backend expects (address = lock address)."""
    username, token = _credentials(request)
    run = state_token_run(environment_id, username, token)
    if run is None:
        response = _error(401, "a valid run credential for this environment is required")
        response["WWW-Authenticate"] = 'Basic realm="terrace-state"'
        return response
    environment = run.environment
    handler = {"GET": _get, "POST": _post, "LOCK": _lock, "UNLOCK": _unlock}.get(request.method)
    if handler is None:
        # DELETE is what `terraform workspace delete` would send: state history is kept with the environment.
        return _error(405, f"{request.method} is not supported: state history lives as long as the environment")
    return handler(request, environment, run)


def _get(request, environment, run):
    latest = state_latest(environment)
    if latest is None:
        return HttpResponse(status=204)  # no state yet: Terraform starts an empty one
    raw = crypto.decrypt_bytes(latest.encrypted_state)
    response = HttpResponse(raw, content_type="application/json")
    response["Content-MD5"] = base64.b64encode(hashlib.md5(raw).digest()).decode()
    return response


def _post(request, environment: Environment, run):
    raw = request.body
    if len(raw) > MAX_STATE_BYTES:
        return _error(413, f"state larger than {MAX_STATE_BYTES} bytes")
    md5 = request.META.get("HTTP_CONTENT_MD5")
    if md5 and base64.b64encode(hashlib.md5(raw).digest()).decode() != md5:
        return _error(400, "Content-MD5 does not match the body (truncated upload?)")
    lock = StateLock.objects.filter(environment=environment).first()
    lock_id = request.GET.get("ID", "")
    if lock is not None and lock.lock_id != lock_id:
        # Someone else holds the lock: a write without it would race their apply.
        return _error(423, f"state is locked by {lock.lock_id}; this write did not hold the lock")
    try:
        version = state_store(environment, run, raw)
    except StateRejected as exc:
        log.warning("state write for environment %s by run %s refused: %s", environment.pk, run.pk, exc)
        return _error(409, str(exc))
    if version is not None:
        log.info("state serial %s stored for environment %s by run %s", version.serial, environment.pk, run.pk)
    return HttpResponse(status=200)


def _lock_info(request):
    try:
        info = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _lock(request, environment, run):
    info = _lock_info(request)
    if info is None or not info.get("ID"):
        return _error(400, "the lock body must be Terraform's lock info with an ID")
    acquired, holder = state_lock_acquire(environment, run, info)
    if acquired:
        return JsonResponse(holder)
    # 423 with the holder's info. Terraform 1.0's http client prints only the ID of the lock it met, so the ID
    # carries who holds it; the UI shows the same from the lock row.
    holder = dict(holder, ID=f"{holder.get('ID', '')} (held by {holder.get('Who', '?')}: "
                             f"{holder.get('Operation') or 'an operation'} since {holder.get('Created') or '?'})")
    return JsonResponse(holder, status=423)


def _unlock(request, environment, run):
    info = _lock_info(request)
    if info is None:
        return _error(400, "the unlock body must be Terraform's lock info")
    released, holder = state_lock_release(environment, str(info.get("ID", "")))
    if released:
        return HttpResponse(status=200)
    return JsonResponse(holder, status=423)
