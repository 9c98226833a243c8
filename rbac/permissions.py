"""Roles are named sets of permissions. Code checks permissions, never role names."""

ENVIRONMENT_VIEW = "environment.view"
ENVIRONMENT_CREATE = "environment.create"
ENVIRONMENT_UPDATE = "environment.update"
ENVIRONMENT_DESTROY = "environment.destroy"
RUN_VIEW = "run.view"
RUN_CANCEL = "run.cancel"
RUN_APPROVE = "run.approve"
TEMPLATE_VIEW = "template.view"
TEMPLATE_MANAGE = "template.manage"
TEMPLATE_SHARE = "template.share"
STATE_READ = "state.read"
STATE_MANAGE = "state.manage"
PROJECT_VIEW = "project.view"
PROJECT_MANAGE = "project.manage"
ORG_MANAGE = "org.manage"
AUDIT_VIEW = "audit.view"

ORG_ADMIN = "org_admin"
PROJECT_ADMIN = "project_admin"
ENV_TEMPLATE_USER = "env_template_user"
VIEWER = "viewer"

_VIEWER = {ENVIRONMENT_VIEW, RUN_VIEW, TEMPLATE_VIEW, PROJECT_VIEW}
_ENV_TEMPLATE_USER = _VIEWER | {ENVIRONMENT_CREATE, ENVIRONMENT_UPDATE, ENVIRONMENT_DESTROY, RUN_CANCEL}
_PROJECT_ADMIN = _ENV_TEMPLATE_USER | {
    RUN_APPROVE, STATE_READ, STATE_MANAGE, PROJECT_MANAGE, TEMPLATE_MANAGE, TEMPLATE_SHARE, AUDIT_VIEW,
}
_ORG_ADMIN = _PROJECT_ADMIN | {ORG_MANAGE}

ROLES = {
    ORG_ADMIN: frozenset(_ORG_ADMIN),
    PROJECT_ADMIN: frozenset(_PROJECT_ADMIN),
    ENV_TEMPLATE_USER: frozenset(_ENV_TEMPLATE_USER),
    VIEWER: frozenset(_VIEWER),
}
ROLE_CHOICES = [
    (ORG_ADMIN, "Org admin"),
    (PROJECT_ADMIN, "Project admin"),
    (ENV_TEMPLATE_USER, "Environment template user"),
    (VIEWER, "Viewer"),
]
ALL_PERMISSIONS = frozenset().union(*ROLES.values())


def roles_with(perm):
    """The roles that grant `perm`."""
    if perm not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {perm!r}")
    return [role for role, perms in ROLES.items() if perm in perms]
