"""Credential sets: reads and writes (with permission checks and audit), and the admin form.

Variable values are write-only: they are encrypted on the way in and only the worker ever decrypts them
(`credential_set_env`); pages and audit events carry names, never values.
"""
import re

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from environments import aws, crypto
from environments.models import CredentialSet, Template
from rbac import permissions as perms
from rbac.audit import audit
from rbac.scoping import has_perm, scope

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# Names the runner sets itself (or that would point Terraform elsewhere): a credential set may not override them.
RESERVED_NAMES = {"PATH", "HOME", "TMPDIR", "CHECKPOINT_DISABLE", "TF_IN_AUTOMATION", "TF_INPUT",
                  "TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR", "TF_CLI_ARGS"}
RESERVED_PREFIXES = ("TF_HTTP_", "TF_CLI_ARGS_", "TF_LOG")
AWS_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


class InvalidRequest(Exception):
    """The change cannot be made as asked; the message says why."""


def credential_set_list(user, project=None):
    """Credential sets the user may manage (PROJECT_MANAGE on the owning project)."""
    qs = scope(CredentialSet.objects.all(), user, perms.PROJECT_MANAGE).select_related("project")
    return qs.filter(project=project) if project is not None else qs


def credential_set_env(credential_set):
    """Decrypted variables {name: value} (worker only: never rendered)."""
    return crypto.decrypt_json(credential_set.encrypted_env)


def _check(user, project):
    if not has_perm(user, perms.PROJECT_MANAGE, project):
        raise PermissionDenied("You may not manage credentials of this project.")


def _apply(credential_set, data):
    for field in ("name", "description", "aws_role_arn", "aws_external_id", "aws_region", "aws_session_seconds"):
        setattr(credential_set, field, data[field])
    env = credential_set_env(credential_set) if credential_set.encrypted_env else {}
    for name in data.get("env_remove") or ():
        env.pop(name, None)
    env.update(data.get("env_set") or {})
    credential_set.encrypted_env = crypto.encrypt_json(env) if env else ""
    credential_set.env_names = sorted(env)


def _attach(credential_set, templates):
    """Make `templates` (of the set's project) use this set; those no longer chosen use none."""
    ids = {t.pk for t in templates}
    Template.objects.filter(credential_set=credential_set).exclude(pk__in=ids).update(credential_set=None)
    Template.objects.filter(pk__in=ids, project=credential_set.project).update(credential_set=credential_set)


def _audit_data(credential_set, data):
    """What changed, without any value: names of variables set and removed, the role, attached templates."""
    return {
        "name": credential_set.name, "aws_role_arn": credential_set.aws_role_arn,
        "aws_region": credential_set.aws_region, "env_set": sorted(data.get("env_set") or {}),
        "env_removed": sorted(data.get("env_remove") or ()),
        "templates": sorted(t.slug for t in data.get("templates") or ()),
    }


def credential_set_create(user, project, data, *, ip=None):
    """Create a credential set in `project` from cleaned form data and attach it to the chosen templates."""
    _check(user, project)
    credential_set = CredentialSet(project=project, created_by=user)
    _apply(credential_set, data)
    try:
        with transaction.atomic():
            credential_set.save()
            _attach(credential_set, data.get("templates") or ())
            audit(user, "credential_set.create", credential_set, project=project,
                  data=_audit_data(credential_set, data), ip=ip)
    except IntegrityError as exc:
        raise InvalidRequest(f"A credential set named {data['name']!r} already exists in {project.name}.") from exc
    return credential_set


def credential_set_update(user, credential_set, data, *, ip=None):
    """Change a credential set; variables not mentioned keep their (unseen) values."""
    _check(user, credential_set.project)
    _apply(credential_set, data)
    try:
        with transaction.atomic():
            credential_set.save()
            _attach(credential_set, data.get("templates") or ())
            audit(user, "credential_set.update", credential_set, project=credential_set.project,
                  data=_audit_data(credential_set, data), ip=ip)
    except IntegrityError as exc:
        raise InvalidRequest(f"A credential set named {data['name']!r} already exists.") from exc
    return credential_set


@transaction.atomic
def credential_set_delete(user, credential_set, *, ip=None):
    """Delete a credential set; its templates' runs then get no credentials."""
    _check(user, credential_set.project)
    templates = list(credential_set.templates.values_list("slug", flat=True))
    audit(user, "credential_set.delete", credential_set, project=credential_set.project,
          data={"name": credential_set.name, "templates": templates}, ip=ip)
    credential_set.templates.update(credential_set=None)
    credential_set.delete()


