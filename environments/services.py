"""Writes: templates, environments and runs. Each service re-checks permissions with the acting user."""
import gzip
import hashlib
import io
import logging
import tarfile
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments import crypto, metadata, schema, selectors
from environments.models import (
    Environment,
    Run,
    RunEvent,
    Snapshot,
    Template,
    TemplateShare,
    TemplateVersion,
)
from environments.runs import TransitionRefused, next_seq, run_transition
from rbac import permissions as perms
from rbac.audit import audit
from rbac.scoping import has_perm

log = logging.getLogger(__name__)

# Files a template snapshot never includes.
_SKIP_NAMES = {".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.backup", ".git"}


class RunConflict(Exception):
    """The environment already has an active run."""


class InvalidRequest(Exception):
    """The request cannot be carried out as asked; the message says why."""


# --- Templates -----------------------------------------------------------------------------------------

def snapshot_create(folder: Path) -> Snapshot:
    """A content-addressed, reproducible archive of a template folder (same files → same hash)."""
    folder = Path(folder)
    buf = io.BytesIO()
    # mtime=0 in the gzip header and on every entry: the same files always give the same bytes and hash.
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if any(part in _SKIP_NAMES for part in rel.parts) or path.is_symlink() or not path.is_file():
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
    template, _ = Template.objects.get_or_create(
        project=project,
        slug=folder.name,
        defaults={"name": meta["name"]},
    )
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


# --- Environments and runs -----------------------------------------------------------------------------

def _enqueue(run_id):
    # By task name: the web side never imports worker code.
    from portal.celery import app

    app.send_task("tasks.run_execute", args=[run_id])


def run_request(environment, operation, user):
    """Queue a run of `operation` on `environment`; the worker is told once the row is committed.

    Raises RunConflict when the environment already has an active run (a database constraint decides).
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            run = Run.objects.create(environment=environment, operation=operation, triggered_by=user)
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


def split_values(version, values):
    """Split form values into (clear, secret) by the template's `sensitive` flags."""
    sensitive = {v["name"] for v in version.variables if v.get("sensitive")}
    clear = {k: v for k, v in values.items() if k not in sensitive}
    secret = {k: v for k, v in values.items() if k in sensitive}
    return clear, secret


def environment_create(user, project, version, name, values, *, ip=None):
    """Create an environment from a published, shared template version and queue its first apply."""
    if not has_perm(user, perms.ENVIRONMENT_CREATE, project):
        raise PermissionDenied("You may not create environments in this project.")
    if not selectors.template_versions_for_project(user, project).filter(pk=version.pk).exists():
        raise InvalidRequest("This template is not available to this project.")
    clear, secret = split_values(version, values)
    with transaction.atomic():
        if Environment.objects.filter(project=project, name=name).exclude(status=Environment.DESTROYED).exists():
            raise InvalidRequest(f"An environment named {name!r} already exists in {project.name}.")
        environment = Environment.objects.create(
            project=project,
            template_version=version,
            name=name,
            owner=user,
            variables=clear,
            secret_variables=crypto.encrypt_json(secret) if secret else "",
        )
        run = run_request(environment, Run.APPLY, user)
        audit(user, "environment.create", environment, project=project,
              data={"template": version.template.slug, "version": version.version}, ip=ip)
    return environment, run


def environment_retry(user, environment, *, ip=None):
    """Run `apply` again on a failed environment, with the same template version and variables."""
    if not has_perm(user, perms.ENVIRONMENT_UPDATE, environment.project):
        raise PermissionDenied("You may not change environments in this project.")
    if environment.status != Environment.FAILED:
        raise InvalidRequest(f"Only a failed environment can be retried (this one is {environment.status}).")
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


def environment_secret_values(environment):
    """Decrypted sensitive variable values (worker only: never rendered)."""
    return crypto.decrypt_json(environment.secret_variables)


def run_cancel(user, run, *, ip=None):
    """Cancel a run: a queued one ends at once; a running one is interrupted by its worker (SIGINT to
    Terraform, which saves the state written so far) at its next heartbeat."""
    if not has_perm(user, perms.RUN_CANCEL, run.environment.project):
        raise PermissionDenied("You may not cancel runs in this project.")
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
