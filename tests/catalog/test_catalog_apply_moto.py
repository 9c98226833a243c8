"""The ECS templates applied for real by Terraform against moto (AWS's API on loopback), then destroyed.

What this proves that the static checks cannot: the templates plan and apply with the real AWS provider,
every resource carries the environment's terrace:* tags, the task role may invoke exactly the chosen Bedrock
models, secrets reach ECS through SSM and not the log, and the day-2 path (a new image_tag) registers a new
task definition revision that the service rolls to. What moto cannot show: tasks actually running and the
circuit breaker acting (moto runs no containers); those settings are checked in Terraform's own state.
"""
import json
import shutil
import subprocess

import boto3
import pytest
from django.conf import settings

from tests.catalog.conftest import aws_terraform_env
from tests.catalog.test_catalog_static import CATALOG

pytestmark = pytest.mark.terraform

TAGS = {"terrace:environment-id": "42", "terrace:environment": "chat-env", "terrace:project": "team-a",
        "terrace:owner": "dev@example.com"}
RESERVED_VALUES = {"terrace_environment_id": "42", "terrace_environment_name": "chat-env",
                   "terrace_project": "team-a", "terrace_owner": "dev@example.com"}
SERVICES = ("ec2", "ecs", "elbv2", "iam", "logs", "ssm", "sts", "ecr", "applicationautoscaling")


class Workdir:
    """A copy of a template pointed at moto through a provider override file, as an operator would do."""

    def __init__(self, folder, tmp_path, endpoint, mirror_config, extra_override=""):
        self.path = tmp_path / folder
        shutil.copytree(CATALOG / folder, self.path)
        endpoints = "\n".join(f'    {name} = "{endpoint}"' for name in SERVICES)
        (self.path / "moto_override.tf").write_text(
            'provider "aws" {\n  access_key = "testing"\n  secret_key = "testing"\n'
            "  skip_credentials_validation = true\n  skip_metadata_api_check = true\n"
            f"  skip_requesting_account_id = true\n  endpoints {{\n{endpoints}\n  }}\n}}\n{extra_override}"
        )
        self.env = aws_terraform_env(tmp_path, mirror_config)
        self.run("init", "-input=false", "-no-color")

    def run(self, *args):
        result = subprocess.run([settings.TERRAFORM_BIN, *args], cwd=self.path, env=self.env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return result.stdout

    def apply(self, values):
        (self.path / "terrace.auto.tfvars.json").write_text(json.dumps(values))
        return self.run("apply", "-auto-approve", "-input=false", "-no-color")

    def outputs(self):
        return {k: v["value"] for k, v in json.loads(self.run("output", "-json")).items()}

    def state_resource(self, address):
        state = json.loads(self.run("show", "-json"))
        resources = state["values"]["root_module"]["resources"]
        return next(r["values"] for r in resources if r["address"] == address)


def _client(endpoint, service):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def _tags(pairs):
    return {(p.get("Key") or p.get("key")): (p.get("Value") or p.get("value", "")) for p in pairs}


def test_genai_chat_applies_tagged_least_privilege_and_destroys(tmp_path, moto_endpoint, aws_mirror_config):
    work = Workdir("genai-ecs-bedrock", tmp_path, moto_endpoint, aws_mirror_config)
    log = work.apply({"name": "chat", "container_image": "ghcr.io/acme/chat:1.0.0", "app_secret": "s3cret-value",
                      "bedrock_model_id": "anthropic.claude-3-haiku-20240307-v1:0",
                      "additional_bedrock_model_ids": ["amazon.titan-text-express-v1"], **RESERVED_VALUES})
    assert "s3cret-value" not in log
    outputs = work.outputs()
    assert outputs["app_url"].startswith("http://chat-alb") and outputs["cluster_name"] == "chat"
    assert outputs["service_name"] == "chat" and outputs["log_group_name"] == "/ecs/chat"

    ecs, elbv2, logs, iam, ec2, ssm = (_client(moto_endpoint, s) for s in ("ecs", "elbv2", "logs", "iam", "ec2", "ssm"))
    cluster = ecs.describe_clusters(clusters=["chat"], include=["TAGS"])["clusters"][0]
    assert _tags(cluster["tags"]) == TAGS
    balancer = elbv2.describe_load_balancers(Names=["chat-alb"])["LoadBalancers"][0]
    assert _tags(elbv2.describe_tags(ResourceArns=[balancer["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]) == TAGS
    assert logs.list_tags_log_group(logGroupName="/ecs/chat")["tags"] == TAGS
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:terrace:environment-id", "Values": ["42"]}])["Vpcs"]
    assert [v["CidrBlock"] for v in vpc] == ["10.40.0.0/16"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc[0]["VpcId"]]}])["Subnets"]
    assert len(subnets) == 4 and all(TAGS.items() <= _tags(s["Tags"]).items() for s in subnets)

    role = next(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("chat-task-"))
    assert _tags(iam.list_role_tags(RoleName=role)["Tags"]) == TAGS
    statements = [
        statement
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        for statement in iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]
    ]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    assert len(statements) == 1
    assert sorted(statements[0]["Action"]) == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    assert sorted(statements[0]["Resource"]) == [
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
    ]

    parameter = ssm.get_parameter(Name="/chat/app-secret")["Parameter"]
    assert parameter["Type"] == "SecureString"
    container = ecs.describe_task_definition(taskDefinition="chat")["taskDefinition"]["containerDefinitions"][0]
    assert container["secrets"] == [{"name": "APP_SECRET", "valueFrom": parameter["ARN"]}]
    assert "s3cret-value" not in json.dumps(container)
    assert {"name": "BEDROCK_MODEL_ID", "value": "anthropic.claude-3-haiku-20240307-v1:0"} in container["environment"]
    allowed = "anthropic.claude-3-haiku-20240307-v1:0,amazon.titan-text-express-v1"
    assert {"name": "BEDROCK_MODEL_IDS", "value": allowed} in container["environment"]
    assert outputs["alb_dns_name"] == balancer["DNSName"]

    service = work.state_resource("aws_ecs_service.app")
    assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]

    work.run("destroy", "-auto-approve", "-input=false", "-no-color")
    assert all(c["status"] == "INACTIVE" for c in ecs.describe_clusters(clusters=["chat"])["clusters"])
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:terrace:environment-id", "Values": ["42"]}])["Vpcs"] == []


