"""Template management pages (platform team, project admins of the owning project): versions from Git, uploads
or the catalogue, publish and deprecate, the variable policy, bulk upgrades; and the environment update page.

Visibility: a template the user cannot see at all answers 404; one they can see (owned by or shared with their
project) but may not manage answers 403. Every write goes through a service that checks again and audits.
"""
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from environments import policy, selectors, services
from environments.forms import EnvironmentUpdateForm
from environments.models import Environment, Run, TemplateVersion, UpgradeBatch
from rbac import permissions as perms
from rbac.audit import client_ip
from rbac.scoping import has_perm, scope

MAX_UPLOAD = 25 * 1024 * 1024


def _managed_template(request, pk):
    template = get_object_or_404(selectors.template_list(request.user), pk=pk)
    if not has_perm(request.user, perms.TEMPLATE_MANAGE, template.project):
        raise PermissionDenied("You may not manage this template.")
    return template


def _managed_version(request, pk):
    version = get_object_or_404(TemplateVersion.objects.select_related("template__project"), pk=pk)
    if not selectors.template_list(request.user).filter(pk=version.template_id).exists():
        raise Http404()
    if not has_perm(request.user, perms.TEMPLATE_MANAGE, version.template.project):
        raise PermissionDenied("You may not manage this template.")
    return version


def _catalog_folders():
    root = settings.CATALOG_DIR
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "variables.tf").exists()) if root.is_dir() \
        else []


@login_required
def template_admin_list(request):
    """Templates the user manages, and a form to start a new one in a project they administer."""
    projects = selectors.project_list(request.user, perms.TEMPLATE_MANAGE)
    if not projects.exists():
        raise PermissionDenied("You do not manage templates in any project.")
    if request.method == "POST":
        project = projects.filter(slug=request.POST.get("project", "")).first()
        name = request.POST.get("name", "").strip()
        slug = slugify(request.POST.get("slug", "") or name)[:100]
        if project is None or not name or not slug:
            messages.error(request, "Choose a project and enter a name.")
        else:
            try:
                template = services.template_create(
                    request.user, project, slug=slug, name=name[:200],
                    description=request.POST.get("description", "").strip(),
                    category=request.POST.get("category", "").strip()[:100], ip=client_ip(request))
            except services.InvalidRequest as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"{template.name} created: import its first version.")
                return redirect("template_admin:detail", pk=template.pk)
    templates = selectors.template_manage_list(request.user).prefetch_related("versions")
    return render(request, "environments/template_admin_list.html", {
        "templates": templates, "projects": projects, "catalog_folders": _catalog_folders(),
    })


@login_required
def template_admin_detail(request, pk):
    """Versions (with publish / deprecate), import forms, Git settings."""
    template = _managed_template(request, pk)
    versions = selectors.template_versions_sorted(template)
    for version in versions:
        version.behind_count = (len(selectors.environments_behind(version, request.user))
                                if version.state == TemplateVersion.PUBLISHED else 0)
    return render(request, "environments/template_admin_detail.html", {
        "template": template,
        "versions": versions,
        "catalog_folders": _catalog_folders(),
    })


@login_required
@require_POST
def template_admin_import(request, pk):
    """Import a new (draft) version from Git, an uploaded archive, or a catalogue folder."""
    template = _managed_template(request, pk)
    kind = request.POST.get("kind")
    version = request.POST.get("version", "").strip()
    changelog = request.POST.get("changelog", "").strip()
    try:
        if kind == "git":
            imported = services.template_version_import_git(
                request.user, template, version=version, ref=request.POST.get("ref", "").strip(),
                changelog=changelog, ip=client_ip(request))
        elif kind == "upload":
            upload = request.FILES.get("archive")
            if upload is None:
                raise services.InvalidRequest("Choose a .zip or .tar.gz file.")
            if upload.size > MAX_UPLOAD:
                raise services.InvalidRequest(f"{upload.name}: larger than {MAX_UPLOAD // (1024 * 1024)} MiB.")
            imported = services.template_version_import_archive(
                request.user, template, filename=upload.name, data=upload.read(), version=version,
                path=request.POST.get("path", ""), changelog=changelog, ip=client_ip(request))
        elif kind == "catalog":
            folder = request.POST.get("folder", "")
            if folder not in _catalog_folders():
                raise services.InvalidRequest("Choose a catalogue folder.")
            if folder != template.slug:
                raise services.InvalidRequest(f"The catalogue folder of this template is {template.slug!r}.")
            imported = services.template_version_import_folder(request.user, template.project,
                                                               settings.CATALOG_DIR / folder, ip=client_ip(request))
        else:
            raise services.InvalidRequest("Unknown source.")
    except services.InvalidRequest as exc:
        messages.error(request, f"Nothing was imported. {exc}")
    else:
        messages.success(request, f"Imported {imported.version} as a draft; publish it when it is ready.")
    return redirect("template_admin:detail", pk=template.pk)


