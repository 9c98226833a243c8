"""SCIM bearer tokens: created by org admins (shown once), stored as SHA-256, revocable."""
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from rbac import permissions as perms
from rbac.audit import audit
from rbac.models import ScimToken
from rbac.scoping import has_org_perm
from rbac.tokens import token_digest

TOKEN_PREFIX = "terrace_scim_"
# last_used_at is written at most this often per token: an IdP sync sends hundreds of requests a minute.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class InvalidToken(Exception):
    """The bearer token is missing, unknown or revoked."""




def scim_token_create(actor, *, name, ip=None):
    """Create a token for an identity provider (org admins only); returns (ScimToken, clear token)."""
    if not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may create SCIM tokens.")
    name = (name or "").strip()
    if not name:
        raise ValueError("A token needs a name.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ScimToken.objects.create(
            name=name[:200], prefix=raw[: len(TOKEN_PREFIX) + 6], token_hash=token_digest(raw), created_by=actor
        )
        audit(actor, "scim_token.create", token, data={"name": token.name, "prefix": token.prefix}, ip=ip)
    return token, raw


def scim_token_revoke(actor, token, *, ip=None):
    """Revoke a token at once (org admins only); requests carrying it get 401 from now on."""
    if not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may revoke SCIM tokens.")
    with transaction.atomic():
        updated = ScimToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if updated:
            audit(actor, "scim_token.revoke", token, data={"name": token.name, "prefix": token.prefix}, ip=ip)
    return bool(updated)


def scim_token_authenticate(authorization):
    """The live ScimToken named by an `Authorization: Bearer ...` header value; raises InvalidToken."""
    scheme, _, raw = (authorization or "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or len(raw) > 200:
        raise InvalidToken("Send 'Authorization: Bearer <token>' with a SCIM token from Administration.")
    token = ScimToken.objects.filter(token_hash=token_digest(raw), revoked_at__isnull=True).first()
    if token is None:
        raise InvalidToken("The bearer token is unknown or revoked.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
