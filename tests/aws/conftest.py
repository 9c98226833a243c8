"""AWS tests run against a real moto server on loopback (moto's standalone server, HTTP on 127.0.0.1), not
in-process patches.

The server is started when this folder is collected, before any test runs, and its address goes into
AWS_ENDPOINT_URL (boto3 >= 1.28 honours it) with dummy base credentials: worker processes started later in
the session (`live_worker`) inherit them, so their STS calls reach the same moto server. Nothing in a session
that collects these tests can reach real AWS.

moto lacks Bedrock's ListFoundationModels and GetFoundationModelAvailability: `stub_bedrock` stubs exactly
those calls with botocore's Stubber on the Bedrock client, and tests that use it say so.
"""
import logging
import os
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from environments import aws
from environments.models import Environment
from tests.browser.conftest import browser_type_launch_args, page  # noqa: F401 (Chromium for tests/aws too)

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise

_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
_server.start()
_host, _port = _server.get_host_and_port()
MOTO_URL = f"http://{_host}:{_port}"
os.environ.update(
    AWS_ENDPOINT_URL=MOTO_URL,
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_SESSION_TOKEN", None)

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/terrace-runs"
REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def moto_reset():
    """A clean moto account and no cached credentials or model lists for every test."""
    requests.post(f"{MOTO_URL}/moto-api/reset", timeout=10).raise_for_status()
    from django.core.cache import cache

    aws._assumed.clear()
    cache.clear()
    yield


@pytest.fixture
def moto_url():
    return MOTO_URL


def base_client(service, region=REGION):
    """A client with the base (portal) credentials, for a test to create the AWS resources it inspects."""
    return boto3.client(service, region_name=region, endpoint_url=MOTO_URL)


@pytest.fixture
def credential_set(central, platform_admin):
    """A credential set of the central project: an AWS role in eu-west-1 and one generic variable."""
    from environments.credentials import credential_set_create

    return credential_set_create(platform_admin, central, {
        "name": "sandbox-account", "description": "", "aws_role_arn": ROLE_ARN, "aws_external_id": "terrace-ext",
        "aws_region": REGION, "aws_session_seconds": 900, "env_set": {"GREETING_TOKEN": "hello-very-secret-42"},
        "env_remove": [], "templates": [],
    })


@pytest.fixture
def echo_version(central, project, credential_set):
    """The echo-aws-creds test template, shared with `project`, its runs using `credential_set`."""
    from tests.conftest import import_fixture_template

    version = import_fixture_template(central, project, "echo-aws-creds")
    version.template.credential_set = credential_set
    version.template.save(update_fields=["credential_set"])
    version.template.refresh_from_db()
    return version


@pytest.fixture
def stub_bedrock(monkeypatch):
    """Answer the next Bedrock calls from a script: [(method, response dict or ClientError code)], one per
    Bedrock client the code makes (it makes one per call). moto has no Bedrock model listing or availability,
    so these two calls, and only these, are stubbed with botocore's Stubber; every other call goes to moto."""
    script = []
    real_client = aws.client

    def client(creds, service):
        made = real_client(creds, service)
        if service != "bedrock":
            return made
        assert script, "an unexpected Bedrock call"
        method, answer = script.pop(0)
        stubber = Stubber(made)
        if isinstance(answer, str):
            stubber.add_client_error(method, service_error_code=answer, service_message=f"stubbed {answer}")
        else:
            stubber.add_response(method, answer)
        stubber.activate()
        return made

    monkeypatch.setattr(aws, "client", client)
    return script


MODELS = {"modelSummaries": [
    {"modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
     "modelId": "anthropic.claude-3-haiku-20240307-v1:0", "modelName": "Claude 3 Haiku", "providerName": "Anthropic",
     "modelLifecycle": {"status": "ACTIVE"}},
    {"modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-text-express-v1",
     "modelId": "amazon.titan-text-express-v1", "modelName": "Titan Text G1 - Express", "providerName": "Amazon",
     "modelLifecycle": {"status": "ACTIVE"}},
    {"modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/old.model-v1",
     "modelId": "old.model-v1", "modelName": "Old", "providerName": "Old", "modelLifecycle": {"status": "LEGACY"}},
]}


def availability(model_id, entitlement="AVAILABLE", region="AVAILABLE", authorized="AUTHORIZED"):
    return {"modelId": model_id, "agreementAvailability": {"status": "AVAILABLE"},
            "authorizationStatus": authorized, "entitlementAvailability": entitlement,
            "regionAvailability": region}


def output(value):
    return {"value": value, "type": "string", "sensitive": False}


@pytest.fixture
def ecs_stack(monkeypatch):
    """An ECS service (3 desired, 2 running), an ALB and a log group with 60 lines, in moto."""
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # moto's running count for new services
    ecs = base_client("ecs")
    ecs.create_cluster(clusterName="demo-cluster")
    ecs.register_task_definition(family="demo", containerDefinitions=[{"name": "app", "image": "nginx",
                                                                       "memory": 512}])
    ecs.create_service(cluster="demo-cluster", serviceName="demo-svc", taskDefinition="demo", desiredCount=3)
    ec2 = base_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb = base_client("elbv2").create_load_balancer(Name="demo-alb", Subnets=subnets)["LoadBalancers"][0]
    logs = base_client("logs")
    logs.create_log_group(logGroupName="/ecs/demo")
    now = int(time.time() * 1000)
    for stream, lines in (("app/old", range(0, 30)), ("app/new", range(30, 60))):
        logs.create_log_stream(logGroupName="/ecs/demo", logStreamName=stream)
        logs.put_log_events(logGroupName="/ecs/demo", logStreamName=stream, logEvents=[
            {"timestamp": now - 60_000 + n * 100, "message": f"request line-{n:02d} ok"} for n in lines])
    return {"alb_dns": lb["DNSName"]}


@pytest.fixture
def ecs_environment(project, developer, echo_version, ecs_stack):
    return Environment.objects.create(
        project=project, template_version=echo_version, name="svc", owner=developer, status=Environment.READY,
        outputs={"cluster_name": output("demo-cluster"), "service_name": output("demo-svc"),
                 "log_group_name": output("/ecs/demo"), "alb_dns_name": output(ecs_stack["alb_dns"])},
    )
