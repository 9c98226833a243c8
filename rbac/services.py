"""Writes: projects, groups, memberships and role bindings.

Every service re-checks permissions with the acting user (the pages, the API and management commands all
come through here) and records an AuditEvent. Org admins manage everything; a project admin manages the
role bindings of their own project and may never grant `org_admin`.
"""
import re

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from rbac import permissions as perms
from rbac.audit import audit
from rbac.models import Group, Membership, Project, RoleBinding
from rbac.scoping import has_org_perm, has_perm

# Lowercase DNS-label style: slugs end up in URLs, Terraform names and state paths.
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidRequest(Exception):
    """The request cannot be carried out as asked; the message says why, `field` which input was wrong."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def _require_org_admin(actor, what):
    if not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied(f"Only org admins may {what}.")


def project_validate(slug, name):
    """Raise InvalidRequest unless `slug` and `name` make a new project (shared with onboarding)."""
    if not SLUG_RE.match(slug or ""):
        raise InvalidRequest(
            "Use 1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit.", "slug"
        )
    if not (name or "").strip():
        raise InvalidRequest("A project needs a name.", "name")
    if len(name) > Project._meta.get_field("name").max_length:
        raise InvalidRequest("This name is too long.", "name")
    if Project.objects.filter(slug=slug).exists():
        raise InvalidRequest(f"A project with the slug {slug!r} already exists.", "slug")


def project_create(actor, *, slug, name, description="", ip=None):
    """Create an empty project (org admins only)."""
    _require_org_admin(actor, "create projects")
    project_validate(slug, name)
    try:
        with transaction.atomic():
            project = Project.objects.create(slug=slug, name=name.strip(), description=description)
            audit(actor, "project.create", project, project=project, data={"slug": slug, "name": project.name},
                  ip=ip)
    except IntegrityError:  # a concurrent request took the slug between the check and the insert
        raise InvalidRequest(f"A project with the slug {slug!r} already exists.", "slug")
    return project


def group_validate(name, external_id=""):
    """Raise InvalidRequest unless `name` can name a new group."""
    name = (name or "").strip()
    if not name:
        raise InvalidRequest("A group needs a name.", "name")
    if len(name) > Group._meta.get_field("name").max_length:
        raise InvalidRequest("This name is too long.", "name")
    if len(external_id) > Group._meta.get_field("external_id").max_length:
        raise InvalidRequest("This identity-provider group name is too long.", "external_id")
    if Group.objects.filter(name=name).exists():
        raise InvalidRequest(f"A group named {name!r} already exists.", "name")


def group_create(actor, *, name, external_id="", source=Group.LOCAL, ip=None):
    """Create a group (org admins only). With an `external_id` the identity provider fills it at login/sync."""
    _require_org_admin(actor, "create groups")
    name, external_id = (name or "").strip(), (external_id or "").strip()
    group_validate(name, external_id)
    if source not in dict(Group.SOURCE_CHOICES):
        raise InvalidRequest(f"Unknown group source {source!r}.", "source")
    try:
        with transaction.atomic():
            group = Group.objects.create(name=name, external_id=external_id, source=source)
            audit(actor, "group.create", group, data={"name": name, "source": source, "external_id": external_id},
                  ip=ip)
    except IntegrityError:
        raise InvalidRequest(f"A group named {name!r} already exists.", "name")
    return group


def membership_add(actor, group, user, *, source=Group.LOCAL, ip=None):
    """Add `user` to `group` (org admins only); `source` records where the membership comes from."""
    _require_org_admin(actor, "change group membership")
    if not user.is_active:
        raise InvalidRequest(f"{user.get_username()} is deactivated.", "user")
    if Membership.objects.filter(group=group, user=user).exists():
        raise InvalidRequest(f"{user.get_username()} is already a member of {group.name}.", "user")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(group=group, user=user, source=source)
            audit(actor, "membership.add", group, data={"user": user.get_username(), "source": source}, ip=ip)
    except IntegrityError:
        raise InvalidRequest(f"{user.get_username()} is already a member of {group.name}.", "user")
    return membership


@transaction.atomic
def membership_remove(actor, membership, *, ip=None):
    """Remove a membership (org admins only).

    A membership that came from the identity provider comes back at the user's next login or SCIM push unless
    it is removed there too; the audit record keeps its source so that is visible afterwards.
    """
    _require_org_admin(actor, "change group membership")
    audit(actor, "membership.remove", membership.group,
          data={"user": membership.user.get_username(), "source": membership.source}, ip=ip)
    membership.delete()


def _may_manage_bindings(actor, project):
    if project is None:
        return has_org_perm(actor, perms.ORG_MANAGE)
    return has_perm(actor, perms.PROJECT_MANAGE, project)


def role_binding_create(actor, *, role, project=None, user=None, group=None, ip=None):
    """Give `user` or `group` a role in `project`, or org-wide when `project` is None.

    Project admins may bind roles in their own project, except `org_admin`: only org admins grant it, and
    only org-wide (in a project it would mean no more than project_admin and mislead whoever reads it).
    """
    if not _may_manage_bindings(actor, project):
        raise PermissionDenied("You may not manage role bindings here.")
    if role == perms.ORG_ADMIN and not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may grant org_admin.")
    if role not in perms.ROLES:
        raise InvalidRequest(f"Unknown role {role!r}.", "role")
    if role == perms.ORG_ADMIN and project is not None:
        raise InvalidRequest("org_admin is granted organisation-wide, not in a project.", "role")
    if (user is None) == (group is None):
        raise InvalidRequest("Bind the role to a user or to a group (one of them).", "user")
    if user is not None and not user.is_active:
        raise InvalidRequest(f"{user.get_username()} is deactivated.", "user")
    who = {"user": user} if user is not None else {"group": group}
    if RoleBinding.objects.filter(role=role, project=project, **who).exists():
        raise InvalidRequest(f"{user or group} already holds {role} here.", "user" if user else "group")
    with transaction.atomic():
        binding = RoleBinding.objects.create(role=role, project=project, **who)
        audit(actor, "role_binding.create", binding, project=project, data=_binding_data(binding), ip=ip)
    return binding


def _binding_data(binding):
    data = {"role": binding.role, "project": binding.project.slug if binding.project else "*"}
    if binding.user_id:
        data["user"] = binding.user.get_username()
    else:
        data["group"] = binding.group.name
    return data


@transaction.atomic
def role_binding_delete(actor, binding, *, ip=None):
    """Remove a role binding. The last org-wide org_admin binding stays: removing it locks everyone out."""
    if not _may_manage_bindings(actor, binding.project):
        raise PermissionDenied("You may not manage role bindings here.")
    if binding.role == perms.ORG_ADMIN and not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may remove an org_admin binding.")
    if binding.role == perms.ORG_ADMIN and binding.project_id is None:
        # Lock every org-wide org_admin binding, so two admins removing each other's cannot both succeed.
        holders = RoleBinding.objects.select_for_update().filter(role=perms.ORG_ADMIN, project__isnull=True)
        if not [pk for pk in holders.values_list("pk", flat=True) if pk != binding.pk]:
            raise InvalidRequest("This is the last org_admin binding; grant another one first.")
    audit(actor, "role_binding.delete", binding, project=binding.project, data=_binding_data(binding), ip=ip)
    binding.delete()


def project_quota_set(actor, project, *, max_environments, max_environments_per_user, ip=None):
    """Set a project's limits on active environments (org admins only; None: no limit)."""
    _require_org_admin(actor, "change project quotas")
    for field, value in (("max_environments", max_environments),
                         ("max_environments_per_user", max_environments_per_user)):
        if value is not None and value < 0:
            raise InvalidRequest("A limit cannot be negative.", field)
    before = {"max_environments": project.max_environments,
              "max_environments_per_user": project.max_environments_per_user}
    project.max_environments = max_environments
    project.max_environments_per_user = max_environments_per_user
    project.save(update_fields=["max_environments", "max_environments_per_user"])
    audit(actor, "project.quota", project, project=project, ip=ip, data={
        "before": before,
        "after": {"max_environments": max_environments, "max_environments_per_user": max_environments_per_user},
    })
    return project
