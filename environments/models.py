"""What gets provisioned: templates and their versions, environments, runs and their durable logs."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from rbac.models import Project


class Snapshot(models.Model):
    """A template's files as a gzipped tar, addressed by the SHA-256 of its content.

    Kept in the database so a run never depends on the source still being there, and web and worker need
    no shared disk.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    archive = models.BinaryField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)


class Template(models.Model):
    """An environment template published by a project (usually the central catalogue project)."""

    scope_project_field = "project"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="templates")
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True)
    icon = models.CharField(max_length=50, blank=True)
    readme = models.TextField(blank=True)
    # Run policy, set by the platform team.
    requires_approval = models.BooleanField(
        default=False, help_text="Applies stop after the plan until someone with run.approve approves them."
    )
    default_ttl_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Lifetime of a new environment; empty: it lives until destroyed."
    )
    max_ttl_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="The longest lifetime an owner may pick or extend to; empty: no limit."
    )
    run_timeout_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="A run taking longer is interrupted; empty: the RUN_TIMEOUT_SECONDS setting."
    )
    # Environment variables and AWS role its runs get (see CredentialSet below); none: runs get no credentials.
    credential_set = models.ForeignKey(
        "CredentialSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="templates"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # --- Template management (sources, policy) -------------------------------------------------------------
    # Per-variable policy set by the platform team; see environments.policy for the shape.
    variable_policy = models.JSONField(default=dict, blank=True)
    # The Git repository new versions are imported from by default, and its credential (a deploy key or
    # an access token), Fernet-encrypted, write-only: never shown after being set.
    git_url = models.CharField(max_length=500, blank=True)
    git_path = models.CharField(max_length=300, blank=True)
    git_credential_kind = models.CharField(max_length=10, blank=True, choices=[
        ("", "None (public repository)"), ("ssh_key", "SSH deploy key"), ("token", "HTTPS access token")])
    git_credential = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="template_slug_per_project")]

    def __str__(self):
        return self.name


class TemplateVersion(models.Model):
    """An immutable version of a template: its files (snapshot) and the schema parsed from them."""

    DRAFT, PUBLISHED, DEPRECATED = "draft", "published", "deprecated"
    STATE_CHOICES = [(DRAFT, "Draft"), (PUBLISHED, "Published"), (DEPRECATED, "Deprecated")]
    CATALOG, GIT, UPLOAD = "catalog", "git", "upload"
    SOURCE_CHOICES = [(CATALOG, "Bundled catalogue"), (GIT, "Git repository"), (UPLOAD, "Uploaded archive")]

    scope_project_field = "template__project"

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    state = models.CharField(max_length=12, choices=STATE_CHOICES, default=DRAFT)
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES)
    source_ref = models.CharField(max_length=500, blank=True, help_text="Folder, Git URL@ref:path, or file name")
    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT)
    # Parsed from variables.tf / outputs.tf; see environments.schema.
    variables = models.JSONField(default=list)
    outputs = models.JSONField(default=list)
    changelog = models.TextField(blank=True)
    # The catalogue keys of terrace.yaml for this version: estimated_monthly_cost, changelog, apply_phases
    # (see environments.metadata). Per version, because the cost and the apply order change with the files.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # --- Template management (sources, lifecycle) ----------------------------------------------------------
    # Git: repository URL, subdirectory and the commit the ref resolved to at import (source_ref keeps the
    # ref as asked for). Upload: the archive's file name is in source_ref.
    source_url = models.CharField(max_length=500, blank=True)
    source_path = models.CharField(max_length=300, blank=True)
    resolved_commit = models.CharField(max_length=64, blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)
    deprecated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")]

    @property
    def sort_key(self):
        """Version order: numeric parts compared as numbers ("1.10.0" after "1.9.2"), then creation time."""
        return version_key(self.version), self.created_at

    def __str__(self):
        return f"{self.template.name} {self.version}"


def version_key(text):
    """A sortable key for a version string: numbers as numbers, other parts as text; a pre-release
    ("2.0.0-rc1") sorts before its release, build metadata ("+abc") is ignored, as in semantic versioning."""
    import re

    def parts(value):
        return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", value) if p)

    release, _, pre = text.split("+", 1)[0].partition("-")
    return parts(release), (0, parts(pre)) if pre else (1, ())


