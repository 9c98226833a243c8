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
    created_at = models.DateTimeField(auto_now_add=True)

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

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")]

    def __str__(self):
        return f"{self.template.name} {self.version}"


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
    STATUS_CHOICES = [
        (PENDING, "Pending"),
        (PROVISIONING, "Provisioning"),
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


class Run(models.Model):
    """One Terraform operation on an environment. Only `environments.runs` writes `status`."""

    APPLY, DESTROY = "apply", "destroy"
    OPERATION_CHOICES = [(APPLY, "Apply"), (DESTROY, "Destroy")]

    QUEUED = "queued"
    PLANNING = "planning"
    APPLYING = "applying"
    DESTROYING = "destroying"
    SUCCEEDED = "succeeded"
    DESTROYED = "destroyed"
    FAILED = "failed"
    CANCELED = "canceled"
    ERRORED = "errored"
    STATUS_CHOICES = [
        (QUEUED, "Queued"),
        (PLANNING, "Planning"),
        (APPLYING, "Applying"),
        (DESTROYING, "Destroying"),
        (SUCCEEDED, "Succeeded"),
        (DESTROYED, "Destroyed"),
        (FAILED, "Failed"),
        (CANCELED, "Canceled"),
        (ERRORED, "Errored"),
    ]
    ACTIVE = (QUEUED, PLANNING, APPLYING, DESTROYING)
    FINISHED = (SUCCEEDED, DESTROYED, FAILED, CANCELED, ERRORED)

    scope_project_field = "environment__project"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="runs")
    operation = models.CharField(max_length=10, choices=OPERATION_CHOICES)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=QUEUED)
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

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one active run per environment, enforced by the database.
            models.UniqueConstraint(
                fields=["environment"], condition=Q(status__in=("queued", "planning", "applying", "destroying")),
                name="run_one_active_per_environment",
            ),
            models.CheckConstraint(
                condition=Q(status__in=("queued", "planning", "applying", "destroying")) | Q(finished_at__isnull=False),
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


class WorkerHeartbeat(models.Model):
    """A Celery worker that is alive: its main process refreshes `last_seen` every few seconds, so pages can
    say why a run waits (no worker at all, or all busy)."""

    name = models.CharField(max_length=200, primary_key=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.name
