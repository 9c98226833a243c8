"""The credentials a run gets from its template's credential set: environment variables and, for an AWS role,
short-lived STS credentials assumed just before Terraform starts."""
from environments import aws
from environments.credentials import credential_set_env


def run_credentials_env(run):
    """(extra environment for Terraform, secret values to mask) for `run`; ({}, []) without a credential set.

    Raises RunFailed (the run fails with the reason) when the role cannot be assumed.
    """
    credential_set = run.environment.template_version.template.credential_set
    if credential_set is None:
        return {}, []
    env = credential_set_env(credential_set) if credential_set.encrypted_env else {}
    if credential_set.has_aws_role:
        try:
            env.update(aws.run_environment(credential_set, f"terrace-run-{run.pk}"))
        except aws.AwsError as exc:
            from tasks.runner.execute import RunFailed  # imported here: execute imports this module

            raise RunFailed(f"AWS credentials ({credential_set.name}): {exc}") from exc
    secrets = [value for name, value in env.items() if name not in ("AWS_REGION", "AWS_DEFAULT_REGION")]
    return env, secrets
