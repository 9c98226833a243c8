"""Onboarding: "a new project for a developer" in one click for the platform team.

It lives in `portal` because it wires both apps together: rbac (project, group, membership, role binding) and
environments (template shares).
"""
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from environments.models import Template, TemplateShare
from rbac import permissions as perms
from rbac.audit import audit
from rbac.models import Group, Membership, Project, RoleBinding
from rbac.scoping import has_org_perm
from rbac.services import InvalidRequest, project_validate

DEFAULT_ROLE = perms.ENV_TEMPLATE_USER


def onboarding_templates():
    """Templates an org admin may share while onboarding: every template, whichever project owns it."""
    return Template.objects.select_related("project").order_by("project__name", "name")


def default_group_name(slug):
    return f"{slug}-developers"


def project_onboard(actor, *, slug, name, developer, group_name="", idp_group="", templates=(),
                    role=DEFAULT_ROLE, ip=None) -> Project:
    """Create a project for `developer`: project, group, membership, role binding and template shares.

    One transaction and one audit record ("project.onboard", everything in its data): either the developer
    can start, or nothing was created. An existing group of that name is reused (a team joining a second
    project); with `idp_group` the group is linked to the identity provider, so SSO sync fills it later.
    The developer's membership is local: it does not depend on the IdP knowing them yet.
    """
    if not has_org_perm(actor, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may onboard projects.")
    slug, name = (slug or "").strip(), (name or "").strip()
    group_name = (group_name or "").strip() or default_group_name(slug)
    idp_group = (idp_group or "").strip()
    project_validate(slug, name)
    if role not in perms.ROLES or role == perms.ORG_ADMIN:
        raise InvalidRequest(f"{role!r} cannot be granted in a project.", "role")
    if not developer.is_active:
        raise InvalidRequest(f"{developer.get_username()} is deactivated.", "developer")
    if len(group_name) > Group._meta.get_field("name").max_length:
        raise InvalidRequest("This group name is too long.", "group_name")
    templates = list(templates)

    try:
        with transaction.atomic():
            project = Project.objects.create(slug=slug, name=name)
            group, group_created = Group.objects.select_for_update().get_or_create(name=group_name)
            if idp_group:
                if group.external_id and group.external_id != idp_group:
                    raise InvalidRequest(
                        f"The group {group.name!r} is already linked to the IdP group {group.external_id!r}.",
                        "idp_group",
                    )
                group.external_id, group.source = idp_group, Group.OIDC
                group.save(update_fields=["external_id", "source"])
            _, member_added = Membership.objects.get_or_create(
                group=group, user=developer, defaults={"source": Group.LOCAL}
            )
            binding = RoleBinding.objects.create(role=role, project=project, group=group)
            # Directly, not environments.services.template_share(): this record is the one audit entry.
            for template in templates:
                TemplateShare.objects.get_or_create(template=template, project=project)
            audit(actor, "project.onboard", project, project=project, ip=ip, data={
                "slug": slug,
                "name": name,
                "developer": developer.get_username(),
                "group": group.name,
                "group_created": group_created,
                "idp_group": idp_group,
                "member_added": member_added,
                "role": role,
                "role_binding": binding.pk,
                "templates": [f"{t.project.slug}/{t.slug}" for t in templates],
            })
    except IntegrityError:  # a concurrent onboarding took the slug between the check and the insert
        raise InvalidRequest(f"A project with the slug {slug!r} already exists.", "slug")
    return project
