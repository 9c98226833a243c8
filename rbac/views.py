"""Platform admin pages: projects and their role bindings, groups and their members, onboarding.

Projects go through the scoping function like everything else: a project you cannot see answers 404, one
you see but do not manage answers 403. Groups are organisation-wide, so their pages are for org admins only
(403 for everyone else). The services re-check every permission.
"""
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Func, IntegerField, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rbac import permissions as perms
from rbac import services, sync
from rbac.audit import audit, client_ip
from rbac.forms import (
    GroupForm,
    GroupMappingRuleForm,
    MemberForm,
    ProjectForm,
    ProjectQuotaForm,
    RoleBindingForm,
    ScimTokenForm,
)
from rbac.models import AuditEvent, Group, GroupMappingRule, Membership, Project, ScimToken, SsoProviderStatus
from rbac.scim import tokens as scim_tokens_service
from rbac.scoping import has_org_perm, has_perm, scope

PAGE_SIZE = 25
MEMBERS_PAGE_SIZE = 50

# Where a membership comes from, in the words of the group page.
SOURCE_HELP = {
    Group.LOCAL: "Added in Terrace; stays until removed here.",
    Group.OIDC: "From the OIDC group claim, applied at each sign-in; follows the identity provider.",
    Group.SAML: "From the SAML group attribute, applied at each sign-in; follows the identity provider.",
    Group.SCIM: "Pushed by the identity provider over SCIM; follows the identity provider.",
}


def _require_org_admin(request):
    if not has_org_perm(request.user, perms.ORG_MANAGE):
        raise PermissionDenied("Only org admins may manage this.")


def _managed_project(request, slug):
    """The project named `slug`: 404 unless the user can see it, 403 unless they also manage it."""
    project = get_object_or_404(scope(Project.objects.all(), request.user, perms.PROJECT_VIEW), slug=slug)
    if not has_perm(request.user, perms.PROJECT_MANAGE, project):
        raise PermissionDenied("You may not manage this project.")
    return project


def _page(request, queryset, size=PAGE_SIZE):
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def _member_count():
    """Distinct users holding a role in the project, directly or through a group (a correlated subquery)."""
    users = (
        get_user_model().objects
        .filter(Q(rolebinding__project=OuterRef("pk")) | Q(membership__group__rolebinding__project=OuterRef("pk")))
        .order_by()
        # COUNT as a plain function, not an aggregate: no GROUP BY, so the subquery always gives one row.
        .annotate(n=Func("pk", function="COUNT", template="COUNT(DISTINCT %(expressions)s)"))
        .values("n")
    )
    return Subquery(users, output_field=IntegerField())


