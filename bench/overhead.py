"""Portal overhead: create + destroy of the demo template through Terrace (web service → Redis → Celery worker
→ terraform, events into PostgreSQL) against bare `terraform init && apply && destroy` in a temp dir.

Alternates the two, N pairs (default 5), and prints each pair and the median ratio (target ≤ 1.25).
Usage: .venv/bin/python bench/overhead.py [pairs] [step_seconds]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import harness

PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
STEP = int(sys.argv[2]) if len(sys.argv) > 2 else 1
VARIABLES = {"app_name": "bench-app", "step_seconds": STEP}


def bare(config):
    from django.conf import settings

    env = {"PATH": os.environ["PATH"], "TF_CLI_CONFIG_FILE": config, "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "TF_PLUGIN_CACHE_DIR": settings.TF_PLUGIN_CACHE_DIR}
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["cp", "-r", str(harness.ROOT / "catalog" / "hello-sandbox") + "/.", work], check=True)
        with open(os.path.join(work, "bench.auto.tfvars.json"), "w") as fh:
            json.dump(VARIABLES, fh)
        start = time.monotonic()
        for argv in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"],
                     ["destroy", "-auto-approve", "-input=false"]):
            subprocess.run([settings.TERRAFORM_BIN, *argv], cwd=work, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.monotonic() - start


def portal(user, project, version, n):
    from environments.models import Run
    from environments.services import environment_create, environment_destroy

    start = time.monotonic()
    env, run = environment_create(user, project, version, f"bench-{n}", VARIABLES)
    assert harness.wait_run(run).status == Run.SUCCEEDED, run.error
    destroy = environment_destroy(user, env)
    assert harness.wait_run(destroy).status == Run.DESTROYED, destroy.error
    return time.monotonic() - start


def main():
    config = harness.setup()
    portal_proc, url = harness.start_portal()  # runs keep their state in the portal's http backend
    worker = harness.start_worker(url)
    try:
        user, project, version = harness.fixtures(harness.ROOT / "catalog" / "hello-sandbox")
        portal(user, project, version, "warmup")
        bare(config)
        ratios = []
        print(f"overhead: demo template, step_seconds={STEP}, {PAIRS} alternating pairs")
        for n in range(PAIRS):
            p = portal(user, project, version, n)
            b = bare(config)
            ratios.append(p / b)
            print(f"  pair {n + 1}: portal {p:6.2f} s   bare terraform {b:6.2f} s   ratio {p / b:.3f}")
        print(f"median ratio portal/bare: {statistics.median(ratios):.3f} (target <= 1.25)")
    finally:
        harness.stop(worker, portal_proc)


if __name__ == "__main__":
    main()
