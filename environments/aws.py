"""AWS for credential sets: STS role assumption, Test connection, the ECS health panel, the Bedrock model picker,
pre-flight checks before a run is queued, and the tagged-resource lookup used for orphan detection.

The portal's own AWS identity (the one that calls `sts:AssumeRole`) comes from boto3's standard chain:
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, an instance or task role, ... boto3 also honours
`AWS_ENDPOINT_URL` (tests point it at a moto server). Everything else runs with the short-lived credentials of
the assumed role, in the credential set's region.
"""
import io
import logging
import tarfile
import threading
from datetime import UTC, datetime, timedelta

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django import forms as djforms
from django.core.cache import cache
from django.utils import timezone

from environments import selectors

log = logging.getLogger(__name__)

# Fail fast: a page waits on these calls, and a pre-flight must not hold a request for minutes.
BOTO_CONFIG = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})
CREDENTIALS_MARGIN = timedelta(minutes=5)  # reuse assumed credentials only while they have this much left
MODEL_LIST_SECONDS = 300  # how long the Bedrock model list is cached
HEALTH_LOG_LINES = 50
TAG_ENVIRONMENT = "terrace:environment-id"
TAG_PROJECT = "terrace:project"
ECS_OUTPUTS = ("cluster_name", "service_name")

_assumed = {}  # (credential set pk, updated_at) -> credentials; per process, never shared or persisted
_assumed_lock = threading.Lock()


class AwsError(Exception):
    """An AWS call failed; the message says what and why, in words for the page."""


def _describe(exc):
    """A readable reason for a boto3 failure (never containing credentials)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# --- Credentials ---------------------------------------------------------------------------------------

def credentials_assume(credential_set, session_name="terrace-portal", *, fresh=False):
    """Short-lived credentials for the set's role: {access_key_id, secret_access_key, session_token, region,
    expiration}. Cached in this process while they have more than a few minutes left (`fresh` skips that:
    a run gets its own session, named after it in CloudTrail)."""
    if not credential_set.aws_role_arn:
        raise AwsError(f"{credential_set.name} has no AWS role.")
    key = (credential_set.pk, credential_set.updated_at)
    if not fresh:
        with _assumed_lock:
            cached = _assumed.get(key)
        if cached and cached["expiration"] - CREDENTIALS_MARGIN > timezone.now():
            return cached
    params = {
        "RoleArn": credential_set.aws_role_arn,
        "RoleSessionName": session_name[:64],
        "DurationSeconds": credential_set.aws_session_seconds,
    }
    if credential_set.aws_external_id:
        params["ExternalId"] = credential_set.aws_external_id
    try:
        sts = boto3.session.Session().client("sts", region_name=credential_set.aws_region or None,
                                             config=BOTO_CONFIG)
        answer = sts.assume_role(**params)["Credentials"]
    except Exception as exc:  # any failure here is the credentials' fault as far as the user can act on it
        raise AwsError(f"Could not assume {credential_set.aws_role_arn}: {_describe(exc)}") from exc
    creds = {
        "access_key_id": answer["AccessKeyId"],
        "secret_access_key": answer["SecretAccessKey"],
        "session_token": answer["SessionToken"],
        "expiration": answer["Expiration"],
        "region": credential_set.aws_region,
    }
    if not fresh:
        with _assumed_lock:
            _assumed[key] = creds
    return creds


def client(creds, service):
    """A boto3 client for `service` with assumed credentials, in their region.

    The one place clients are made, so a test can stub a call moto lacks (Bedrock) on exactly that client.
    """
    return boto3.session.Session(
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds["session_token"],
        region_name=creds["region"] or None,
    ).client(service, config=BOTO_CONFIG)


def connection_test(credential_set):
    """Assume the role afresh and ask STS who we are: {account, arn, user_id, region, expiration}."""
    creds = credentials_assume(credential_set, "terrace-connection-test", fresh=True)
    try:
        identity = client(creds, "sts").get_caller_identity()
    except Exception as exc:
        raise AwsError(f"The role was assumed but STS GetCallerIdentity failed: {_describe(exc)}") from exc
    return {"account": identity["Account"], "arn": identity["Arn"], "user_id": identity["UserId"],
            "region": credential_set.aws_region, "expiration": creds["expiration"]}


def run_environment(credential_set, session_name):
    """Environment variables for a Terraform run: the AWS_* of freshly assumed credentials."""
    creds = credentials_assume(credential_set, session_name, fresh=True)
    env = {
        "AWS_ACCESS_KEY_ID": creds["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": creds["secret_access_key"],
        "AWS_SESSION_TOKEN": creds["session_token"],
    }
    if credential_set.aws_region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = credential_set.aws_region
    return env


# --- Template settings from terrace.yaml ---------------------------------------------------------------

_settings_cache = {}  # snapshot sha -> parsed settings; snapshots are immutable, so this never goes stale


def template_settings(version):
    """`pickers`, `cost` and `ttl` from the version's terrace.yaml, read from its snapshot.

    Read from the snapshot (not a column) so templates imported before these keys existed work unchanged.
    """
    key = version.snapshot_id
    if key in _settings_cache:
        return _settings_cache[key]
    data = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(version.snapshot.archive)), mode="r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.name == "terrace.yaml"), None)
            if member is not None:
                data = yaml.safe_load(tar.extractfile(member).read()) or {}
    except (tarfile.TarError, yaml.YAMLError) as exc:
        log.warning("terrace.yaml of %s unreadable: %s", version, exc)
    if not isinstance(data, dict):
        data = {}
    result = {
        "pickers": data.get("pickers") if isinstance(data.get("pickers"), dict) else {},
        "cost": data.get("cost") if isinstance(data.get("cost"), dict) else {},
        "ttl": data.get("ttl"),
    }
    _settings_cache[key] = result
    return result


def variable_value(version, values, name):
    """The value a run would use for variable `name`: the given one, else the template's default."""
    if name in values:
        return values[name]
    var = next((v for v in version.variables if v["name"] == name), None)
    return var.get("default") if var else None