# --- Projects ------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def project_list(request):
    """Projects the user manages (org admins: all), searchable; org admins also create projects here."""
    is_org_admin = has_org_perm(request.user, perms.ORG_MANAGE)
    projects = scope(Project.objects.all(), request.user, perms.PROJECT_MANAGE)
    if not is_org_admin and not projects.exists():
        raise PermissionDenied("You do not manage any project.")
    form = ProjectForm(request.POST or None) if is_org_admin else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Only org admins may create projects.")
        if form.is_valid():
            try:
                project = services.project_create(
                    request.user, slug=form.cleaned_data["slug"], name=form.cleaned_data["name"], ip=client_ip(request)
                )
            except services.InvalidRequest as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Project {project.name} created. Add role bindings to give access.")
                return redirect("rbac:project", slug=project.slug)
    query = request.GET.get("q", "").strip()
    if query:
        projects = projects.filter(Q(name__icontains=query) | Q(slug__icontains=query))
    projects = projects.annotate(
        binding_count=Count("bindings", distinct=True), member_count=_member_count()
    ).order_by("name", "pk")
    return render(request, "rbac/projects.html", {
        "page": _page(request, projects),
        "q": query,
        "form": form,
        "is_org_admin": is_org_admin,
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_detail(request, slug):
    """A project's role bindings (add and remove) and the templates shared with it."""
    project = _managed_project(request, slug)
    form = RoleBindingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            binding = services.role_binding_create(
                request.user, role=data["role"], project=project, user=data["user"], group=data["group"],
                ip=client_ip(request),
            )
        except services.InvalidRequest as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{binding.user or binding.group} is now {binding.get_role_display()} "
                                      f"in {project.name}.")
            return redirect("rbac:project", slug=project.slug)
    bindings = project.bindings.select_related("user", "group").annotate(
        group_size=Count("group__membership")
    ).order_by("role", "group__name", "user__username")
    # Through the reverse accessor: rbac stays free of imports from environments.
    shares = project.shared_templates.select_related("template__project").order_by("template__name")
    return render(request, "rbac/project.html", {
        "project": project,
        "bindings": bindings,
        "shares": shares,
        "form": form,
        "is_org_admin": has_org_perm(request.user, perms.ORG_MANAGE),
        **_quota_context(project),
    }, status=400 if request.method == "POST" else 200)


def _quota_context(project, form=None):
    # Through the reverse accessor: rbac stays free of imports from environments.
    return {
        "quota_form": form or ProjectQuotaForm(initial={
            "max_environments": project.max_environments,
            "max_environments_per_user": project.max_environments_per_user,
        }),
        "active_environments": project.environments.exclude(status="destroyed").count(),
    }


@login_required
@require_POST
def project_quota(request, slug):
    """Org admins set a project's environment limits."""
    project = _managed_project(request, slug)
    form = ProjectQuotaForm(request.POST)
    if form.is_valid():
        try:
            services.project_quota_set(request.user, project, ip=client_ip(request), **form.cleaned_data)
        except services.InvalidRequest as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Limits of {project.name} saved.")
            return redirect("rbac:project", slug=project.slug)
    messages.error(request, "The limits were not saved: " + "; ".join(
        f"{form.fields[f].label if f in form.fields else f}: {' '.join(e)}" for f, e in form.errors.items()))
    return redirect("rbac:project", slug=project.slug)


@login_required
@require_POST
def binding_delete(request, slug, pk):
    project = _managed_project(request, slug)
    binding = get_object_or_404(project.bindings.select_related("user", "group"), pk=pk)
    try:
        services.role_binding_delete(request.user, binding, ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Removed: {binding.user or binding.group} as {binding.get_role_display()}.")
    return redirect("rbac:project", slug=project.slug)


# --- Groups --------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def group_list(request):
    """Every group with its member and binding counts; org admins create groups here."""
    _require_org_admin(request)
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        idp_group = form.cleaned_data["idp_group"].strip()
        try:
            group = services.group_create(
                request.user, name=form.cleaned_data["name"], external_id=idp_group,
                source=Group.OIDC if idp_group else Group.LOCAL, ip=client_ip(request),
            )
        except services.InvalidRequest as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Group {group.name} created.")
            return redirect("rbac:group", pk=group.pk)
    groups = Group.objects.all()
    query = request.GET.get("q", "").strip()
    if query:
        groups = groups.filter(Q(name__icontains=query) | Q(external_id__icontains=query))
    groups = groups.annotate(
        member_count=Count("membership", distinct=True), binding_count=Count("rolebinding", distinct=True)
    ).order_by("name", "pk")
    return render(request, "rbac/groups.html", {
        "page": _page(request, groups),
        "q": query,
        "form": form,
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def group_detail(request, pk):
    """A group's members, each with where the membership comes from; its role bindings."""
    _require_org_admin(request)
    group = get_object_or_404(Group, pk=pk)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.cleaned_data["user"]
        try:
            services.membership_add(request.user, group, user, ip=client_ip(request))
        except services.InvalidRequest as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{user.get_username()} added to {group.name}.")
            return redirect("rbac:group", pk=group.pk)
    memberships = group.membership_set.select_related("user").order_by("user__username", "pk")
    page = _page(request, memberships, MEMBERS_PAGE_SIZE)
    return render(request, "rbac/group.html", {
        "group": group,
        "page": page,
        "rows": [(m, SOURCE_HELP.get(m.source, "")) for m in page.object_list],
        "bindings": group.rolebinding_set.select_related("project").order_by("project__name", "role"),
        "form": form,
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def member_remove(request, pk, membership_id):
    _require_org_admin(request)
    membership = get_object_or_404(Membership.objects.select_related("user", "group"), pk=membership_id, group=pk)
    services.membership_remove(request.user, membership, ip=client_ip(request))
    note = "" if membership.source == Group.LOCAL else (
        f" The membership came from {membership.get_source_display()}: remove the user from the IdP group too, "
        "or it comes back at their next sign-in."
    )
    messages.success(request, f"{membership.user.get_username()} removed from {membership.group.name}.{note}")
    return redirect("rbac:group", pk=membership.group_id)


# --- Audit log ---------------------------------------------------------------------------------------------

AUDIT_FILTERS = ("actor", "action", "project", "object_type", "object_id", "since", "until")


def _audit_events(request):
    """The audit events the user may see (org admins: all; project admins: their projects'), filtered by the
    query string. Returns (queryset, filters, errors)."""
    from datetime import datetime, time

    from django.utils import timezone

    events = scope(AuditEvent.objects.all(), request.user, perms.AUDIT_VIEW)
    filters = {k: request.GET.get(k, "").strip() for k in AUDIT_FILTERS}
    errors = []
    if filters["actor"]:
        events = events.filter(actor_label__iexact=filters["actor"])
    if filters["action"]:
        # "environment" matches every environment.* action; "environment.create" only that one.
        action = filters["action"]
        events = events.filter(action=action) if "." in action else events.filter(action__startswith=action + ".")
    if filters["project"]:
        events = events.filter(project__slug=filters["project"])
    if filters["object_type"]:
        events = events.filter(object_type=filters["object_type"])
    if filters["object_id"]:
        events = events.filter(object_id=filters["object_id"])
    for key, lookup, at in (("since", "created_at__gte", time.min), ("until", "created_at__lte", time.max)):
        if filters[key]:
            try:
                day = datetime.strptime(filters[key], "%Y-%m-%d").date()
            except ValueError:
                errors.append(f"{key}: use a date like 2026-01-31")
                continue
            events = events.filter(**{lookup: timezone.make_aware(datetime.combine(day, at))})
    return events.select_related("project").order_by("-created_at", "-pk"), filters, errors


def _require_audit_access(request):
    if not scope(Project.objects.all(), request.user, perms.AUDIT_VIEW).exists() and not has_org_perm(
            request.user, perms.AUDIT_VIEW):
        raise PermissionDenied("The audit log is for project and org admins.")


@login_required
@require_GET
def audit_list(request):
    """Every state change, newest first, with filters; project admins see their projects' events."""
    _require_audit_access(request)
    events, filters, errors = _audit_events(request)
    projects = scope(Project.objects.all(), request.user, perms.AUDIT_VIEW).order_by("name")
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "rbac/audit.html", {
        "page": _page(request, events, size=50),
        "filters": filters,
        "errors": errors,
        "projects": projects,
        "export_query": query,
    }, status=400 if errors else 200)


@login_required
@require_GET
def audit_export(request, fmt):
    """The filtered audit log as CSV or JSON Lines, streamed (no row limit)."""
    import csv
    import json

    from django.http import HttpResponseBadRequest, StreamingHttpResponse

    if fmt not in ("csv", "jsonl"):
        raise Http404("Export formats: csv, jsonl.")
    _require_audit_access(request)
    events, _, errors = _audit_events(request)
    if errors:
        return HttpResponseBadRequest("; ".join(errors))
    rows = events.values_list("created_at", "actor_label", "action", "project__slug", "object_type", "object_id",
                              "ip", "data").iterator(chunk_size=2000)
    columns = ("time", "actor", "action", "project", "object_type", "object_id", "ip", "data")

    class Echo:
        def write(self, value):
            return value

    if fmt == "csv":
        writer = csv.writer(Echo())

        def lines():
            yield writer.writerow(columns)
            for row in rows:
                yield writer.writerow([row[0].isoformat(), *row[1:7], json.dumps(row[7], sort_keys=True)])

        content_type = "text/csv"
    else:
        def lines():
            for row in rows:
                values = (row[0].isoformat(), *row[1:])
                yield json.dumps(dict(zip(columns, values, strict=True)), default=str) + "\n"

        content_type = "application/x-ndjson"
    audit(request.user, "audit.export", request.user, ip=client_ip(request),
          data={"format": fmt, "filters": {k: v for k, v in request.GET.items() if k in AUDIT_FILTERS}})
    response = StreamingHttpResponse(lines(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="terrace-audit.{"csv" if fmt == "csv" else "jsonl"}"'
    return response
# --- SCIM tokens ---------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def scim_tokens(request):
    """SCIM bearer tokens: create one (its value is shown once, on this response only), list, revoke."""
    _require_org_admin(request)
    form = ScimTokenForm(request.POST or None)
    created = raw = None
    if request.method == "POST" and form.is_valid():
        created, raw = scim_tokens_service.scim_token_create(
            request.user, name=form.cleaned_data["name"], ip=client_ip(request)
        )
        form = ScimTokenForm()
    response = render(request, "rbac/scim_tokens.html", {
        "tokens": ScimToken.objects.select_related("created_by"),
        "form": form,
        "created": created,
        "raw_token": raw,
        "endpoint": request.build_absolute_uri("/scim/v2/"),
    }, status=400 if request.method == "POST" and created is None else 200)
    add_never_cache_headers(response)  # the page may carry a clear token once
    return response


# --- Single sign-on: status, group mapping rules, where memberships come from (engineer "sso") ------------

def _sso_providers(request):
    """The configured SSO providers with their status row, callback URL and group claim."""
    from allauth.socialaccount.adapter import get_adapter as get_socialaccount_adapter
    from django.urls import reverse

    statuses = {s.provider_id: s for s in SsoProviderStatus.objects.all()}
    rows = []
    for provider in get_socialaccount_adapter(request).list_providers(request):
        if provider.id == "saml":
            org = provider.app.client_id
            endpoints = {"ACS (reply) URL": reverse("saml_acs", args=[org]),
                         "SP metadata": reverse("saml_metadata", args=[org])}
            protocol = "SAML 2.0"
        else:
            endpoints = {"Redirect URI": provider.get_callback_url()}
            protocol = "OpenID Connect"
        rows.append({
            "id": provider.sub_id, "name": provider.name, "protocol": protocol,
            "endpoints": {k: request.build_absolute_uri(v) for k, v in endpoints.items()},
            "groups_claim": provider.app.settings.get("groups_claim", "groups"),
            "status": statuses.get(provider.sub_id),
        })
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def sso_status(request):
    """SSO at a glance: providers and their last sign-ins, and the group mapping rules (add one here)."""
    from django.conf import settings

    _require_org_admin(request)
    form = GroupMappingRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sync.mapping_rule_save(request.user, ip=client_ip(request), **form.cleaned_data)
        except services.InvalidRequest as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Mapping rule added; it applies from each user's next sign-in.")
            return redirect("rbac:sso")
    return render(request, "rbac/sso_status.html", {
        "providers": _sso_providers(request),
        "rules": GroupMappingRule.objects.select_related("group"),
        "form": form,
        "link_verified_email": settings.SSO_LINK_VERIFIED_EMAIL,
        "auto_redirect": settings.SSO_AUTO_REDIRECT,
        "recent": AuditEvent.objects.filter(
            Q(action__startswith="membership.", data__via="login_sync") | Q(action="sso.login_failed")
        ).order_by("-created_at", "-pk")[:20],
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def sso_rule_edit(request, pk):
    _require_org_admin(request)
    rule = get_object_or_404(GroupMappingRule.objects.select_related("group"), pk=pk)
    initial = {"match": rule.match, "pattern": rule.pattern, "provider": rule.provider,
               "group": rule.group.name if rule.group else "", "auto_create": rule.auto_create}
    form = GroupMappingRuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            sync.mapping_rule_save(request.user, rule, ip=client_ip(request), **form.cleaned_data)
        except services.InvalidRequest as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Mapping rule saved; it applies from each user's next sign-in.")
            return redirect("rbac:sso")
    return render(request, "rbac/sso_rule.html", {"rule": rule, "form": form},
                  status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def scim_token_revoke(request, pk):
    _require_org_admin(request)
    token = get_object_or_404(ScimToken, pk=pk)
    if scim_tokens_service.scim_token_revoke(request.user, token, ip=client_ip(request)):
        messages.success(request, f"Token “{token.name}” revoked: the identity provider can no longer use it.")
    else:
        messages.info(request, f"Token “{token.name}” was already revoked.")
    return redirect("rbac:scim_tokens")


@login_required
@require_POST
def sso_rule_delete(request, pk):
    _require_org_admin(request)
    rule = get_object_or_404(GroupMappingRule, pk=pk)
    sync.mapping_rule_delete(request.user, rule, ip=client_ip(request))
    messages.success(request, f"Mapping rule {rule} deleted; memberships it gave go at each user's next sign-in.")
    return redirect("rbac:sso")


@login_required
@require_GET
def user_list(request):
    """Users, searchable, to open one and see where their memberships come from."""
    _require_org_admin(request)
    users = get_user_model().objects.annotate(group_count=Count("membership")).order_by("username", "pk")
    query = request.GET.get("q", "").strip()
    if query:
        users = users.filter(Q(username__icontains=query) | Q(email__icontains=query))
    return render(request, "rbac/sso_users.html", {"page": _page(request, users), "q": query})


@login_required
@require_GET
def user_detail(request, pk):
    """One user's memberships, each with where it comes from, their SSO identities and recent changes."""
    from allauth.socialaccount.models import SocialAccount

    _require_org_admin(request)
    subject = get_object_or_404(get_user_model(), pk=pk)
    memberships = subject.membership_set.select_related("group").order_by("group__name")
    changes = AuditEvent.objects.filter(
        action__startswith="membership.", data__user=subject.get_username()
    ).order_by("-created_at", "-pk")[:30]
    return render(request, "rbac/sso_user.html", {
        "subject": subject,
        "rows": [(m, SOURCE_HELP.get(m.source, "")) for m in memberships],
        "identities": SocialAccount.objects.filter(user=subject),
        "bindings": subject.rolebinding_set.select_related("project").order_by("project__name", "role"),
        "changes": changes,
    })