def credential_set_test(user, credential_set, *, ip=None):
    """Test connection: assume the role and return the identity, or raise aws.AwsError. Audited."""
    _check(user, credential_set.project)
    try:
        identity = aws.connection_test(credential_set)
    except aws.AwsError as exc:
        audit(user, "credential_set.test", credential_set, project=credential_set.project,
              data={"ok": False, "error": str(exc)[:500]}, ip=ip)
        raise
    audit(user, "credential_set.test", credential_set, project=credential_set.project,
          data={"ok": True, "account": identity["account"], "arn": identity["arn"]}, ip=ip)
    return identity


def parse_env_text(text):
    """`NAME=value` lines into a dict (raises ValueError naming the line)."""
    env = {}
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"line {n}: expected NAME=value")
        name, value = line.split("=", 1)
        name = name.strip()
        if not ENV_NAME.match(name):
            raise ValueError(f"line {n}: {name!r} is not a valid variable name")
        if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
            raise ValueError(f"line {n}: {name} is set by Terrace itself and cannot be overridden")
        env[name] = value
    return env


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders its value: a form sent back with an error must not echo secrets."""

    def format_value(self, value):
        return None


class CredentialSetForm(forms.Form):
    """Name, AWS role and write-only variables; the templates of the project that use this set."""

    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    aws_role_arn = forms.CharField(
        label="AWS role ARN", required=False, max_length=2048,
        help_text="Runs get short-lived credentials for this role through STS AssumeRole, e.g. "
                  "arn:aws:iam::123456789012:role/terrace-runs.",
    )
    aws_external_id = forms.CharField(label="External ID", required=False, max_length=1224,
                                      help_text="If the role's trust policy requires one.")
    aws_region = forms.CharField(
        label="AWS region", required=False, max_length=32,
        help_text="Region for runs, STS, the health panel, Bedrock and prices, e.g. eu-west-1.",
    )
    aws_session_seconds = forms.IntegerField(
        label="Session duration (seconds)", min_value=900, max_value=43200, initial=3600,
        help_text="900–43200 and at most the role's maximum session duration; a run longer than this loses "
                  "its credentials.",
    )
    env_text = forms.CharField(
        label="Set environment variables", required=False, strip=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One NAME=value per line. Values are encrypted and never shown again (not even when the form "
                  "comes back with an error); a name already set is replaced.",
    )
    env_remove = forms.MultipleChoiceField(label="Remove variables", required=False,
                                           widget=forms.CheckboxSelectMultiple)
    templates = forms.ModelMultipleChoiceField(
        queryset=Template.objects.none(), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Templates of this project whose runs get these credentials.",
    )

    def __init__(self, project, *args, instance=None, **kwargs):
        if instance is not None:  # what the page shows before an edit (variable values never)
            kwargs.setdefault("initial", {
                "name": instance.name, "description": instance.description, "aws_role_arn": instance.aws_role_arn,
                "aws_external_id": instance.aws_external_id, "aws_region": instance.aws_region,
                "aws_session_seconds": instance.aws_session_seconds,
                "templates": list(instance.templates.all()),
            })
        super().__init__(*args, **kwargs)
        self.instance = instance
        self.fields["templates"].queryset = Template.objects.filter(project=project).order_by("name")
        self.fields["env_remove"].choices = [(n, n) for n in (instance.env_names if instance else [])]

    def clean_aws_role_arn(self):
        arn = self.cleaned_data["aws_role_arn"].strip()
        if arn and not ROLE_ARN.match(arn):
            raise forms.ValidationError("Expected an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>.")
        return arn

    def clean_aws_external_id(self):
        value = self.cleaned_data["aws_external_id"].strip()
        if value and not (2 <= len(value) <= 1224 and re.match(r"^[\w+=,.@:/-]+$", value)):
            raise forms.ValidationError("2–1224 characters: letters, digits and +=,.@:/-_ only.")
        return value

    def clean_aws_region(self):
        region = self.cleaned_data["aws_region"].strip()
        if region and not REGION.match(region):
            raise forms.ValidationError("Expected a region name such as eu-west-1.")
        return region

    def clean_env_text(self):
        try:
            return parse_env_text(self.cleaned_data["env_text"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self):
        cleaned = super().clean()
        cleaned["env_set"] = cleaned.pop("env_text", None) or {}
        if cleaned.get("aws_role_arn") and not cleaned.get("aws_region"):
            self.add_error("aws_region", "A region is required with an AWS role.")
        if cleaned.get("aws_role_arn") and AWS_NAMES & set(cleaned["env_set"]):
            self.add_error("env_text", "With an AWS role, runs get AWS keys from STS: do not set "
                                       + ", ".join(sorted(AWS_NAMES & set(cleaned["env_set"]))) + " here.")
        return cleaned
