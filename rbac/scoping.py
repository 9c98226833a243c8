"""The one visibility rule. Every view, API endpoint, stream and service reads project-owned objects through
`scope()`; what it filters out answers 404.
"""
from django.db.models import Exists, Q

from rbac.models import Project, RoleBinding
from rbac.permissions import roles_with


def _bindings(user, perm):
    """Role bindings that give `user` the permission `perm`, directly or through a group."""
    return RoleBinding.objects.filter(role__in=roles_with(perm)).filter(
        Q(user=user) | Q(group__membership__user=user)
    )


def token_project_id(user):
    """The project a project-scoped API token narrows this request to, else None.

    portal.api.TokenAuthentication sets it on the request's user object; every check below honours it, so a
    token limited to one project can neither see nor act elsewhere, nor use org-wide powers.
    """
    return getattr(user, "api_token_project_id", None)


def has_org_perm(user, perm):
    """True when the user holds `perm` organisation-wide."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if token_project_id(user) is not None:
        return False
    if user.is_superuser:
        return True
    return _bindings(user, perm).filter(project__isnull=True).exists()


def scope(queryset, user, perm):
    """`queryset` narrowed to the objects `user` may `perm`.

    The model names the path to its project in `scope_project_field` (e.g. "environment__project"); for
    `Project` itself the path is the primary key. Anonymous and inactive users see nothing. Org-wide bindings
    are part of the same SQL query, so scoping costs no extra round trip.
    """
    if not (user and user.is_authenticated and user.is_active):
        return queryset.none()
    field = "pk" if queryset.model is Project else queryset.model.scope_project_field
    narrowed = token_project_id(user)
    if narrowed is not None:
        queryset = queryset.filter(**{field: narrowed})
    if user.is_superuser:
        return queryset
    bindings = _bindings(user, perm)
    in_project = Q(**{f"{field}__in": bindings.filter(project__isnull=False).values("project_id")})
    return queryset.filter(in_project | Q(Exists(bindings.filter(project__isnull=True))))


def has_perm(user, perm, project):
    """True when `user` holds `perm` in `project` (org-wide bindings included)."""
    return scope(Project.objects.filter(pk=project.pk), user, perm).exists()
