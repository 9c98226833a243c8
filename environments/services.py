"""Writes: templates, environments and runs. Each service re-checks permissions with the acting user."""
import gzip
import hashlib
import io
import logging
import tarfile
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments import crypto, metadata, policy, schema, selectors, sources
from environments.models import (
    Environment,
    EnvironmentUpdate,
    Run,
    RunEvent,
    Snapshot,
    Template,
    TemplateShare,
    TemplateVersion,
    UpgradeBatch,
)
from environments.runs import TransitionRefused, next_seq, run_transition
from rbac import permissions as perms
from rbac.audit import audit
from rbac.models import Project
from rbac.scoping import has_perm

log = logging.getLogger(__name__)

# Files a template snapshot never includes.
_SKIP_NAMES = {".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.backup", ".git"}


class RunConflict(Exception):
    """The environment already has an active run."""


class InvalidRequest(Exception):
    """The request cannot be carried out as asked; the message says why (and `field`, which input it is about,
    when there is one)."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class QuotaExceeded(InvalidRequest):
    """A project or per-user limit on active environments is reached."""


class PolicyViolation(InvalidRequest):
    """Variable values that break the template's policy; `errors` maps each variable name to why."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _resolve_values(version, values, **kwargs):
    try:
        return policy.resolve_values(version, version.template.variable_policy, values, **kwargs)
    except policy.PolicyError as exc:
        raise PolicyViolation(exc.errors) from exc


def _with_injected(environment, version, values):
    """`values` plus the portal-filled variables `version` declares (environment id, name, project, owner)."""
    declared = {v["name"] for v in version.variables}
    return {**values, **{k: v for k, v in policy.injected_values(environment).items() if k in declared}}
class PreflightFailed(InvalidRequest):
    """A check before queueing failed (credentials, Bedrock model, no worker); `problems` is
    [(variable name or None, reason)] so a form can show each next to its field."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__(" ".join(reason for _, reason in problems))


def _preflight(version, values):
    """Raise PreflightFailed when a run of `version` with `values` would fail before Terraform starts."""
    from environments import aws

    problems = aws.environment_preflight(version, values)
    if problems:
        raise PreflightFailed(problems)


# --- Templates -----------------------------------------------------------------------------------------

def snapshot_create(folder: Path) -> Snapshot:
    """A content-addressed, reproducible archive of a template folder (same files → same hash)."""
    folder = Path(folder)
    root = folder.resolve()
    buf = io.BytesIO()
    # mtime=0 in the gzip header and on every entry: the same files always give the same bytes and hash.
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if any(part in _SKIP_NAMES for part in rel.parts):
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise InvalidRequest(f"{rel}: a symlink pointing outside the template; refused.")
            if not path.is_file():  # folders (symlinked ones are not followed by rglob), dangling links
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(str(rel))
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    sha = hashlib.sha256(archive).hexdigest()
    snapshot, _ = Snapshot.objects.get_or_create(sha256=sha, defaults={"archive": archive, "size": len(archive)})
    return snapshot


def snapshot_extract(snapshot: Snapshot, dest: Path):
    """Unpack a snapshot into `dest` (the archives are ours, but refuse anything leaving the folder)."""
    with tarfile.open(fileobj=io.BytesIO(bytes(snapshot.archive)), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")


@transaction.atomic
def template_import_catalog(project, folder: Path, *, publish=True, actor=None):
    """Import a bundled catalogue folder as a template version of `project` (idempotent per content).

    Raises schema.SchemaError (naming file and line) when the Terraform cannot be parsed; nothing is saved.
    """
    folder = Path(folder)
    parsed = schema.parse_module(folder)
    meta = schema.load_metadata(folder)
    extra = metadata.metadata_read(folder)
    template, template_created = Template.objects.get_or_create(
        project=project,
        slug=folder.name,
        defaults={"name": meta["name"]},
    )
    run_settings = schema.load_run_settings(folder)
    if template_created and run_settings:
        # The folder's suggested run settings, for a new template only: afterwards the platform team owns them.
        _run_settings_apply(template, **_run_settings_from_metadata(run_settings))
    template.name = meta["name"]
    template.description = meta.get("description", "")
    template.category = meta.get("category", "")
    template.icon = meta.get("icon", "")
    readme = folder / "README.md"
    template.readme = readme.read_text() if readme.exists() else ""
    template.save()
    snapshot = snapshot_create(folder)
    version, created = TemplateVersion.objects.get_or_create(
        template=template,
        version=str(meta.get("version", "1.0.0")),
        defaults={
            "source": TemplateVersion.CATALOG,
            "source_ref": f"catalog/{folder.name}",
            "snapshot": snapshot,
            "variables": parsed["variables"],
            "outputs": parsed["outputs"],
            "metadata": extra,
            "changelog": metadata.changelog_for(extra, meta.get("version", "1.0.0")),
            "state": TemplateVersion.PUBLISHED if publish else TemplateVersion.DRAFT,
        },
    )
    if not created and version.snapshot_id != snapshot.pk:
        raise InvalidRequest(
            f"{template.name} {version.version} is already imported with different files; "
            "versions are immutable, raise the version in terrace.yaml."
        )
    if created:
        audit(actor, "template_version.import", version, project=project, data={"version": version.version})
    return version


RUN_SETTING_FIELDS = ("requires_approval", "default_ttl_hours", "max_ttl_hours", "run_timeout_minutes")


def _run_settings_from_metadata(run):
    """terrace.yaml's `run:` block -> template_run_settings_set arguments (unknown keys are an error)."""
    names = {"requires_approval": "requires_approval", "default_ttl_hours": "default_ttl_hours",
             "max_ttl_hours": "max_ttl_hours", "timeout_minutes": "run_timeout_minutes"}
    unknown = set(run) - set(names)
    if unknown:
        raise InvalidRequest(f"terrace.yaml run: unknown settings {sorted(unknown)}; known: {sorted(names)}")
    return {names[k]: v for k, v in run.items()}


