"""Credential set admin pages, under a project's administration pages (/admin-portal/projects/<slug>/credentials/).

Same rule as the other admin pages: a project you cannot see answers 404, one you see but do not manage 403.
Variable values are never rendered: the pages list names only.
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from environments import aws, credentials
from environments.credentials import CredentialSetForm
from rbac import permissions as perms
from rbac.audit import client_ip
from rbac.models import Project
from rbac.scoping import has_org_perm, has_perm, scope


def _managed_project(request, slug):
    project = get_object_or_404(scope(Project.objects.all(), request.user, perms.PROJECT_VIEW), slug=slug)
    if not has_perm(request.user, perms.PROJECT_MANAGE, project):
        raise PermissionDenied("You may not manage this project's credentials.")
    return project


def _credential_set(request, slug, pk):
    project = _managed_project(request, slug)
    return project, get_object_or_404(credentials.credential_set_list(request.user, project), pk=pk)


def _context(request, project, **extra):
    return {"project": project, "is_org_admin": has_org_perm(request.user, perms.ORG_MANAGE), **extra}


@login_required
@require_http_methods(["GET"])
def credentials_list(request, slug):
    """The project's credential sets and the templates using each."""
    project = _managed_project(request, slug)
    sets = credentials.credential_set_list(request.user, project).prefetch_related("templates")
    return render(request, "environments/credentials_list.html", _context(request, project, sets=sets))


@login_required
@require_http_methods(["GET", "POST"])
def credentials_new(request, slug):
    project = _managed_project(request, slug)
    form = CredentialSetForm(project, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            credential_set = credentials.credential_set_create(request.user, project, form.cleaned_data,
                                                               ip=client_ip(request))
        except credentials.InvalidRequest as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Credential set {credential_set.name} created.")
            return redirect("credentials:detail", slug=project.slug, pk=credential_set.pk)
    return render(request, "environments/credentials_form.html", _context(request, project, form=form),
                  status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def credentials_detail(request, slug, pk):
    """Edit a credential set (variables are write-only) and test its connection."""
    project, credential_set = _credential_set(request, slug, pk)
    form = CredentialSetForm(project, request.POST or None, instance=credential_set)
    if request.method == "POST" and form.is_valid():
        try:
            credentials.credential_set_update(request.user, credential_set, form.cleaned_data, ip=client_ip(request))
        except credentials.InvalidRequest as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Credential set {credential_set.name} saved.")
            return redirect("credentials:detail", slug=project.slug, pk=credential_set.pk)
    return render(request, "environments/credentials_form.html",
                  _context(request, project, form=form, credential_set=credential_set),
                  status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def credentials_test(request, slug, pk):
    """Test connection: the identity the role gives (account, ARN) or the error, as a fragment for htmx."""
    project, credential_set = _credential_set(request, slug, pk)
    identity, error = None, None
    if not credential_set.has_aws_role:
        error = "This credential set has no AWS role to test."
    else:
        try:
            identity = credentials.credential_set_test(request.user, credential_set, ip=client_ip(request))
        except aws.AwsError as exc:
            error = str(exc)
    context = _context(request, project, credential_set=credential_set, identity=identity, error=error)
    if request.headers.get("HX-Request"):
        return render(request, "environments/credentials_test.html", context)
    form = CredentialSetForm(project, instance=credential_set)
    return render(request, "environments/credentials_form.html", {**context, "form": form})


@login_required
@require_POST
def credentials_delete(request, slug, pk):
    project, credential_set = _credential_set(request, slug, pk)
    credentials.credential_set_delete(request.user, credential_set, ip=client_ip(request))
    messages.success(request, f"Credential set {credential_set.name} deleted; its templates' runs get no "
                              "credentials now.")
    return redirect("credentials:list", slug=project.slug)
