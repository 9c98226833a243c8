"""Pages: environment list, template picker, create form, environment and run pages."""
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from environments import aws, cost, policy, selectors, services
from environments.forms import EnvironmentForm
from environments.models import Environment, Run, StateLock
from environments.state import state_force_unlock, state_lock_info
from rbac import permissions as perms
from rbac.audit import client_ip
from rbac.scoping import has_perm


def current_project(request, perm=perms.PROJECT_VIEW):
    """The project named by ?project=, else the one last used, else the user's first; None if none."""
    projects = selectors.project_list(request.user, perm)
    slug = request.GET.get("project") or request.POST.get("project") or request.session.get("project")
    project = projects.filter(slug=slug).first() if slug else None
    if project is None and request.GET.get("project"):
        raise Http404("No such project.")
    project = project or projects.first()
    if project is not None and request.session.get("project") != project.slug:
        request.session["project"] = project.slug
    return project


@login_required
@require_GET
def environment_list(request):
    project = current_project(request)
    if project is None:
        return render(request, "portal/no_access.html", status=200)
    qs = selectors.environment_list(request.user, project)
    status = request.GET.get("status")
    if status:
        qs = qs.filter(status=status)
    elif not request.GET.get("all"):
        qs = qs.exclude(status=Environment.DESTROYED)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(request, "environments/list.html", {
        "project": project,
        "projects": selectors.project_list(request.user),
        "page": page,
        "can_create": has_perm(request.user, perms.ENVIRONMENT_CREATE, project),
        "status_filter": status or "",
    })


@login_required
@require_GET
def environment_new(request):
    """Step 1: pick a template available to the project."""
    project = current_project(request, perms.ENVIRONMENT_CREATE)
    if project is None:
        raise PermissionDenied("You may not create environments in any project.")
    versions = selectors.template_versions_for_project(request.user, project)
    latest = {}
    for version in versions:  # the highest published version number of each template
        current = latest.get(version.template_id)
        if current is None or version.sort_key > current.sort_key:
            latest[version.template_id] = version
    return render(request, "environments/new.html", {"project": project, "versions": list(latest.values())})


@login_required
def environment_create(request, version_id):
    """Step 2: the form generated from the template's variables."""
    project = current_project(request, perms.ENVIRONMENT_CREATE)
    if project is None:
        raise Http404()
    version = get_object_or_404(selectors.template_versions_for_project(request.user, project), pk=version_id)
    form = EnvironmentForm(version, request.POST or None)
    picker_notices = aws.form_apply_pickers(form, version)
    if request.method == "POST" and form.is_valid():
        try:
            environment, run = services.environment_create(
                request.user, project, version, form.cleaned_data["name"], form.cleaned_data["values"],
                lifetime_hours=form.cleaned_data.get("lifetime_hours"), ip=client_ip(request),
            )
        except services.PolicyViolation as exc:
            form.add_policy_errors(exc.errors)
        except services.PreflightFailed as exc:
            for name, reason in exc.problems:
                form.add_error(f"var_{name}" if name and f"var_{name}" in form.fields else None, reason)
        except services.InvalidRequest as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            return redirect("runs:detail", pk=run.pk)
    return render(request, "environments/create.html", {
        "project": project, "version": version, "form": form, "picker_notices": picker_notices,
        "cost_fields": _cost_fields(version), **_cost_estimate(version, {}, None),
    }, status=400 if request.method == "POST" else 200)


def _environment_or_404(request, pk):
    return get_object_or_404(selectors.environment_list(request.user), pk=pk)


@login_required
@require_GET
def environment_detail(request, pk):
    environment = _environment_or_404(request, pk)
    runs = environment.runs.select_related("triggered_by").order_by("-created_at")[:20]
    return render(request, "environments/detail.html", {
        "environment": environment,
        "runs": runs,
        "active_run": next((r for r in runs if r.is_active), None),
        "variables": _variable_rows(environment),
        "can_destroy": has_perm(request.user, perms.ENVIRONMENT_DESTROY, environment.project),
        "can_retry": environment.status == Environment.FAILED
        and has_perm(request.user, perms.ENVIRONMENT_UPDATE, environment.project),
        "template_available": selectors.template_available_in(environment),
        # Template management: a newer published version, and who may update.
        "update_available": selectors.environment_update_available(environment),
        "can_update": environment.status in (Environment.READY, Environment.FAILED)
        and has_perm(request.user, perms.ENVIRONMENT_UPDATE, environment.project),
        **_state_context(request.user, environment),
        **_leftover_context(request.user, environment, runs),
        "can_extend": environment.status != Environment.DESTROYED
        and services.environment_may_extend(request.user, environment),
        "aws_panel": aws.health_applies(environment) or cost.fargate_config(environment.template_version) is not None,
    })