@login_required
@require_POST
def template_admin_git(request, pk):
    """Set the template's Git repository and (write-only) credential."""
    template = _managed_template(request, pk)
    credential = request.POST.get("credential", "")
    kind = request.POST.get("credential_kind", "")
    clear = request.POST.get("clear_credential") == "1"
    try:
        services.template_git_set(request.user, template, url=request.POST.get("url", ""),
                                  path=request.POST.get("path", ""), credential_kind=kind,
                                  credential="" if clear else (credential or None), ip=client_ip(request))
    except (services.InvalidRequest, services.sources.SourceError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Repository saved." + (" Credential stored (it is not shown again)."
                                                          if credential and not clear else ""))
    return redirect("template_admin:detail", pk=template.pk)


def _lifecycle(request, pk, service, done):
    version = _managed_version(request, pk)
    try:
        service(request.user, version, ip=client_ip(request))
    except services.InvalidRequest as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(version=version.version))
    return redirect("template_admin:detail", pk=version.template_id)


@login_required
@require_POST
def template_version_publish(request, pk):
    return _lifecycle(request, pk, services.template_version_publish,
                      "{version} is published: new environments use it; older ones show “update available”.")


@login_required
@require_POST
def template_version_deprecate(request, pk):
    return _lifecycle(request, pk, services.template_version_deprecate,
                      "{version} is deprecated: its environments keep working; no new ones can use it.")


def _rule_from_post(post, name):
    mode = post.get(f"mode_{name}", policy.EDITABLE)
    rule = {"mode": mode}
    raw = post.get(f"value_{name}", "").strip()
    if mode == policy.LOCKED:
        rule["value"] = _loose_json(raw)
        rule["hidden"] = post.get(f"hidden_{name}") == "1"
    elif mode == policy.RESTRICTED:
        rule["choices"] = [_loose_json(line.strip()) for line in raw.splitlines() if line.strip()]
    rule["required"] = post.get(f"required_{name}") == "1"
    return rule


def _loose_json(text):
    """JSON when it parses (numbers, lists, objects, quoted strings), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@login_required
def template_admin_policy(request, pk):
    """The variable policy editor: per variable editable / locked / restricted, required, hidden."""
    template = _managed_template(request, pk)
    latest = selectors.template_version_latest(template, states=None)
    variables = [v for v in (latest.variables if latest else []) if v["name"] not in policy.INJECTED]
    rules = template.variable_policy or {}
    errors = {}
    if request.method == "POST" and latest is not None:
        submitted = {}
        for var in variables:
            rule = _rule_from_post(request.POST, var["name"])
            if rule["mode"] != policy.EDITABLE or rule.get("required"):
                submitted[var["name"]] = rule
        try:
            services.template_policy_set(request.user, template, submitted, ip=client_ip(request))
        except policy.PolicyError as exc:
            errors, rules = exc.errors, submitted
        except services.InvalidRequest as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Policy saved; it applies to new environments and to updates.")
            return redirect("template_admin:policy", pk=template.pk)
    rows = []
    for var in variables:
        rule = policy.rule_for(rules, var["name"])
        if rule["mode"] == policy.LOCKED:
            text = policy.schema_text(rule.get("value", ""))
        elif rule["mode"] == policy.RESTRICTED:
            text = "\n".join(policy.schema_text(c) for c in rule.get("choices", []))
        else:
            text = ""
        rows.append({"var": var, "rule": rule, "text": text, "error": errors.get(var["name"])})
    injected = [v["name"] for v in (latest.variables if latest else []) if v["name"] in policy.INJECTED]
    return render(request, "environments/template_policy.html", {
        "template": template, "latest": latest, "rows": rows, "injected": injected,
        "general_errors": [m for k, m in errors.items() if k not in {v["name"] for v in variables}],
    }, status=400 if errors else 200)


# --- Bulk upgrade ---------------------------------------------------------------------------------------------

@login_required
def upgrade_new(request, pk):
    """Pick the environments still on older versions to upgrade to version `pk`; planning starts on submit."""
    version = _managed_version(request, pk)
    if version.state != TemplateVersion.PUBLISHED:
        messages.error(request, "Only a published version can be rolled out.")
        return redirect("template_admin:detail", pk=version.template_id)
    candidates = selectors.environments_behind(version, request.user)
    if request.method == "POST":
        chosen_ids = {int(x) for x in request.POST.getlist("environment") if x.isdigit()}
        chosen = [e for e in candidates if e.pk in chosen_ids]
        if not chosen:
            messages.error(request, "Choose at least one environment.")
        else:
            batch = services.upgrade_batch_create(request.user, version, chosen, ip=client_ip(request))
            return redirect("template_admin:upgrade", pk=batch.pk)
    return render(request, "environments/upgrade_new.html", {"version": version, "candidates": candidates})


def _managed_batch(request, pk):
    batch = get_object_or_404(UpgradeBatch.objects.select_related("target_version__template__project"), pk=pk)
    if not selectors.template_list(request.user).filter(pk=batch.target_version.template_id).exists():
        raise Http404()
    if not has_perm(request.user, perms.TEMPLATE_MANAGE, batch.target_version.template.project):
        raise PermissionDenied("You may not manage this template.")
    return batch


@login_required
def upgrade_detail(request, pk):
    """Every environment's plan (summary and changed resources) on one page; one approval applies the chosen."""
    batch = _managed_batch(request, pk)
    if request.method == "POST":
        ids = [int(x) for x in request.POST.getlist("environment") if x.isdigit()]
        errors = services.upgrade_batch_approve(request.user, batch, ids, request.POST.get("comment", "")[:2000],
                                                ip=client_ip(request))
        for env_id, message in errors.items():
            messages.error(request, f"Environment #{env_id}: {message}")
        messages.success(request, f"Approved {len(ids) - len(errors)} upgrade(s); the other plans were discarded.")
        return redirect("template_admin:upgrade", pk=batch.pk)
    visible = scope(Environment.objects.all(), request.user, perms.ENVIRONMENT_VIEW).values("pk")
    updates = list(batch.updates.filter(environment__in=visible).select_related(
        "environment__project", "from_version", "run"))
    rows = []
    for update in updates:
        changes = list(update.run.events.filter(kind="planned_change").values_list("data", flat=True))
        rows.append({"update": update, "env": update.environment, "changes": changes})
    failed = Environment.objects.filter(pk__in=[int(k) for k in batch.errors]).filter(pk__in=visible).select_related(
        "project")
    return render(request, "environments/upgrade_detail.html", {
        "batch": batch,
        "rows": rows,
        "failed": [(e, batch.errors[str(e.pk)]) for e in failed],
        "waiting": sum(1 for u in updates if u.run.status == Run.AWAITING_APPROVAL),
        "planning": any(u.run.status in (Run.QUEUED, Run.PLANNING) for u in updates),
    })