class TemplateShare(models.Model):
    """A template offered to another project (or to every project when `project` is empty)."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="shares")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="shared_templates"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "project"], name="template_share_unique")]


class Environment(models.Model):
    """Infrastructure created from a template version in one project. Its status follows its runs."""

    PENDING = "pending"
    PROVISIONING = "provisioning"
    READY = "ready"
    FAILED = "failed"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"
    AWAITING = "awaiting"
    STATUS_CHOICES = [
        (PENDING, "Pending"),
        (PROVISIONING, "Provisioning"),
        (AWAITING, "Plan awaiting decision"),
        (READY, "Ready"),
        (FAILED, "Failed"),
        (DESTROYING, "Destroying"),
        (DESTROYED, "Destroyed"),
    ]

    scope_project_field = "project"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="environments")
    template_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="environments")
    name = models.SlugField(max_length=63)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Non-sensitive values in clear; sensitive ones only in `secret_variables` (encrypted, never shown).
    variables = models.JSONField(default=dict)
    secret_variables = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=PENDING)
    status_reason = models.TextField(blank=True)
    # Terraform outputs; sensitive ones are stored redacted.
    outputs = models.JSONField(default=dict)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Expiry notices already sent for the current `expires_at` (lead times in seconds); reset on extend.
    expiry_notices_sent = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], condition=~Q(status="destroyed"), name="environment_live_name_unique"
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self):
        return self.name


# Literal (not Run.ACTIVE) because constraints are declared inside Run's Meta; a test checks they agree.
_ACTIVE_STATUSES = ("queued", "planning", "awaiting_approval", "approved", "applying", "destroying")


class Run(models.Model):
    """One Terraform operation on an environment. Only `environments.runs` writes `status`."""

    APPLY, DESTROY = "apply", "destroy"
    OPERATION_CHOICES = [(APPLY, "Apply"), (DESTROY, "Destroy")]

    QUEUED = "queued"
    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    APPLYING = "applying"
    DESTROYING = "destroying"
    SUCCEEDED = "succeeded"
    DESTROYED = "destroyed"
    FAILED = "failed"
    CANCELED = "canceled"
    ERRORED = "errored"
    DISCARDED = "discarded"
    STATUS_CHOICES = [
        (QUEUED, "Queued"),
        (PLANNING, "Planning"),
        (AWAITING_APPROVAL, "Awaiting decision"),
        (APPROVED, "Approved"),
        (APPLYING, "Applying"),
        (DESTROYING, "Destroying"),
        (SUCCEEDED, "Succeeded"),
        (DESTROYED, "Destroyed"),
        (FAILED, "Failed"),
        (CANCELED, "Canceled"),
        (ERRORED, "Errored"),
        (DISCARDED, "Discarded"),
    ]
    ACTIVE = (QUEUED, PLANNING, AWAITING_APPROVAL, APPROVED, APPLYING, DESTROYING)
    FINISHED = (SUCCEEDED, DESTROYED, FAILED, CANCELED, ERRORED, DISCARDED)
    # A worker holds the run (and heartbeats) only in these.
    EXECUTING = (PLANNING, APPLYING, DESTROYING)

    # What an apply waits for between plan and apply.
    GATE_NONE, GATE_CONFIRMATION, GATE_APPROVAL = "", "confirmation", "approval"
    GATE_CHOICES = [
        (GATE_NONE, "None"),
        (GATE_CONFIRMATION, "Confirmation by the requester"),
        (GATE_APPROVAL, "Approval (run.approve)"),
    ]

    scope_project_field = "environment__project"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="runs")
    operation = models.CharField(max_length=10, choices=OPERATION_CHOICES)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=QUEUED)
    gate = models.CharField(max_length=12, choices=GATE_CHOICES, default=GATE_NONE, blank=True)
    # The environment's status before this run: where a discarded plan leaves it.
    prior_status = models.CharField(max_length=16, blank=True)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    # {"add": n, "change": n, "remove": n} from Terraform's change_summary.
    plan_summary = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # A gated apply: the saved plan (encrypted; it holds variable values) between plan and apply, and the
    # decision on it.
    plan_file = models.TextField(blank=True)
    planned_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    # The run's credential for the portal's Terraform state backend (sha256 hex); valid while the run is active.
    state_token_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one active run per environment, enforced by the database.
            models.UniqueConstraint(
                fields=["environment"],
                condition=Q(status__in=_ACTIVE_STATUSES),
                name="run_one_active_per_environment",
            ),
            models.CheckConstraint(
                condition=Q(status__in=_ACTIVE_STATUSES) | Q(finished_at__isnull=False),
                name="run_finished_has_finished_at",
            ),
            models.CheckConstraint(
                condition=Q(status="queued") | Q(started_at__isnull=False) | Q(status__in=("canceled", "errored")),
                name="run_started_has_started_at",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self):
        return f"{self.operation} #{self.pk}"

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    @property
    def duration(self):
        if self.started_at is None:
            return None
        from django.utils import timezone

        return (self.finished_at or timezone.now()) - self.started_at


class RunEvent(models.Model):
    """One line of a run's durable log, numbered so that readers resume exactly after the last one seen."""

    scope_project_field = "run__environment__project"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=32)
    message = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_event_seq_unique")]

    def as_dict(self):
        return {
            "seq": self.seq,
            "time": self.created_at.isoformat(),
            "kind": self.kind,
            "message": self.message,
            "data": self.data,
        }


