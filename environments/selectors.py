"""Reads, always through the scoping function."""
from datetime import timedelta

from django.conf import settings
from django.db.models import Prefetch, Q
from django.utils import timezone

from environments.models import Environment, Run, RunEvent, Template, TemplateShare, TemplateVersion, WorkerHeartbeat
from rbac import permissions as perms
from rbac.models import Project
from rbac.scoping import has_perm, scope


def project_list(user, perm=perms.PROJECT_VIEW):
    """Projects where the user holds `perm`."""
    return scope(Project.objects.all(), user, perm)


def environment_list(user, project=None):
    """Environments the user may see, newest first, with what the list shows joined in."""
    qs = scope(Environment.objects.all(), user, perms.ENVIRONMENT_VIEW).select_related(
        "project", "template_version__template", "owner"
    )
    if project is not None:
        qs = qs.filter(project=project)
    return qs


def environment_get(user, pk):
    return environment_list(user).get(pk=pk)


def run_list(user, perm=perms.RUN_VIEW):
    return scope(Run.objects.all(), user, perm).select_related(
        "environment__project", "environment__template_version__template", "triggered_by"
    )


def run_events_after(run, after, limit=1000):
    """Events of `run` with seq > `after`: the one cursor contract of the log."""
    return list(RunEvent.objects.filter(run=run, seq__gt=after).order_by("seq")[:limit])


def template_versions_for_project(user, project):
    """Published versions the user may create environments from in `project`.

    A template is usable in a project when it is owned by it or shared with it (or with every project).
    """
    if not has_perm(user, perms.ENVIRONMENT_CREATE, project):
        return TemplateVersion.objects.none()
    return (
        TemplateVersion.objects.filter(state=TemplateVersion.PUBLISHED)
        .filter(
            Q(template__project=project)
            | Q(template__shares__project=project)
            | Q(template__shares__project__isnull=True, template__shares__isnull=False)
        )
        .select_related("template")
        .distinct()
        .order_by("template__name", "-created_at")
    )


def template_list(user):
    """Templates the user may see: owned by a project where they hold template.view, or shared with one."""
    owned = scope(Template.objects.all(), user, perms.TEMPLATE_VIEW).values("pk")
    projects = project_list(user).values("pk")
    shared = TemplateShare.objects.filter(Q(project__in=projects) | Q(project__isnull=True)).values("template_id")
    if not (user and user.is_authenticated):
        return Template.objects.none()
    return Template.objects.filter(Q(pk__in=owned) | Q(pk__in=shared)).select_related("project")


def template_catalog(user, query="", category=""):
    """The catalogue page's templates: visible to `user`, matching `query` in name or description and the
    category, each with its versions (light: without the parsed schema) in `version_list`."""
    templates = template_list(user)
    if query:
        templates = templates.filter(Q(name__icontains=query) | Q(description__icontains=query))
    if category:
        templates = templates.filter(category=category)
    versions = TemplateVersion.objects.defer("variables", "outputs")
    return templates.order_by("name", "pk").prefetch_related(Prefetch("versions", versions, to_attr="version_list"))


def template_categories(user):
    """Categories of the templates `user` may see, for the catalogue's filter."""
    return sorted(set(template_list(user).exclude(category="").values_list("category", flat=True)))


def version_latest(versions):
    """The version a template page leads with: the highest published version number (the one new environments
    get), else the highest of any state; None for none."""
    versions = list(versions)
    published = [v for v in versions if v.state == TemplateVersion.PUBLISHED]
    return max(published or versions, key=lambda v: v.sort_key) if versions else None


def template_available_in(environment):
    """True while the environment's template is still owned by or shared with the environment's project."""
    template = environment.template_version.template
    if template.project_id == environment.project_id:
        return True
    return TemplateShare.objects.filter(template=template).filter(
        Q(project=environment.project_id) | Q(project__isnull=True)
    ).exists()


def workers_alive():
    """Workers whose main process reported in recently."""
    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    return WorkerHeartbeat.objects.filter(last_seen__gte=cutoff)


def run_queue_info(run):
    """Why a queued run waits: its place in the queue, how many runs are executing, how many workers live."""
    return {
        "ahead": Run.objects.filter(status=Run.QUEUED, pk__lt=run.pk).count(),
        "running": Run.objects.filter(status__in=(Run.PLANNING, Run.APPLYING, Run.DESTROYING)).count(),
        "workers": workers_alive().count(),
    }


# --- Template management ------------------------------------------------------------------------------------

def template_manage_list(user):
    """Templates the user may manage (import versions, publish, set policy): template.manage on the owner."""
    return scope(Template.objects.all(), user, perms.TEMPLATE_MANAGE).select_related("project")


def template_version_latest(template, states=(TemplateVersion.PUBLISHED,)):
    """The highest version of `template` in `states` (any state when None), by version number."""
    versions = template.versions.all()
    if states is not None:
        versions = versions.filter(state__in=states)
    versions = list(versions)
    return max(versions, key=lambda v: v.sort_key) if versions else None


def template_versions_sorted(template):
    """All versions of `template`, highest version first."""
    return sorted(template.versions.select_related("imported_by"), key=lambda v: v.sort_key, reverse=True)


def environment_update_available(environment):
    """The newest published version of the environment's template above its pinned one, or None."""
    latest = template_version_latest(environment.template_version.template)
    if latest is None or latest.pk == environment.template_version_id:
        return None
    return latest if latest.sort_key > environment.template_version.sort_key else None


def environment_update_versions(environment):
    """Versions an environment may move to: published ones plus the one it is on (even if deprecated)."""
    template = environment.template_version.template
    versions = [v for v in template_versions_sorted(template)
                if v.state == TemplateVersion.PUBLISHED or v.pk == environment.template_version_id]
    return versions


def environments_behind(version, user=None):
    """Live environments of the version's template on a lower version (bulk-upgrade candidates); with `user`,
    only those the user may update (a template admin does not learn other projects' environment names)."""
    key = version.sort_key
    envs = Environment.objects.all() if user is None else scope(Environment.objects.all(), user,
                                                                perms.ENVIRONMENT_UPDATE)
    envs = envs.filter(template_version__template=version.template_id).exclude(
        status=Environment.DESTROYED).select_related("project", "template_version", "owner").order_by(
        "project__slug", "name")
    return [e for e in envs if e.template_version.sort_key < key]


def environment_pending_update(environment):
    """The update waiting for (or running after) confirmation, if any."""
    from environments.models import EnvironmentUpdate

    return EnvironmentUpdate.objects.filter(environment=environment, status=EnvironmentUpdate.PENDING,
                                            run__status__in=Run.ACTIVE).select_related("run", "to_version").first()
