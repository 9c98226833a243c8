"""aws_resources_tagged: resources carrying terrace:environment-id=<pk>, found through the Resource Groups
Tagging API on the moto server (also those Terraform no longer tracks)."""
import pytest

from environments.aws import AwsError, aws_resources_tagged
from environments.models import Environment
from tests.aws.conftest import ACCOUNT, REGION, base_client


def test_finds_exactly_the_environments_tagged_resources(project, developer, echo_version, sandbox_version):
    env = Environment.objects.create(project=project, template_version=echo_version, name="tagged", owner=developer)
    mine = [{"Key": "terrace:environment-id", "Value": str(env.pk)}, {"Key": "terrace:project", "Value": "team-a"}]
    other = [{"Key": "terrace:environment-id", "Value": str(env.pk + 1000)}]
    ecs = base_client("ecs")
    ecs.create_cluster(clusterName="mine", tags=[{"key": t["Key"], "value": t["Value"]} for t in mine])
    ecs.create_cluster(clusterName="theirs", tags=[{"key": t["Key"], "value": t["Value"]} for t in other])
    s3 = base_client("s3")
    s3.create_bucket(Bucket="terrace-orphan-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket="terrace-orphan-bucket", Tagging={"TagSet": mine})
    base_client("logs").create_log_group(logGroupName="/ecs/mine", tags={t["Key"]: t["Value"] for t in mine})
    base_client("logs").create_log_group(logGroupName="/ecs/untagged")

    found = sorted(aws_resources_tagged(env), key=lambda r: r["arn"])
    assert found == [
        {"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/mine", "type": "ecs:cluster"},
        {"arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/mine", "type": "logs:log-group"},
        {"arn": "arn:aws:s3:::terrace-orphan-bucket", "type": "s3"},
    ]


def test_nothing_tagged_gives_an_empty_list(project, developer, echo_version):
    env = Environment.objects.create(project=project, template_version=echo_version, name="clean", owner=developer)
    assert aws_resources_tagged(env) == []


def test_a_template_without_aws_credentials_cannot_be_searched(project, developer, sandbox_version):
    env = Environment.objects.create(project=project, template_version=sandbox_version, name="x", owner=developer)
    with pytest.raises(AwsError, match="no AWS credentials"):
        aws_resources_tagged(env)


def test_a_failed_destroy_lists_what_is_still_tagged_and_the_cleanup_records_it(client, project, developer,
                                                                               project_admin, echo_version):
    """The orphan view: after a destroy that did not finish, the environment page lists the AWS resources still
    carrying its tag; marking it as cleaned up writes them into the audit log."""
    from django.utils import timezone

    from environments.models import Run
    from rbac.models import AuditEvent

    env = Environment.objects.create(project=project, template_version=echo_version, name="orphaned",
                                     owner=developer, status=Environment.FAILED)
    now = timezone.now()
    Run.objects.create(environment=env, operation=Run.DESTROY, status=Run.FAILED, started_at=now, finished_at=now)
    base_client("ecs").create_cluster(clusterName="left-behind",
                                      tags=[{"key": "terrace:environment-id", "value": str(env.pk)}])
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/left-behind"
    client.force_login(developer)
    page = client.get(f"/environments/{env.pk}/").content.decode()
    assert 'data-leftovers="tagged"' in page and arn in page and "Retry destroy" in page
    client.force_login(project_admin)
    assert client.post(f"/environments/{env.pk}/forget/", {"note": "cluster deleted by hand"}).status_code == 302
    event = AuditEvent.objects.get(action="environment.forget")
    assert event.data["leftovers"]["tagged"] == [{"arn": arn, "type": "ecs:cluster"}]
    env.refresh_from_db()
    assert env.status == Environment.DESTROYED and arn in env.status_reason