class StateVersion(models.Model):
    """A Terraform state written for an environment, encrypted at rest (state holds secrets in clear)."""

    scope_project_field = "environment__project"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="state_versions")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    serial = models.PositiveIntegerField()
    lineage = models.CharField(max_length=64, blank=True)
    resource_count = models.PositiveIntegerField(default=0)
    encrypted_state = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"


class StateLock(models.Model):
    """The Terraform state lock of an environment (HTTP backend LOCK/UNLOCK). One row = locked."""

    scope_project_field = "environment__project"

    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, primary_key=True,
                                       related_name="state_lock")
    lock_id = models.CharField(max_length=64)
    # Terraform's lock info: ID, Operation, Who, Version, Created, Path, Info.
    info = models.JSONField(default=dict)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"lock {self.lock_id} on {self.environment_id}"


class WorkerHeartbeat(models.Model):
    """A Celery worker that is alive: its main process refreshes `last_seen` every few seconds, so pages can
    say why a run waits (no worker at all, or all busy)."""

    name = models.CharField(max_length=200, primary_key=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.name


# --- Template management: environment updates and bulk upgrades ---------------------------------------------

class UpgradeBatch(models.Model):
    """A bulk upgrade: a platform admin moves several environments to one published version at once.

    Each environment gets its own EnvironmentUpdate (plan, then apply after the single approval); a failure
    stays with its environment.
    """

    scope_project_field = "target_version__template__project"

    target_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    # Environments that could not even be planned: {environment id: why}.
    errors = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]


class EnvironmentUpdate(models.Model):
    """A requested change to an environment (new template version and/or variables), carried by one apply run
    that stops after its plan. The environment keeps its pinned version and values until the run succeeds."""

    # Only `applied` is written after creation (by the worker, with the switch of the environment); any other
    # end is the run's own status (failed, discarded, canceled, errored): see `outcome`.
    PENDING, APPLIED = "pending", "applied"
    STATUS_CHOICES = [(PENDING, "Pending"), (APPLIED, "Applied")]

    scope_project_field = "environment__project"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="updates")
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="update")
    batch = models.ForeignKey(UpgradeBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="updates")
    from_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="+")
    variables = models.JSONField(default=dict)
    secret_variables = models.TextField(blank=True)
    # Names of the variables whose value changes (never the values: some are sensitive).
    changed = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def outcome(self):
        """applied, or the run's status while it is not (queued, planning, awaiting_approval, ..., failed)."""
        return self.APPLIED if self.status == self.APPLIED else self.run.status
# --- Credential sets (AWS integrations) -------------------------------------------------------------------

class CredentialSet(models.Model):
    """What a template's runs are given to reach a cloud: environment variables and/or an AWS role to assume.

    Variable values are encrypted at rest (environments.crypto) and write-only: pages show their names, never
    their values. Runs get short-lived STS credentials for the role, never long-lived keys.
    """

    scope_project_field = "project"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="credential_sets")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # {"NAME": "value"} encrypted; `env_names` keeps the names in clear so pages can list them.
    encrypted_env = models.TextField(blank=True)
    env_names = models.JSONField(default=list, blank=True)
    aws_role_arn = models.CharField("AWS role ARN", max_length=2048, blank=True)
    aws_external_id = models.CharField("external ID", max_length=1224, blank=True)
    aws_region = models.CharField("AWS region", max_length=32, blank=True)
    aws_session_seconds = models.PositiveIntegerField("session duration (seconds)", default=3600)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="credential_set_name_per_project")]

    def __str__(self):
        return self.name

    @property
    def has_aws_role(self):
        return bool(self.aws_role_arn)