def _run_settings_apply(template, *, requires_approval=False, default_ttl_hours=None, max_ttl_hours=None,
                        run_timeout_minutes=None):
    for name, value in (("default_ttl_hours", default_ttl_hours), ("max_ttl_hours", max_ttl_hours),
                        ("run_timeout_minutes", run_timeout_minutes)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InvalidRequest("Use a whole number, at least 1 (or leave it empty).", name)
    if default_ttl_hours and max_ttl_hours and default_ttl_hours > max_ttl_hours:
        raise InvalidRequest("The default lifetime cannot be longer than the maximum.", "default_ttl_hours")
    template.requires_approval = bool(requires_approval)
    template.default_ttl_hours = default_ttl_hours
    template.max_ttl_hours = max_ttl_hours
    template.run_timeout_minutes = run_timeout_minutes
    template.save(update_fields=list(RUN_SETTING_FIELDS))


def template_run_settings_set(user, template, *, ip=None, **settings_):
    """Set a template's run policy: approval before apply, default and maximum lifetime, run timeout."""
    if not has_perm(user, perms.TEMPLATE_MANAGE, template.project):
        raise PermissionDenied("You may not manage this template.")
    before = {f: getattr(template, f) for f in RUN_SETTING_FIELDS}
    with transaction.atomic():
        _run_settings_apply(template, **settings_)
        audit(user, "template.run_settings", template, project=template.project, ip=ip,
              data={"before": before, "after": {f: getattr(template, f) for f in RUN_SETTING_FIELDS}})
    return template


@transaction.atomic
def template_share(template, project, *, actor=None):
    """Offer `template` to `project` (None: every project)."""
    if actor is not None and not has_perm(actor, perms.TEMPLATE_SHARE, template.project):
        raise PermissionDenied("You may not share templates of this project.")
    share, created = TemplateShare.objects.get_or_create(template=template, project=project)
    if created:
        audit(actor, "template.share", template, project=template.project,
              data={"project": project.slug if project else "*"})
    return share


@transaction.atomic
def template_unshare(template, project, *, actor=None):
    """Stop offering `template` to `project` (None: the "all projects" share). Existing environments keep
    working; new ones can no longer be created from it there."""
    if actor is not None and not has_perm(actor, perms.TEMPLATE_SHARE, template.project):
        raise PermissionDenied("You may not share templates of this project.")
    deleted, _ = TemplateShare.objects.filter(template=template, project=project).delete()
    if deleted:
        audit(actor, "template.unshare", template, project=template.project,
              data={"project": project.slug if project else "*"})
    return bool(deleted)


# --- Template management: versions from Git / archives / catalogue, lifecycle, policy -----------------------
# Import happens in the web process: it runs `git` and the HCL parser, never Terraform, and is bounded (git
# timeout, size and file-count limits in environments.sources), so the admin sees a parse error on the form
# at once instead of polling a task.

def _require_manage(actor, template_or_project):
    project = getattr(template_or_project, "project", template_or_project)
    if actor is None or not has_perm(actor, perms.TEMPLATE_MANAGE, project):
        raise PermissionDenied("You may not manage templates of this project.")


def template_create(actor, project, *, slug, name, description="", category="", icon="", ip=None):
    """A new, empty template owned by `project` (its versions are imported next)."""
    _require_manage(actor, project)
    with transaction.atomic():
        if Template.objects.filter(project=project, slug=slug).exists():
            raise InvalidRequest(f"{project.name} already has a template {slug!r}.")
        template = Template.objects.create(project=project, slug=slug, name=name, description=description,
                                           category=category, icon=icon)
        audit(actor, "template.create", template, project=project, data={"slug": slug}, ip=ip)
    return template


def _version_check(template, version):
    version = (version or "").strip()
    if not version:
        raise InvalidRequest("Enter a version (e.g. 1.2.0).")
    if len(version) > 50 or any(c.isspace() for c in version):
        raise InvalidRequest("A version is at most 50 characters, without spaces.")
    if TemplateVersion.objects.filter(template=template, version=version).exists():
        raise InvalidRequest(f"Version {version} of {template.name} already exists; versions are immutable.")
    return version


def _version_from_folder(actor, template, folder, *, version, source, source_ref="", source_url="",
                         source_path="", resolved_commit="", changelog="", ip=None):
    """Parse, snapshot and save a draft version from a fetched folder, all or nothing.

    A SchemaError (file and line) or a refused symlink leaves nothing behind: the version row, the snapshot
    and the template's README change are in one transaction.
    """
    folder = Path(folder)
    if not (folder / "variables.tf").is_file():
        raise InvalidRequest(f"variables.tf not found in {source_path or 'the top folder'} "
                             "(a template declares its inputs there).")
    try:
        parsed = schema.parse_module(folder)
        extra = metadata.metadata_read(folder)  # cost estimate, changelog, apply phases when terrace.yaml has them
    except schema.SchemaError as exc:
        raise InvalidRequest(f"Cannot import: {exc}") from exc
    readme = folder / "README.md"
    with transaction.atomic():
        version = _version_check(template, version)
        snapshot = snapshot_create(folder)
        created = TemplateVersion.objects.create(
            template=template, version=version, state=TemplateVersion.DRAFT, source=source,
            source_ref=source_ref[:500], source_url=source_url, source_path=source_path,
            resolved_commit=resolved_commit, snapshot=snapshot, variables=parsed["variables"],
            outputs=parsed["outputs"], changelog=changelog or metadata.changelog_for(extra, version),
            metadata=extra, imported_by=actor,
        )
        if readme.is_file() and not template.readme:
            Template.objects.filter(pk=template.pk).update(readme=readme.read_text(errors="replace")[:100_000])
        audit(actor, "template_version.import", created, project=template.project, ip=ip, data={
            "version": version, "source": source, "ref": source_ref, "commit": resolved_commit,
            "snapshot": snapshot.sha256,
        })
    return created


def template_git_set(actor, template, *, url, path="", credential_kind="", credential=None, ip=None):
    """Remember the template's Git repository and credential. `credential` None keeps the stored one; ""
    clears it. The credential is encrypted and never shown again."""
    _require_manage(actor, template)
    url = sources.git_url_check(url)
    if credential_kind not in ("", "ssh_key", "token"):
        raise InvalidRequest("Unknown credential kind.")
    template.git_url, template.git_path = url, (path or "").strip().strip("/")
    fields = ["git_url", "git_path"]
    if credential is not None:
        template.git_credential_kind = credential_kind if credential else ""
        template.git_credential = crypto.encrypt_bytes(credential.encode()) if credential else ""
        fields += ["git_credential_kind", "git_credential"]
    with transaction.atomic():
        template.save(update_fields=fields)
        audit(actor, "template.git_set", template, project=template.project, ip=ip, data={
            "url": url, "path": template.git_path, "credential": template.git_credential_kind or "none",
            "credential_changed": credential is not None,
        })
    return template


def template_version_import_git(actor, template, *, version, ref="", url=None, path=None, changelog="", ip=None):
    """Import `ref` of the template's Git repository (or `url`/`path`) as a draft version; records the commit."""
    _require_manage(actor, template)
    url = url or template.git_url
    path = template.git_path if path is None else path
    credential = crypto.decrypt_bytes(template.git_credential).decode() if template.git_credential else ""
    _version_check(template, version)  # before fetching anything
    try:
        with sources.git_checkout(url, ref, path, template.git_credential_kind, credential) as (folder, commit):
            return _version_from_folder(
                actor, template, folder, version=version, source=TemplateVersion.GIT, source_ref=ref or "HEAD",
                source_url=url, source_path=(path or "").strip("/"), resolved_commit=commit, changelog=changelog,
                ip=ip,
            )
    except sources.SourceError as exc:
        raise InvalidRequest(str(exc)) from exc


def template_version_import_archive(actor, template, *, filename, data, version, path="", changelog="", ip=None):
    """Import an uploaded .zip / .tar.gz as a draft version, after checking every entry (sources)."""
    _require_manage(actor, template)
    _version_check(template, version)
    try:
        with sources.archive_checkout(filename, data, path) as folder:
            return _version_from_folder(
                actor, template, folder, version=version, source=TemplateVersion.UPLOAD,
                source_ref=Path(filename).name, source_path=(path or "").strip("/"),
                resolved_commit=hashlib.sha256(data).hexdigest(), changelog=changelog, ip=ip,
            )
    except sources.SourceError as exc:
        raise InvalidRequest(str(exc)) from exc


def template_version_import_folder(actor, project, folder, *, ip=None):
    """Import a bundled catalogue folder (as `template_import_catalog`, as a draft) on an admin's request."""
    _require_manage(actor, project)
    try:
        return template_import_catalog(project, folder, publish=False, actor=actor)
    except schema.SchemaError as exc:
        raise InvalidRequest(f"Cannot import: {exc}") from exc


def template_version_publish(actor, version, *, ip=None):
    """draft → published: new environments may use it; environments on older versions see "update available"."""
    _require_manage(actor, version.template)
    with transaction.atomic():
        if TemplateVersion.objects.filter(pk=version.pk, state=TemplateVersion.DRAFT).update(
                state=TemplateVersion.PUBLISHED, published_at=timezone.now()) != 1:
            version.refresh_from_db()
            raise InvalidRequest(f"Only a draft can be published ({version.version} is {version.state}).")
        audit(actor, "template_version.publish", version, project=version.template.project, ip=ip,
              data={"version": version.version})
    version.refresh_from_db()
    return version


def template_version_deprecate(actor, version, *, ip=None):
    """published → deprecated: environments on it keep working and can still be updated; no new ones."""
    _require_manage(actor, version.template)
    with transaction.atomic():
        if TemplateVersion.objects.filter(pk=version.pk, state=TemplateVersion.PUBLISHED).update(
                state=TemplateVersion.DEPRECATED, deprecated_at=timezone.now()) != 1:
            version.refresh_from_db()
            raise InvalidRequest(f"Only a published version can be deprecated ({version.version} is {version.state}).")
        audit(actor, "template_version.deprecate", version, project=version.template.project, ip=ip,
              data={"version": version.version})
    version.refresh_from_db()
    return version


def template_policy_set(actor, template, rules, *, ip=None):
    """Replace the template's variable policy, checked against its newest version's variables."""
    _require_manage(actor, template)
    latest = selectors.template_version_latest(template, states=None)
    if latest is None:
        raise InvalidRequest("Import a version first: the policy is checked against its variables.")
    cleaned = policy.policy_validate(rules, latest.variables)  # PolicyError names the variable
    with transaction.atomic():
        old = template.variable_policy
        Template.objects.filter(pk=template.pk).update(variable_policy=cleaned)
        # Locked values are not secret (sensitive variables cannot be locked), so the audit keeps them.
        audit(actor, "template.policy_set", template, project=template.project, ip=ip,
              data={"before": old, "after": cleaned})
    template.variable_policy = cleaned
    return template


# --- Environments and runs -----------------------------------------------------------------------------

def _enqueue(run_id):
    # By task name: the web side never imports worker code.
    from portal.celery import app

    app.send_task("tasks.run_execute", args=[run_id])


def run_request(environment, operation, user, *, confirm=False):
    """Queue a run of `operation` on `environment`; the worker is told once the row is committed.

    An apply stops after its plan and waits when the template requires approval (someone with `run.approve`
    decides) or when `confirm` is asked for (the requester confirms the plan they saw, e.g. an update).
    Raises RunConflict when the environment already has an active run (a database constraint decides).
    """
    now = timezone.now()
    gate = Run.GATE_NONE
    if operation == Run.APPLY:
        if environment.template_version.template.requires_approval:
            gate = Run.GATE_APPROVAL
        elif confirm:
            gate = Run.GATE_CONFIRMATION
    prior = Environment.objects.values_list("status", flat=True).get(pk=environment.pk)
    try:
        with transaction.atomic():
            run = Run.objects.create(environment=environment, operation=operation, triggered_by=user, gate=gate,
                                     prior_status=prior)
            status = Environment.PROVISIONING if operation == Run.APPLY else Environment.DESTROYING
            Environment.objects.filter(pk=environment.pk).update(status=status, status_reason="", updated_at=now)
    except IntegrityError as exc:
        raise RunConflict("This environment already has a run in progress; wait for it to finish.") from exc
    RunEvent.objects.create(
        run=run, seq=next_seq(run.pk), created_at=now, kind="status", message=Run.QUEUED,
        data={"status": Run.QUEUED},
    )
    transaction.on_commit(lambda: _enqueue(run.pk))
    environment.status = status
    return run


def _decision_check(user, run):
    """Who may decide on a plan: `run.approve` for an approval gate, the environment's updaters for a
    confirmation gate."""
    project = run.environment.project
    if run.gate == Run.GATE_APPROVAL and not has_perm(user, perms.RUN_APPROVE, project):
        raise PermissionDenied("Approving or rejecting plans needs the run.approve permission in this project.")
    if not has_perm(user, perms.ENVIRONMENT_UPDATE, project) and not has_perm(user, perms.RUN_APPROVE, project):
        raise PermissionDenied("You may not decide on plans in this project.")
    if run.status != Run.AWAITING_APPROVAL:
        raise InvalidRequest(f"This run is not waiting for a decision (it is {run.get_status_display().lower()}).")


def run_approve(run, user, comment="", *, ip=None):
    """Approve (or confirm) a plan that waits: the run is queued again and a worker applies the saved plan."""
    _decision_check(user, run)
    with transaction.atomic():
        try:
            run_transition(run, Run.APPROVED, only_from={Run.AWAITING_APPROVAL}, decided_by=user,
                           decided_at=timezone.now(), decision_comment=comment)
        except TransitionRefused as exc:
            raise InvalidRequest("This plan was decided on or expired meanwhile.") from exc
        audit(user, "run.approve", run, project=run.environment.project, data={"comment": comment}, ip=ip)
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def run_reject(run, user, comment="", *, ip=None):
    """Reject a plan that waits: nothing is applied; the environment is left as it was."""
    _decision_check(user, run)
    who = user.get_username()
    reason = f"rejected by {who}" + (f": {comment}" if comment else ".")
    with transaction.atomic():
        try:
            run_transition(run, Run.DISCARDED, only_from={Run.AWAITING_APPROVAL}, error=reason, plan_file="",
                           decided_by=user, decided_at=timezone.now(), decision_comment=comment)
        except TransitionRefused as exc:
            raise InvalidRequest("This plan was decided on or expired meanwhile.") from exc
        audit(user, "run.reject", run, project=run.environment.project, data={"comment": comment}, ip=ip)
    return run


def split_values(version, values):
    """Split form values into (clear, secret) by the template's `sensitive` flags."""
    sensitive = {v["name"] for v in version.variables if v.get("sensitive")}
    clear = {k: v for k, v in values.items() if k not in sensitive}
    secret = {k: v for k, v in values.items() if k in sensitive}
    return clear, secret


def environment_lifetime(template, hours):
    """When an environment of `template` living `hours` expires (None: it does not). `hours=None` takes the
    template's default. Raises InvalidRequest beyond the template's maximum."""
    if hours is None:
        hours = template.default_ttl_hours
    if hours is None:
        if template.max_ttl_hours:
            hours = template.max_ttl_hours  # a template with a maximum never makes immortal environments
        else:
            return None
    if hours <= 0:
        raise InvalidRequest("The lifetime must be at least one hour.", "lifetime_hours")
    if template.max_ttl_hours and hours > template.max_ttl_hours:
        raise InvalidRequest(f"{template.name} environments live at most {template.max_ttl_hours} hours.",
                             "lifetime_hours")
    return timezone.now() + timedelta(hours=hours)


def _quota_check(project, user):
    """Raise QuotaExceeded when a new environment would pass the project's or the per-user limit. Call inside
    the creating transaction, after locking the project row, so two concurrent creates cannot both pass."""
    active = Environment.objects.filter(project=project).exclude(status=Environment.DESTROYED)
    if project.max_environments is not None and active.count() >= project.max_environments:
        raise QuotaExceeded(
            f"{project.name} has reached its limit of {project.max_environments} active environments. Destroy one "
            "you no longer need, or ask an org admin to raise the limit."
        )
    if project.max_environments_per_user is not None:
        mine = active.filter(owner=user).count()
        if mine >= project.max_environments_per_user:
            raise QuotaExceeded(
                f"You already own {mine} active environments in {project.name}, the limit per person. Destroy one "
                "you no longer need, or ask an org admin to raise the limit."
            )


def environment_create(user, project, version, name, values, *, lifetime_hours=None, ip=None):
    """Create an environment from a published, shared template version and queue its first apply."""
    if not has_perm(user, perms.ENVIRONMENT_CREATE, project):
        raise PermissionDenied("You may not create environments in this project.")
    if not selectors.template_versions_for_project(user, project).filter(pk=version.pk).exists():
        raise InvalidRequest("This template is not available to this project.")
    # The template's variable policy is enforced here, not only in the form: the API gets the same answer.
    values = _resolve_values(version, values)
    expires_at = environment_lifetime(version.template, lifetime_hours)
    _preflight(version, values)
    clear, secret = split_values(version, values)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # serialises quota checks per project
        project.refresh_from_db(fields=["max_environments", "max_environments_per_user"])
        if Environment.objects.filter(project=project, name=name).exclude(status=Environment.DESTROYED).exists():
            raise InvalidRequest(f"An environment named {name!r} already exists in {project.name}.", "name")
        _quota_check(project, user)
        environment = Environment.objects.create(
            project=project,
            template_version=version,
            name=name,
            owner=user,
            variables=clear,
            secret_variables=crypto.encrypt_json(secret) if secret else "",
            expires_at=expires_at,
        )
        injected = _with_injected(environment, version, clear)
        if injected != clear:  # the id is known only now
            environment.variables = injected
            Environment.objects.filter(pk=environment.pk).update(variables=injected)
        run = run_request(environment, Run.APPLY, user)
        audit(user, "environment.create", environment, project=project,
              data={"template": version.template.slug, "version": version.version,
                    "expires_at": expires_at.isoformat() if expires_at else None}, ip=ip)
    return environment, run


def environment_may_extend(user, environment):
    """Whether `user` may change the environment's lifetime: its owner (while they may update environments
    there) or a project admin."""
    project = environment.project
    return has_perm(user, perms.PROJECT_MANAGE, project) or (
        environment.owner_id == user.pk and has_perm(user, perms.ENVIRONMENT_UPDATE, project))


def environment_extend(environment, user, expires_at, *, ip=None):
    """Move an environment's expiry (its owner, or a project admin), at most the template's maximum from now."""
    project = environment.project
    if not environment_may_extend(user, environment):
        raise PermissionDenied("Only the environment's owner or a project admin may change its lifetime.")
    if environment.status == Environment.DESTROYED:
        raise InvalidRequest("This environment is destroyed.")
    template = environment.template_version.template
    now = timezone.now()
    if expires_at is None:
        if template.max_ttl_hours:
            raise InvalidRequest(f"{template.name} environments must have an expiry.", "expires_at")
    elif expires_at <= now:
        raise InvalidRequest("The new expiry must be in the future.", "expires_at")
    elif template.max_ttl_hours and expires_at > now + timedelta(hours=template.max_ttl_hours, minutes=1):
        raise InvalidRequest(
            f"{template.name} environments may be extended to at most {template.max_ttl_hours} hours from now.",
            "expires_at",
        )
    before = environment.expires_at
    Environment.objects.filter(pk=environment.pk).update(expires_at=expires_at, expiry_notices_sent=[],
                                                         updated_at=now)
    environment.expires_at, environment.expiry_notices_sent = expires_at, []
    audit(user, "environment.extend", environment, project=project, ip=ip, data={
        "before": before.isoformat() if before else None, "after": expires_at.isoformat() if expires_at else None,
    })
    return environment


def environment_retry(user, environment, *, ip=None):
    """Run `apply` again on a failed environment, with the same template version and variables."""
    if not has_perm(user, perms.ENVIRONMENT_UPDATE, environment.project):
        raise PermissionDenied("You may not change environments in this project.")
    if environment.status != Environment.FAILED:
        raise InvalidRequest(f"Only a failed environment can be retried (this one is {environment.status}).")
    _preflight(environment.template_version, environment.variables)
    with transaction.atomic():
        run = run_request(environment, Run.APPLY, user)
        audit(user, "environment.retry", environment, project=environment.project, ip=ip)
    return run


def environment_destroy(user, environment, *, ip=None):
    """Queue `terraform destroy` for an environment."""
    if not has_perm(user, perms.ENVIRONMENT_DESTROY, environment.project):
        raise PermissionDenied("You may not destroy environments in this project.")
    if environment.status == Environment.DESTROYED:
        raise InvalidRequest("This environment is already destroyed.")
    with transaction.atomic():
        run = run_request(environment, Run.DESTROY, user)
        audit(user, "environment.destroy", environment, project=environment.project, ip=ip)
    return run


def environment_leftovers(environment):
    """What may still exist of an environment: the resources in its latest state (and, for templates with AWS
    credentials, what still carries its tags; see `environments.aws`)."""
    from environments import aws
    from environments.state import state_resources

    leftovers = {"state": state_resources(environment), "tagged": None, "tagged_error": ""}
    credential_set = environment.template_version.template.credential_set
    if credential_set is not None and credential_set.has_aws_role:
        try:
            leftovers["tagged"] = aws.aws_resources_tagged(environment)
        except aws.AwsError as exc:  # the page still lists the state; it says why the cloud was not searched
            leftovers["tagged_error"] = str(exc)
    return leftovers


def environment_forget(user, environment, note="", *, ip=None):
    """End a failed environment without Terraform (a project admin): "mark as cleaned up" after fixing things by
    hand, or delete a record whose destroy cannot succeed. What it leaves behind is written down in the audit
    log and on the environment."""
    if not has_perm(user, perms.PROJECT_MANAGE, environment.project):
        raise PermissionDenied("Only project admins may mark environments as cleaned up.")
    if environment.status != Environment.FAILED:
        raise InvalidRequest("Only a failed environment can be marked as cleaned up; destroy it instead.")
    leftovers = environment_leftovers(environment)
    listed = ", ".join(leftovers["state"]) or "nothing"
    reason = (f"Marked as cleaned up by {user.get_username()}" + (f": {note}" if note else ".")
              + f" Left in its last state: {listed}.")
    if leftovers["tagged"]:
        reason += " Still tagged in AWS: " + ", ".join(r["arn"] for r in leftovers["tagged"]) + "."
    with transaction.atomic():
        updated = Environment.objects.filter(pk=environment.pk, status=Environment.FAILED).exclude(
            runs__status__in=Run.ACTIVE).update(status=Environment.DESTROYED, status_reason=reason,
                                                 outputs={}, updated_at=timezone.now())
        if not updated:
            raise InvalidRequest("A run started on this environment meanwhile; wait for it to finish.")
        audit(user, "environment.forget", environment, project=environment.project, ip=ip,
              data={"note": note, "leftovers": leftovers})
    environment.status, environment.status_reason = Environment.DESTROYED, reason
    return environment


def state_download(user, environment, *, ip=None):
    """The environment's current state document, for someone with `state.read` (audited)."""
    from environments.state import state_latest

    if not has_perm(user, perms.STATE_READ, environment.project):
        raise PermissionDenied("Downloading state needs the state.read permission.")
    latest = state_latest(environment)
    if latest is None:
        raise InvalidRequest("This environment has no state yet.")
    audit(user, "state.download", environment, project=environment.project,
          data={"serial": latest.serial, "state_version": latest.pk}, ip=ip)
    return crypto.decrypt_bytes(latest.encrypted_state)


def environment_secret_values(environment):
    """Decrypted sensitive variable values (worker only: never rendered)."""
    return crypto.decrypt_json(environment.secret_variables)


def run_cancel(user, run, *, ip=None):
    """Cancel a run: a queued one ends at once; a running one is interrupted by its worker (SIGINT to
    Terraform, which saves the state written so far) at its next heartbeat."""
    if not has_perm(user, perms.RUN_CANCEL, run.environment.project):
        raise PermissionDenied("You may not cancel runs in this project.")
    if run.status in (Run.AWAITING_APPROVAL, Run.APPROVED):
        # No worker holds it: it ends at once. A plan that waits is discarded (nothing was applied); an approved
        # one that no worker has taken yet is canceled.
        target = Run.DISCARDED if run.status == Run.AWAITING_APPROVAL else Run.CANCELED
        try:
            run_transition(run, target, only_from={run.status}, plan_file="",
                           error=f"canceled by {user.get_username()} before it was applied.")
            audit(user, "run.cancel", run, project=run.environment.project, ip=ip)
            return run
        except TransitionRefused:
            run.refresh_from_db()
    if run.status == Run.QUEUED:
        try:
            run_transition(run, Run.CANCELED, only_from={Run.QUEUED},
                           error=f"Canceled by {user.get_username()} before it started.")
            audit(user, "run.cancel", run, project=run.environment.project, ip=ip)
            return run
        except TransitionRefused:
            run.refresh_from_db()  # a worker claimed it meanwhile: cancel the running run instead
    requested = Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE, cancel_requested_at__isnull=True).update(
        cancel_requested_at=timezone.now()
    )
    if not requested and run.status not in Run.ACTIVE:
        raise InvalidRequest(f"This run has already ended ({run.status}).")
    if requested:
        audit(user, "run.cancel", run, project=run.environment.project, ip=ip)
    run.refresh_from_db()
    return run