# --- Bedrock -------------------------------------------------------------------------------------------

def bedrock_models(credential_set):
    """Active Bedrock foundation models in the set's region: [{id, name, provider}], cached briefly."""
    changed = int(credential_set.updated_at.timestamp() * 1e6) if credential_set.updated_at else 0
    key = f"terrace:bedrock-models:{credential_set.pk}:{credential_set.aws_region}:{changed}"
    models = cache.get(key)
    if models is not None:
        return models
    creds = credentials_assume(credential_set)
    try:
        summaries = client(creds, "bedrock").list_foundation_models()["modelSummaries"]
    except Exception as exc:
        raise AwsError(f"Could not list Bedrock models in {credential_set.aws_region}: {_describe(exc)}") from exc
    models = sorted(
        ({"id": m["modelId"], "name": m.get("modelName") or m["modelId"], "provider": m.get("providerName", "")}
         for m in summaries if m.get("modelLifecycle", {}).get("status", "ACTIVE") == "ACTIVE"),
        key=lambda m: (m["provider"], m["name"], m["id"]),
    )
    cache.set(key, models, MODEL_LIST_SECONDS)
    return models


def bedrock_model_problem(credential_set, model_id, creds=None):
    """Why `model_id` cannot be used by the account in the set's region, or None when it can."""
    creds = creds or credentials_assume(credential_set)
    try:
        answer = client(creds, "bedrock").get_foundation_model_availability(modelId=model_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ResourceNotFoundException", "ValidationException"):
            return f"{model_id} is not a Bedrock model in {credential_set.aws_region}."
        return f"Could not check {model_id} in {credential_set.aws_region}: {_describe(exc)}"
    except Exception as exc:
        return f"Could not check {model_id} in {credential_set.aws_region}: {_describe(exc)}"
    region = credential_set.aws_region
    if answer.get("regionAvailability") != "AVAILABLE":
        return f"{model_id} is not offered in {region}."
    if answer.get("authorizationStatus") != "AUTHORIZED":
        return f"The account is not authorized to use {model_id} in {region}."
    if answer.get("entitlementAvailability") != "AVAILABLE":
        return f"{model_id} is not enabled for the account in {region} (request model access in the Bedrock console)."
    agreement = (answer.get("agreementAvailability") or {}).get("status", "AVAILABLE")
    if agreement != "AVAILABLE":
        return f"The model agreement for {model_id} is {agreement.lower().replace('_', ' ')} in {region}."
    return None


def form_apply_pickers(form, version):
    """Turn variables marked `pickers: {var: bedrock_model}` into dropdowns; notices for those that fell back.

    On any error listing models the field stays free text and the notice says why.
    """
    pickers = template_settings(version)["pickers"]
    credential_set = version.template.credential_set
    notices = {}
    for name, kind in pickers.items():
        field_name = f"var_{name}"
        if field_name not in form.fields or kind != "bedrock_model":
            continue
        if credential_set is None or not credential_set.has_aws_role:
            notices[name] = "No AWS credentials are attached to this template: type the model ID."
            continue
        try:
            models = bedrock_models(credential_set)
        except AwsError as exc:
            notices[name] = f"The model list is unavailable ({exc}); type the model ID."
            continue
        old = form.fields[field_name]
        default = variable_value(version, {}, name)
        choices = [(m["id"], f"{m['provider']} · {m['name']} ({m['id']})") for m in models]
        if default and default not in {c[0] for c in choices}:
            choices.insert(0, (default, f"{default} (template default)"))
        form.fields[field_name] = djforms.ChoiceField(
            label=old.label, required=False, help_text=old.help_text, initial=old.initial or default,
            choices=[("", "— template default —")] + choices if default else [("", "— choose a model —")] + choices,
        )
        form.fields[field_name].picker = kind
    return notices


# --- Pre-flight ----------------------------------------------------------------------------------------

def environment_preflight(version, values):
    """Checks before a run of `version` with `values` is queued: [(variable name or None, reason)].

    For templates with a credential set: a worker is alive, the role can be assumed, and every Bedrock model
    picked is available to the account in the set's region. Templates without one are not checked here.
    """
    credential_set = version.template.credential_set
    if credential_set is None:
        return []
    problems = []
    if not selectors.workers_alive().exists():
        problems.append((None, "No worker is running, so the run would wait indefinitely. "
                               "Start one (`celery -A portal worker -Q runs,default`) and try again."))
    if not credential_set.has_aws_role:
        return problems
    try:
        creds = credentials_assume(credential_set)
    except AwsError as exc:
        problems.append((None, f"The template's credentials ({credential_set.name}) cannot be used: {exc}"))
        return problems
    for name, kind in template_settings(version)["pickers"].items():
        if kind != "bedrock_model":
            continue
        model_id = variable_value(version, values, name)
        if model_id:
            problem = bedrock_model_problem(credential_set, model_id, creds)
            if problem:
                problems.append((name, problem))
    return problems


# --- ECS health ----------------------------------------------------------------------------------------

def _output(environment, name):
    out = (environment.outputs or {}).get(name)
    value = out.get("value") if isinstance(out, dict) else out
    return value if isinstance(value, str) and value else None


def health_applies(environment):
    """True when the environment's outputs name an ECS cluster and service."""
    return all(_output(environment, name) for name in ECS_OUTPUTS)


def environment_health(environment):
    """The ECS service, load balancer and recent logs behind an environment's outputs, for the health panel."""
    credential_set = environment.template_version.template.credential_set
    cluster, service = _output(environment, "cluster_name"), _output(environment, "service_name")
    health = {"cluster": cluster, "service": service, "alb_dns": _output(environment, "alb_dns_name"),
              "log_group": _output(environment, "log_group_name"), "errors": [], "checked_at": timezone.now()}
    if credential_set is None or not credential_set.has_aws_role:
        health["errors"].append("No AWS credentials are attached to this template.")
        return health
    try:
        creds = credentials_assume(credential_set)
    except AwsError as exc:
        health["errors"].append(str(exc))
        return health
    try:
        found = client(creds, "ecs").describe_services(cluster=cluster, services=[service]).get("services", [])
        if not found:
            health["errors"].append(f"ECS service {service} not found in cluster {cluster}.")
        else:
            svc = found[0]
            primary = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), None)
            health["ecs"] = {
                "status": svc.get("status"), "desired": svc.get("desiredCount", 0),
                "running": svc.get("runningCount", 0), "pending": svc.get("pendingCount", 0),
                "rollout": (primary or {}).get("rolloutState"),
                "rollout_reason": (primary or {}).get("rolloutStateReason", ""),
                "deployments": len(svc.get("deployments", [])),
            }
    except Exception as exc:
        health["errors"].append(f"ECS: {_describe(exc)}")
    if health["alb_dns"]:
        try:
            balancers = client(creds, "elbv2").describe_load_balancers().get("LoadBalancers", [])
            match = next((lb for lb in balancers if lb.get("DNSName") == health["alb_dns"]), None)
            health["alb_state"] = (match or {}).get("State", {}).get("Code") if match else "not found"
        except Exception as exc:
            health["errors"].append(f"Load balancer: {_describe(exc)}")
    if health["log_group"]:
        try:
            health["logs"] = _recent_log_lines(client(creds, "logs"), health["log_group"])
        except Exception as exc:
            health["errors"].append(f"CloudWatch Logs: {_describe(exc)}")
    return health