# --- Environment update -----------------------------------------------------------------------------------

@login_required
def environment_update(request, pk):
    """Change an environment's version and/or variables: a plan is made and shown; apply on confirmation."""
    environment = get_object_or_404(scope(Environment.objects.select_related(
        "project", "template_version__template", "owner"), request.user, perms.ENVIRONMENT_VIEW), pk=pk)
    if not has_perm(request.user, perms.ENVIRONMENT_UPDATE, environment.project):
        raise PermissionDenied("You may not change environments in this project.")
    choices = selectors.environment_update_versions(environment)
    wanted = request.POST.get("version") or request.GET.get("version")
    version = next((v for v in choices if str(v.pk) == wanted), None)
    if version is None:
        version = selectors.environment_update_available(environment) or environment.template_version
    form = EnvironmentUpdateForm(version, request.POST or None, environment=environment)
    pending = selectors.environment_pending_update(environment)
    if request.method == "POST" and request.POST.get("submit") == "plan" and form.is_valid():
        try:
            update = services.environment_update_request(request.user, environment, version,
                                                         form.cleaned_data["values"], ip=client_ip(request))
        except services.PolicyViolation as exc:
            form.add_policy_errors(exc.errors)
        except (services.InvalidRequest, services.RunConflict) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Planning the change: review the plan, then confirm to apply it.")
            return redirect("runs:detail", pk=update.run_id)
    status = 400 if request.method == "POST" and request.POST.get("submit") == "plan" else 200
    return render(request, "environments/template_update.html", {
        "environment": environment, "version": version, "versions": choices, "form": form,
        "pending": pending, "update_available": selectors.environment_update_available(environment),
        "can_update": environment.status in (Environment.READY, Environment.FAILED) and pending is None,
    }, status=status)



@login_required
@require_POST
def template_admin_run_settings(request, pk):
    """Approval before apply, default/maximum lifetime and run timeout of a template."""
    template = _managed_template(request, pk)

    def number(name):
        raw = request.POST.get(name, "").strip()
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            return raw  # the service explains what it needs

    try:
        services.template_run_settings_set(
            request.user, template, ip=client_ip(request),
            requires_approval=request.POST.get("requires_approval") == "on",
            default_ttl_hours=number("default_ttl_hours"), max_ttl_hours=number("max_ttl_hours"),
            run_timeout_minutes=number("run_timeout_minutes"),
        )
    except services.InvalidRequest as exc:
        label = {"default_ttl_hours": "Default lifetime", "max_ttl_hours": "Maximum lifetime",
                 "run_timeout_minutes": "Run timeout"}.get(exc.field, "Run settings")
        messages.error(request, f"{label}: {exc}")
    else:
        messages.success(request, "Run settings saved; they apply to new runs and environments.")
    return redirect("template_admin:detail", pk=template.pk)