# --- Template management: environment updates and bulk upgrades -------------------------------------------
# An update is an apply run that stops after its plan (the lead's confirmation gate, or the approval gate when
# the template requires approval) and carries its target version and values in an EnvironmentUpdate. The
# environment stays pinned to its version and values until the worker has applied the plan.

def run_inputs(run):
    """(template version, clear values, secret values) a run applies: the update's target when the run carries
    an update, else the environment's own. Worker side; never rendered."""
    update = EnvironmentUpdate.objects.filter(run=run.pk).select_related("to_version__snapshot").first()
    environment = run.environment
    if update is not None:
        return update.to_version, dict(update.variables), crypto.decrypt_json(update.secret_variables)
    return environment.template_version, dict(environment.variables), environment_secret_values(environment)


def environment_update_applied(run):
    """After the update's apply succeeded: pin the environment to the new version and values (worker side)."""
    with transaction.atomic():
        update = EnvironmentUpdate.objects.select_for_update().filter(
            run=run.pk, status=EnvironmentUpdate.PENDING).first()
        if update is None:
            return None
        Environment.objects.filter(pk=update.environment_id).update(
            template_version=update.to_version_id, variables=update.variables,
            secret_variables=update.secret_variables, updated_at=timezone.now(),
        )
        update.status = EnvironmentUpdate.APPLIED
        update.save(update_fields=["status"])
        audit(None, "environment.update_applied", update.environment, project=update.environment.project,
              data={"run": run.pk, "from": update.from_version.version, "to": update.to_version.version})
    return update


