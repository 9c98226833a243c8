"""Personal API tokens: create (shown once), authenticate (hash lookup), revoke.

A token is `trc_<prefix>_<secret>`: 8 hex characters to find the row, 43 random URL-safe characters of secret.
Only SHA-256 of the whole token is stored; the secret has 256 bits of entropy, so a slow password hash would
add nothing but latency to every API call.
"""
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rbac import permissions as perms
from rbac.audit import audit
from rbac.models import ApiToken
from rbac.scoping import has_perm

TOKEN_PREFIX = "trc_"
# last_used_at is written at most this often per token, so API calls do not each cost a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class InvalidToken(Exception):
    """The token is malformed, unknown, expired or revoked (the API answers 401 and says which)."""


def token_digest(raw):
    """How every bearer secret is stored (API, SCIM and state-backend tokens): SHA-256 hex. The secrets are 256
    random bits, so a fast hash is enough and lets a request find its token with one indexed lookup.
    (`surrogatepass`: a header may carry any code point; it must hash, not crash.)"""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def api_token_create(user, *, name, project=None, expires_at=None, ip=None):
    """Create a token for `user`; returns (token row, the raw token, which is never retrievable again)."""
    name = (name or "").strip()
    if not name:
        raise ValueError("Give the token a name, e.g. the pipeline that uses it.")
    if project is not None and not has_perm(user, perms.PROJECT_VIEW, project):
        raise ValueError("You have no role in this project.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry must be in the future.")
    max_days = settings.API_TOKEN_MAX_DAYS
    if max_days and (expires_at is None or expires_at > timezone.now() + timedelta(days=max_days)):
        raise ValueError(f"Tokens expire within {max_days} days here.")
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name[:100], prefix=prefix, token_hash=token_digest(raw),
                                        project=project, expires_at=expires_at)
        audit(user, "api_token.create", token, project=project,
              data={"name": token.name, "prefix": prefix, "project": project.slug if project else "*",
                    "expires_at": expires_at.isoformat() if expires_at else None}, ip=ip)
    return token, raw


def api_token_authenticate(raw):
    """The active token for `raw`, with its user; raises InvalidToken saying why not."""
    if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2:
        raise InvalidToken("Malformed API token.")
    prefix = raw[len(TOKEN_PREFIX):].split("_", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.token_hash, token_digest(raw)):
        raise InvalidToken("Unknown API token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise InvalidToken("This API token was revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise InvalidToken("This API token has expired.")
    if not token.user.is_active:
        raise InvalidToken("The token's user is deactivated.")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_list(user):
    """The user's own tokens, newest first (nobody sees another user's tokens)."""
    return ApiToken.objects.filter(user=user).select_related("project")


@transaction.atomic
def api_token_revoke(user, token, *, ip=None):
    """Revoke one of the user's tokens; it stops working at once."""
    if token.user_id != user.pk:
        raise PermissionError("Not your token.")
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if updated:
        audit(user, "api_token.revoke", token, project=token.project, data={"prefix": token.prefix}, ip=ip)
    return bool(updated)
