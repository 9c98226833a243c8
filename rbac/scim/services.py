"""SCIM writes: users and SCIM groups as an identity provider pushes them.

Each service runs in one transaction (a failure changes nothing) and writes an AuditEvent with
`data.source = "scim"` for every change, memberships included. The actor is the SCIM token, recorded as
`actor_label = "scim:<token name>"`. SCIM only ever touches groups whose source is `scim`; local, OIDC and
SAML groups are invisible to it. Django superusers (break-glass accounts) are read-only for SCIM, so an IdP
cannot lock the platform team out.
"""
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from scim2_models import (
    ForbiddenException,
    InvalidValueException,
    UniquenessException,
)

from rbac.models import AuditEvent, Group, Membership, ScimGroup, ScimUser
from rbac.scim.resources import user_attributes_to_store

User = get_user_model()
_username_validator = UnicodeUsernameValidator()


def _audit(token, action, obj, data, ip):
    """An AuditEvent for a SCIM change: the token is the actor (there is no portal user behind it)."""
    AuditEvent.objects.create(
        actor=None, actor_label=f"scim:{token.name}"[:150], action=action,
        object_type=type(obj).__name__.lower(), object_id=str(obj.pk),
        data={"source": "scim", "token": token.pk, **data}, ip=ip,
    )


def user_sessions_end(user):
    """Delete the user's sessions so that a deactivated user is signed out everywhere at once.

    Django's database sessions do not index the user, so the live ones are decoded (one query). Even a
    session this missed would not authenticate: Django refuses inactive users on every request.
    """
    uid = str(user.pk)
    ended = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
             if s.get_decoded().get("_auth_user_id") == uid]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


# --- Users ---------------------------------------------------------------------------------------------

def _writable(user):
    if user.is_superuser:
        raise ForbiddenException(detail="This is a Terrace superuser (break-glass account): SCIM may not change it.")


def _user_name(model, exclude_pk=None):
    name = (model.user_name or "").strip()
    if not name or len(name) > 150:
        raise InvalidValueException(detail="userName must have 1 to 150 characters.")
    try:
        _username_validator(name)
    except DjangoValidationError:
        raise InvalidValueException(detail="userName may contain letters, digits and @ . + - _ only.") from None
    others = User.objects.filter(username__iexact=name)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise UniquenessException(detail=f"A user with the userName {name!r} already exists.")
    return name


def _external_id(model):
    external_id = model.external_id or ""
    if len(external_id) > 255:
        raise InvalidValueException(detail="externalId may have at most 255 characters.")
    return external_id


def _mirror(user, model):
    """Copy what Terrace uses of the SCIM user into the User row (name, primary email, active)."""
    name = model.name
    user.first_name = ((name.given_name if name else None) or "")[:150]
    user.last_name = ((name.family_name if name else None) or "")[:150]
    emails = model.emails or []
    primary = next((e for e in emails if e.primary), emails[0] if emails else None)
    email = (primary.value if primary else None) or ""
    user.email = email if len(email) <= 254 else ""


def scim_user_create(token, model, *, ip=None):
    """Create a user from a validated SCIM User; it signs in through SSO (no usable password)."""
    with transaction.atomic():
        user = User(username=_user_name(model), is_active=model.active is not False)
        _mirror(user, model)
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # a concurrent request took the userName
            raise UniquenessException(detail=f"A user with the userName {user.username!r} already exists.") from None
        ScimUser.objects.create(user=user, external_id=_external_id(model), attributes=user_attributes_to_store(model))
        _audit(token, "user.create", user, {"user": user.username, "active": user.is_active}, ip)
    return user