def environment_update_request(user, environment, version, values, *, batch=None, ip=None):
    """Plan a change of `environment` to `version` with `values` (names left out keep their current value);
    the plan waits for confirmation, then is applied. Returns the EnvironmentUpdate.

    Blank sensitive values keep the stored secret. The template's policy applies as on create.
    """
    if not has_perm(user, perms.ENVIRONMENT_UPDATE, environment.project):
        raise PermissionDenied("You may not change environments in this project.")
    if environment.status not in (Environment.READY, Environment.FAILED):
        raise InvalidRequest(f"Only a ready or failed environment can be updated (this one is {environment.status}).")
    current_version = environment.template_version
    if version.template_id != current_version.template_id:
        raise InvalidRequest("An environment can only move to another version of its own template.")
    if version.pk != current_version.pk:
        if version.state != TemplateVersion.PUBLISHED:
            raise InvalidRequest(f"Version {version.version} is {version.state}; only published versions can be "
                                 "chosen.")
        if not selectors.template_available_in(environment):
            raise InvalidRequest("The template is no longer shared with this project: it cannot be upgraded.")
    current_secret = environment_secret_values(environment)
    current = {k: v for k, v in environment.variables.items() if k not in policy.INJECTED}
    resolved = _resolve_values(version, values, current=current, current_secret_names=set(current_secret))
    clear, secret = split_values(version, resolved)
    sensitive = {v["name"] for v in version.variables if v.get("sensitive")}
    secret = {**{k: v for k, v in current_secret.items() if k in sensitive}, **secret}
    clear = _with_injected(environment, version, clear)
    changed = sorted(k for k in set(clear) | set(environment.variables)
                     if clear.get(k) != environment.variables.get(k))
    changed += sorted(k for k in set(secret) | set(current_secret) if secret.get(k) != current_secret.get(k))
    if version.pk == current_version.pk and not changed:
        raise InvalidRequest("Nothing to change: same version and the same values.")
    with transaction.atomic():
        run = run_request(environment, Run.APPLY, user, confirm=True)
        update = EnvironmentUpdate.objects.create(
            environment=environment, run=run, batch=batch, from_version=current_version, to_version=version,
            variables=clear, secret_variables=crypto.encrypt_json(secret) if secret else "", created_by=user,
            changed=changed,
        )
        # Names only: values may be sensitive.
        audit(user, "environment.update", environment, project=environment.project, ip=ip, data={
            "run": run.pk, "from": current_version.version, "to": version.version, "changed": changed,
            "batch": batch.pk if batch else None,
        })
    return update