def _recent_log_lines(logs, group, limit=HEALTH_LOG_LINES):
    """The last `limit` lines of a log group, oldest first, from its most recently written streams."""
    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True,
                                        limit=5).get("logStreams", [])
    events = []
    for stream in streams:
        answer = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], limit=limit,
                                     startFromHead=False)
        events.extend({"time": e["timestamp"], "stream": stream["logStreamName"], "message": e["message"]}
                      for e in answer.get("events", []))
    events.sort(key=lambda e: e["time"])
    for e in events:
        e["time"] = datetime.fromtimestamp(e["time"] / 1000, tz=UTC)
    return events[-limit:]


# --- Tags ----------------------------------------------------------------------------------------------

def aws_resources_tagged(environment):
    """Resources in the template's account/region tagged `terrace:environment-id=<pk>`: [{arn, type}].

    Through the Resource Groups Tagging API, so it finds resources Terraform no longer tracks (orphans after
    a failed destroy). `type` is "<service>:<resource type>", e.g. "ecs:cluster", "s3". Raises AwsError.
    """
    credential_set = environment.template_version.template.credential_set
    if credential_set is None or not credential_set.has_aws_role:
        raise AwsError("The environment's template has no AWS credentials.")
    creds = credentials_assume(credential_set)
    found = []
    try:
        pages = client(creds, "resourcegroupstaggingapi").get_paginator("get_resources").paginate(
            TagFilters=[{"Key": TAG_ENVIRONMENT, "Values": [str(environment.pk)]}]
        )
        for page in pages:
            for item in page.get("ResourceTagMappingList", []):
                found.append({"arn": item["ResourceARN"], "type": _arn_type(item["ResourceARN"])})
    except Exception as exc:
        raise AwsError(f"Could not list tagged resources: {_describe(exc)}") from exc
    return found


def _arn_type(arn):
    """"ecs:cluster" for arn:aws:ecs:...:cluster/name, "s3" for a bucket, "logs:log-group" for a log group."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "unknown"
    service, resource = parts[2], parts[5]
    cut = min((i for i in (resource.find("/"), resource.find(":")) if i >= 0), default=-1)
    return f"{service}:{resource[:cut]}" if cut > 0 else service