# moto starts no tasks, so the service never reaches the steady state Terraform would wait for; the override
# turns the wait off for this test only (the template keeps it, see its README).
NO_STEADY_STATE_WAIT = 'resource "aws_ecs_service" "app" {\n  wait_for_steady_state = false\n}\n'


def test_continuous_deploy_rolls_to_a_new_image_tag(tmp_path, moto_endpoint, aws_mirror_config):
    work = Workdir("ecs-continuous-deploy", tmp_path, moto_endpoint, aws_mirror_config, NO_STEADY_STATE_WAIT)
    values = {"name": "shop", "image_tag": "", **RESERVED_VALUES}
    work.apply(values)
    ecr, ecs = _client(moto_endpoint, "ecr"), _client(moto_endpoint, "ecs")
    repository = ecr.describe_repositories(repositoryNames=["shop"])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    rules = json.loads(ecr.get_lifecycle_policy(repositoryName="shop")["lifecyclePolicyText"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert _tags(ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]) == TAGS
    service = ecs.describe_services(cluster="shop", services=["shop"])["services"][0]
    assert service["desiredCount"] == 0  # nothing pushed yet: the service runs nothing
    assert work.outputs()["deployed_image"].startswith("nothing deployed yet")
    first_revision = service["taskDefinition"]

    # Day 2: the environment's image_tag is updated; the same apply rolls the service to the new image.
    log = work.apply({**values, "image_tag": "1.0.0"})
    assert "aws_ecs_service.app: Modifications complete" in log
    service = ecs.describe_services(cluster="shop", services=["shop"])["services"][0]
    assert service["taskDefinition"] != first_revision and service["desiredCount"] == 2
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert definition["containerDefinitions"][0]["image"] == f"{repository['repositoryUri']}:1.0.0"
    assert work.outputs()["deployed_image"] == f"{repository['repositoryUri']}:1.0.0"
    # The previous revision stays registered: the circuit breaker's rollback target.
    assert ecs.describe_task_definition(taskDefinition=first_revision)["taskDefinition"]["status"] == "ACTIVE"
    state = work.state_resource("aws_ecs_service.app")
    assert state["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    assert state["deployment_minimum_healthy_percent"] == 100

    work.run("destroy", "-auto-approve", "-input=false", "-no-color")
    assert ecr.describe_repositories()["repositories"] == []


def test_model_serving_plans_cpu_target_tracking_between_the_chosen_bounds(
    tmp_path, moto_endpoint, aws_mirror_config
):
    """A plan only: moto's Application Auto Scaling lacks the tagging calls the provider makes for
    default_tags (ListTagsForResource is not implemented, and the provider retries until its timeout)."""
    work = Workdir("ecs-model-serving", tmp_path, moto_endpoint, aws_mirror_config)
    (work.path / "terrace.auto.tfvars.json").write_text(json.dumps({
        "name": "llm", "container_image": "ghcr.io/huggingface/text-generation-inference:2.4.1", "model_id": "gpt2",
        "scaling": {"min_tasks": 2, "max_tasks": 6, "cpu_target": 55}, **RESERVED_VALUES,
    }))
    work.run("plan", "-input=false", "-no-color", "-out=plan.bin")
    planned = {r["address"]: r["values"] for r in
               json.loads(work.run("show", "-json", "plan.bin"))["planned_values"]["root_module"]["resources"]}
    target = planned["aws_appautoscaling_target.server"]
    assert (target["min_capacity"], target["max_capacity"]) == (2, 6)
    assert target["scalable_dimension"] == "ecs:service:DesiredCount" and target["resource_id"] == "service/llm/llm"
    assert target["tags_all"] == TAGS
    policy = planned["aws_appautoscaling_policy.cpu"]["target_tracking_scaling_policy_configuration"][0]
    assert policy["target_value"] == 55
    assert policy["predefined_metric_specification"][0]["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"
    service = planned["aws_ecs_service.server"]
    assert service["desired_count"] == 2 and service["health_check_grace_period_seconds"] == 300
    assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    definition = planned["aws_ecs_task_definition.server"]
    assert (definition["cpu"], definition["memory"]) == ("4096", "8192")
    assert {"name": "MODEL_ID", "value": "gpt2"} in json.loads(definition["container_definitions"])[0]["environment"]
