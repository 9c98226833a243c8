"""Throughput: N demo environments created at once, executed by 2 worker processes (1 run each), against N
bare `terraform init && apply` in temp dirs, 2 at a time. Prints wall times, the ratio, and checks that every
run succeeded and none is stuck.
Usage: .venv/bin/python bench/throughput.py [environments] [step_seconds]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import harness

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 50
STEP = int(sys.argv[2]) if len(sys.argv) > 2 else 0
CONCURRENCY = 2


def bare_one(n, config):
    from django.conf import settings

    env = {"PATH": os.environ["PATH"], "TF_CLI_CONFIG_FILE": config, "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "TF_PLUGIN_CACHE_DIR": settings.TF_PLUGIN_CACHE_DIR}
    work = tempfile.mkdtemp(prefix="bare-")
    try:
        shutil.copytree(harness.ROOT / "catalog" / "hello-sandbox", work, dirs_exist_ok=True)
        with open(os.path.join(work, "bench.auto.tfvars.json"), "w") as fh:
            json.dump({"app_name": f"bare-{n}", "step_seconds": STEP}, fh)
        for argv in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            subprocess.run([settings.TERRAFORM_BIN, *argv], cwd=work, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    from collections import Counter

    config = harness.setup()
    portal_proc, url = harness.start_portal()  # runs keep their state in the portal's http backend
    workers = [harness.start_worker(url, concurrency=1) for _ in range(CONCURRENCY)]
    try:
        from environments.models import Run
        from environments.services import environment_create

        user, project, version = harness.fixtures(harness.ROOT / "catalog" / "hello-sandbox")
        start = time.monotonic()
        runs = [environment_create(user, project, version, f"tp-{n}", {"app_name": f"tp-{n}", "step_seconds": STEP})[1]
                for n in range(COUNT)]
        queued_in = time.monotonic() - start
        for run in runs:
            harness.wait_run(run, timeout=1800)
        portal = time.monotonic() - start
        statuses = Counter(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True))

        start = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda n: bare_one(n, config), range(COUNT)))
        bare = time.monotonic() - start

        print(f"throughput: {COUNT} demo environments (step_seconds={STEP}) created at once, "
              f"{CONCURRENCY} worker processes")
        print(f"  queued all {COUNT} in {queued_in:.2f} s; statuses: {dict(statuses)}")
        print(f"  portal wall time {portal:.1f} s ({COUNT / portal * 60:.1f} environments/min)")
        print(f"  bare terraform init+apply x{COUNT}, {CONCURRENCY} at a time: {bare:.1f} s")
        print(f"  ratio portal/bare: {portal / bare:.3f}")
        stuck = [r.pk for r in runs if r.status in Run.ACTIVE]
        print(f"  stuck runs: {len(stuck)}")
    finally:
        harness.stop(*workers, portal_proc)


if __name__ == "__main__":
    main()