@login_required
@require_POST
def environment_forget(request, pk):
    """A project admin marks a failed environment as cleaned up (audited, with what it leaves behind)."""
    environment = _environment_or_404(request, pk)
    note = request.POST.get("note", "").strip()[:1000]
    try:
        services.environment_forget(request.user, environment, note, ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{environment.name} is marked as cleaned up; the audit log lists what was left.")
    return redirect("environments:detail", pk=pk)


@login_required
@require_POST
def environment_extend(request, pk):
    """Set the environment to expire `hours` from now (owner or project admin, within the template's maximum)."""
    environment = _environment_or_404(request, pk)
    if not services.environment_may_extend(request.user, environment):
        raise PermissionDenied("Only the environment's owner or a project admin may change its lifetime.")
    try:
        hours = int(request.POST.get("hours", ""))
        if hours < 1:
            raise ValueError
    except ValueError:
        messages.error(request, "Give the new lifetime as a whole number of hours, at least 1.")
        return redirect("environments:detail", pk=pk)
    try:
        services.environment_extend(environment, request.user, timezone.now() + timedelta(hours=hours),
                                    ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{environment.name} now expires in {hours} hours.")
    return redirect("environments:detail", pk=pk)


def _leftover_context(user, environment, runs):
    """After a destroy that did not finish, or any failure: what may still exist, and the ways out."""
    if environment.status != Environment.FAILED:
        return {}
    last = runs[0] if runs else None
    return {
        "leftovers": services.environment_leftovers(environment),
        "destroy_failed": last is not None and last.operation == Run.DESTROY,
        "can_forget": has_perm(user, perms.PROJECT_MANAGE, environment.project),
    }


def _state_context(user, environment):
    lock = StateLock.objects.filter(environment=environment).first()
    return {
        "state_versions": environment.state_versions.select_related("run").order_by("-created_at", "-pk")[:5],
        "state_lock": state_lock_info(lock) if lock else None,
        "state_lock_since": lock.created_at if lock else None,
        "can_read_state": has_perm(user, perms.STATE_READ, environment.project),
        "can_unlock_state": has_perm(user, perms.STATE_MANAGE, environment.project),
    }


@login_required
@require_GET
def state_download(request, pk):
    """The environment's current Terraform state as a file (audited: state can hold secrets)."""
    environment = _environment_or_404(request, pk)
    try:
        raw = services.state_download(request.user, environment, ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
        return redirect("environments:detail", pk=pk)
    response = HttpResponse(raw, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{environment.name}.tfstate"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def state_unlock(request, pk):
    """Force-unlock the environment's state (audited)."""
    environment = _environment_or_404(request, pk)
    try:
        info = state_force_unlock(request.user, environment, ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Unlocked (the lock was held by {info['Who']})." if info else "It was not locked.")
    return redirect("environments:detail", pk=pk)


def _variable_rows(environment):
    rows = []
    for var in environment.template_version.variables:
        name = var["name"]
        if var.get("sensitive"):
            value, source = "(sensitive)", "set" if name in _secret_names(environment) else "default"
        elif name in environment.variables:
            value, source = environment.variables[name], "set"
        else:
            value, source = var.get("default"), "default"
        rows.append({"name": name, "value": value, "source": source, "sensitive": var.get("sensitive")})
    return rows


def _secret_names(environment):
    return set(services.environment_secret_values(environment)) if environment.secret_variables else set()


@login_required
@require_GET
def environment_status(request, pk):
    """The status panel fragment (htmx polls it while a run is active)."""
    environment = _environment_or_404(request, pk)
    return render(request, "environments/partials/_status.html", {"environment": environment})


def _queue_run(request, pk, service):
    """Queue a run on a visible environment through `service`, then follow it; refusals go back with why."""
    environment = _environment_or_404(request, pk)
    try:
        run = service(request.user, environment, ip=client_ip(request))
    except (services.InvalidRequest, services.RunConflict) as exc:
        messages.error(request, str(exc))
        return redirect("environments:detail", pk=environment.pk)
    return redirect("runs:detail", pk=run.pk)


@login_required
@require_POST
def environment_retry(request, pk):
    return _queue_run(request, pk, services.environment_retry)


@login_required
@require_POST
def environment_destroy(request, pk):
    return _queue_run(request, pk, services.environment_destroy)


@login_required
@require_GET
def run_detail(request, pk):
    run = get_object_or_404(selectors.run_list(request.user), pk=pk)
    project = run.environment.project
    can_decide = run.status == Run.AWAITING_APPROVAL and (
        has_perm(request.user, perms.RUN_APPROVE, project)
        or (run.gate == Run.GATE_CONFIRMATION and has_perm(request.user, perms.ENVIRONMENT_UPDATE, project))
    )
    return render(request, "environments/run.html", {
        "run": run,
        "environment": run.environment,
        "can_cancel": run.is_active and has_perm(request.user, perms.RUN_CANCEL, project),
        "can_decide": can_decide,
        "approval_timeout_hours": settings.RUN_APPROVAL_TIMEOUT_HOURS,
    })


def _decide(request, pk, service, done):
    run = get_object_or_404(selectors.run_list(request.user), pk=pk)
    comment = request.POST.get("comment", "").strip()[:2000]
    try:
        service(run, request.user, comment, ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("runs:detail", pk=run.pk)


@login_required
@require_POST
def run_approve(request, pk):
    return _decide(request, pk, services.run_approve, "Approved: a worker applies the plan you saw.")


@login_required
@require_POST
def run_reject(request, pk):
    return _decide(request, pk, services.run_reject, "Rejected: nothing was applied.")


@login_required
@require_GET
def run_queue(request, pk):
    """Why a queued run waits (htmx polls this fragment while the run is queued)."""
    run = get_object_or_404(selectors.run_list(request.user), pk=pk)
    info = selectors.run_queue_info(run) if run.status == Run.QUEUED else None
    return render(request, "environments/partials/_queue.html", {"run": run, "info": info})


@login_required
@require_POST
def run_cancel(request, pk):
    run = get_object_or_404(selectors.run_list(request.user), pk=pk)
    try:
        services.run_cancel(request.user, run, ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Cancel requested: Terraform is being interrupted; what it created so far is kept.")
    return redirect("runs:detail", pk=run.pk)


@login_required
@require_GET
def run_events_json(request, pk):
    """The run's log after sequence number `after`, as JSON: the polling twin of the SSE stream."""
    run = get_object_or_404(selectors.run_list(request.user), pk=pk)
    try:
        after = int(request.GET.get("after", 0))
        limit = min(int(request.GET.get("limit", 1000)), 5000)
    except ValueError:
        return JsonResponse({"error": "after and limit must be integers"}, status=400)
    events = selectors.run_events_after(run, after, limit)
    return JsonResponse({
        "run": run.pk,
        "status": run.status,
        "events": [e.as_dict() for e in events],
        "next": events[-1].seq if events else after,
        "finished": run.status in Run.FINISHED and len(events) < limit,
    })


CATALOG_PAGE_SIZE = 24


@login_required
@require_GET
def template_list(request):
    """The catalogue: templates the user may see (owned by their projects or shared with them), searchable by
    name and description, filtered by category, a page at a time."""
    query = request.GET.get("q", "").strip()
    category = request.GET.get("category", "").strip()
    templates = selectors.template_catalog(request.user, query=query, category=category)
    page = Paginator(templates, CATALOG_PAGE_SIZE).get_page(request.GET.get("page"))
    for template in page:
        template.latest = selectors.version_latest(template.version_list)
    return render(request, "environments/catalog_list.html", {
        "page": page,
        "q": query,
        "category": category,
        "categories": selectors.template_categories(request.user),
    })


@login_required
def template_detail(request, pk):
    """A template's page: README, versions, variables; its shares for those who may share it."""
    template = get_object_or_404(selectors.template_list(request.user), pk=pk)
    can_share = has_perm(request.user, perms.TEMPLATE_SHARE, template.project)
    if request.method == "POST":
        if not can_share:
            raise PermissionDenied("You may not share this template.")
        slug = request.POST.get("project", "")
        target = None if slug == "*" else selectors.project_list(request.user).filter(slug=slug).first()
        if slug != "*" and target is None:
            messages.error(request, "Choose a project to share with.")
        elif request.POST.get("action") == "unshare":
            services.template_unshare(template, target, actor=request.user)
            messages.success(request, f"{template.name} is no longer shared with {target or 'all projects'}.")
        else:
            services.template_share(template, target, actor=request.user)
            messages.success(request, f"{template.name} is now shared with {target or 'all projects'}.")
        return redirect("catalog:detail", pk=template.pk)
    versions = selectors.template_versions_sorted(template)
    latest = selectors.version_latest(versions)
    shares = template.shares.select_related("project").order_by("project__name") if can_share else []
    return render(request, "environments/catalog_detail.html", {
        "template": template,
        "versions": versions,
        "latest": latest,
        "variables": _catalog_variable_rows(latest),
        "create_url": _catalog_create_url(request, latest),
        "shares": shares,
        "can_share": can_share,
        "projects": selectors.project_list(request.user).exclude(pk=template.project_id) if can_share else [],
    })


def _catalog_variable_rows(version):
    """The variables table of a template page: user inputs first, then those Terrace sets itself."""
    if version is None:
        return []
    rows = [dict(var, reserved=var["name"] in policy.INJECTED) for var in version.variables]
    return sorted(rows, key=lambda row: row["reserved"])


def _catalog_create_url(request, version):
    """The Create form of `version` in the user's current project, when they may use it there."""
    if version is None or version.state != version.PUBLISHED:
        return ""
    project = selectors.project_list(request.user, perms.ENVIRONMENT_CREATE).filter(
        slug=request.session.get("project", "")
    ).first() or selectors.project_list(request.user, perms.ENVIRONMENT_CREATE).first()
    if project is None or not selectors.template_versions_for_project(request.user, project).filter(
        pk=version.pk
    ).exists():
        return ""
    return reverse("environments:create", args=[version.pk]) + f"?project={project.slug}"


# --- AWS: health panel and cost ------------------------------------------------------------------------

@login_required
@require_GET
def environment_health(request, pk):
    """The ECS health panel and running cost (htmx polls this fragment every ~10 s on the environment page)."""
    environment = _environment_or_404(request, pk)
    health = aws.environment_health(environment) if aws.health_applies(environment) else None
    running, cost_error = None, None
    try:
        running = cost.environment_running_cost(environment)
    except cost.CostError as exc:
        cost_error = str(exc)
    return render(request, "environments/partials/_health.html", {
        "environment": environment, "health": health, "running": running, "cost_error": cost_error,
    })


def _cost_fields(version):
    """Form field names the cost estimate depends on (for hx-include); empty when the template has no cost."""
    fargate = cost.fargate_config(version)
    if fargate is None:
        return ""
    names = [f"var_{fargate[k]}" for k in ("cpu", "memory", "count", "region") if fargate.get(k)]
    names.append("lifetime_hours")  # the form's lifetime field, when the template has a lifetime policy
    return ",".join(f"[name={name}]" for name in names)


@login_required
@require_GET
def environment_cost(request, version_id):
    """The cost estimate for the create form's current values (htmx re-requests it as the form changes)."""
    project = current_project(request, perms.ENVIRONMENT_CREATE)
    if project is None:
        raise Http404()
    version = get_object_or_404(selectors.template_versions_for_project(request.user, project), pk=version_id)
    fargate = cost.fargate_config(version)
    values = {}
    for key in ("cpu", "memory", "count", "region"):
        name = (fargate or {}).get(key)
        raw = request.GET.get(f"var_{name}", "") if name else ""
        if raw.strip():
            values[name] = raw.strip()
    return render(request, "environments/partials/_cost.html",
                  _cost_estimate(version, values, cost.parse_hours(request.GET.get("lifetime_hours"))))


def _cost_estimate(version, values, hours):
    try:
        return {"estimate": cost.estimate(version, values, hours), "error": None}
    except cost.CostError as exc:
        return {"estimate": None, "error": str(exc)}