def scim_user_update(token, user, model, *, ip=None):
    """Store a SCIM User (after PUT or PATCH) over `user`; deactivation ends the user's sessions."""
    _writable(user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        was_active = user.is_active
        user.username = _user_name(model, exclude_pk=user.pk)
        user.is_active = model.active is not False
        _mirror(user, model)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise UniquenessException(detail=f"A user with the userName {user.username!r} already exists.") from None
        ScimUser.objects.update_or_create(user=user, defaults={
            "external_id": _external_id(model), "attributes": user_attributes_to_store(model),
        })
        _audit(token, "user.update", user, {"user": user.username}, ip)
        if was_active and not user.is_active:
            ended = user_sessions_end(user)
            _audit(token, "user.deactivate", user, {"user": user.username, "sessions_ended": ended}, ip)
        elif user.is_active and not was_active:
            _audit(token, "user.activate", user, {"user": user.username}, ip)
    user.refresh_from_db()
    return user


def scim_user_delete(token, user, *, ip=None):
    """Delete a user: sessions end, memberships and role bindings go; environments they own stay (owner
    becomes empty) and the audit trail keeps their name."""
    _writable(user)
    with transaction.atomic():
        # The memberships go with the user (any group: the account is gone); each is audited all the same.
        for membership in Membership.objects.filter(user=user).select_related("group"):
            _audit(token, "membership.remove", membership.group, {"user": user.username, "membership_source":
                                                                   membership.source}, ip)
        ended = user_sessions_end(user)
        _audit(token, "user.delete", user, {"user": user.username, "sessions_ended": ended}, ip)
        user.delete()


# --- Groups --------------------------------------------------------------------------------------------

def _group_name(model, exclude_pk=None):
    name = (model.display_name or "").strip()
    if not name or len(name) > Group._meta.get_field("name").max_length:
        raise InvalidValueException(detail="displayName must have 1 to 200 characters.")
    clash = Group.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    clash = clash.first()
    if clash is not None:
        where = "" if clash.source == Group.SCIM else f" (a {clash.get_source_display()} group SCIM may not change)"
        raise UniquenessException(detail=f"A group named {name!r} already exists{where}.")
    return name


def _member_ids(model):
    """The user ids a SCIM Group lists; refuses anything but existing users."""
    ids = set()
    for member in model.members or []:
        if member.type not in (None, "User"):
            raise InvalidValueException(detail="Groups hold users only; nested groups are not supported.")
        value = member.value or ""
        if not value.isdigit() or len(value) > 18:
            raise InvalidValueException(detail=f"No user with the id {value!r}.")
        ids.add(int(value))
    found = set(User.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if ids - found:
        raise InvalidValueException(detail=f"No user with the id {str(min(ids - found))!r}.")
    return ids


def group_members_apply(token, group, user_ids, *, ip=None):
    """Make the members of the SCIM group `group` exactly `user_ids`, one AuditEvent per change.

    Memberships added here have source `scim`. The group belongs to the IdP, so a member added by hand in
    Terrace is removed too when the IdP's list does not have it (the audit event keeps its source).
    """
    if group.source != Group.SCIM:  # the views only ever find SCIM groups; this keeps the rule in one place too
        raise ForbiddenException(detail="SCIM never changes the members of local, OIDC or SAML groups.")
    current = {m.user_id: m for m in Membership.objects.filter(group=group).select_related("user")}
    removed = [m for uid, m in current.items() if uid not in user_ids]
    added = User.objects.filter(pk__in=set(user_ids) - set(current)).order_by("pk")
    for membership in removed:
        _audit(token, "membership.remove", group,
               {"user": membership.user.get_username(), "membership_source": membership.source}, ip)
    Membership.objects.filter(pk__in=[m.pk for m in removed]).delete()
    for user in added:
        Membership.objects.create(group=group, user=user, source=Group.SCIM)
        _audit(token, "membership.add", group, {"user": user.get_username(), "membership_source": Group.SCIM}, ip)
    return len(added), len(removed)


def scim_group_create(token, model, *, ip=None):
    """Create a SCIM group with its members."""
    with transaction.atomic():
        name = _group_name(model)
        external_id = _external_id(model)
        member_ids = _member_ids(model)
        try:
            with transaction.atomic():
                group = Group.objects.create(name=name, source=Group.SCIM, external_id=external_id)
        except IntegrityError:
            raise UniquenessException(detail=f"A group named {name!r} already exists.") from None
        ScimGroup.objects.create(group=group)
        _audit(token, "group.create", group, {"name": name, "external_id": external_id}, ip)
        group_members_apply(token, group, member_ids, ip=ip)
    return group


def scim_group_update(token, group, model, *, ip=None):
    """Store a SCIM Group (after PUT or PATCH) over the SCIM group `group`."""
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk, source=Group.SCIM)
        name = _group_name(model, exclude_pk=group.pk)
        external_id = _external_id(model)
        member_ids = _member_ids(model)
        changes = {}
        if (group.name, group.external_id) != (name, external_id):
            changes = {"name": name, "external_id": external_id}
            group.name, group.external_id = name, external_id
            try:
                with transaction.atomic():
                    group.save(update_fields=["name", "external_id"])
            except IntegrityError:
                raise UniquenessException(detail=f"A group named {name!r} already exists.") from None
            _audit(token, "group.update", group, changes, ip)
        added, removed = group_members_apply(token, group, member_ids, ip=ip)
        scim, _ = ScimGroup.objects.get_or_create(group=group)
        if changes or added or removed:
            scim.save(update_fields=["updated_at"])
    return group


def scim_group_delete(token, group, *, ip=None):
    """Delete a SCIM group, its memberships and its role bindings."""
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk, source=Group.SCIM)
        group_members_apply(token, group, set(), ip=ip)
        _audit(token, "group.delete", group, {"name": group.name}, ip)
        group.delete()