def upgrade_batch_create(actor, version, environments, *, ip=None):
    """Plan the upgrade of each of `environments` to `version`; one that cannot be planned is reported in
    `batch.errors` and changes nothing else."""
    _require_manage(actor, version.template)
    if version.state != TemplateVersion.PUBLISHED:
        raise InvalidRequest("Pick a published version to upgrade to.")
    with transaction.atomic():
        batch = UpgradeBatch.objects.create(target_version=version, created_by=actor)
        audit(actor, "upgrade_batch.create", batch, project=version.template.project, ip=ip,
              data={"version": version.version, "environments": [e.pk for e in environments]})
    errors = {}
    for environment in environments:
        try:
            with transaction.atomic():
                environment_update_request(actor, environment, version, {}, batch=batch, ip=ip)
        except PolicyViolation as exc:
            errors[str(environment.pk)] = f"needs values for the new version ({exc}); update it on its own page."
        except (InvalidRequest, RunConflict, PermissionDenied) as exc:
            errors[str(environment.pk)] = str(exc)
    if errors:
        UpgradeBatch.objects.filter(pk=batch.pk).update(errors=errors)
        batch.errors = errors
    return batch


def upgrade_batch_approve(actor, batch, environment_ids, comment="", *, ip=None):
    """One approval for the chosen environments of a batch: their plans are applied, the other waiting plans are
    discarded. Returns {environment id: error} for those that could not be decided (others are unaffected)."""
    _require_manage(actor, batch.target_version.template)
    chosen = {int(pk) for pk in environment_ids}
    comment = comment or f"bulk upgrade #{batch.pk} to {batch.target_version.version}"
    errors = {}
    updates = batch.updates.select_related("run__environment__project", "environment")
    for update in updates:
        run = update.run
        if run.status != Run.AWAITING_APPROVAL:
            if update.environment_id in chosen:
                errors[update.environment_id] = f"its plan is not waiting (run is {run.get_status_display().lower()})."
            continue
        try:
            if update.environment_id in chosen:
                run_approve(run, actor, comment, ip=ip)
            else:
                run_reject(run, actor, f"not chosen in bulk upgrade #{batch.pk}", ip=ip)
        except (InvalidRequest, PermissionDenied) as exc:
            errors[update.environment_id] = str(exc)
    with transaction.atomic():
        UpgradeBatch.objects.filter(pk=batch.pk).update(approved_by=actor, approved_at=timezone.now())
        audit(actor, "upgrade_batch.approve", batch, project=batch.target_version.template.project, ip=ip,
              data={"environments": sorted(chosen), "errors": {str(k): v for k, v in errors.items()}})
    return errors
