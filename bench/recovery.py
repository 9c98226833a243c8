"""Recovery: time from `kill -9` of the worker process running an apply to the run being marked `errored` (with
the state lock released), with beat's real schedule (the reaper every 10 s) and a given staleness threshold.

Baseline printed alongside: the staleness threshold itself, the least any heartbeat-based detection can take.
Usage: .venv/bin/python bench/recovery.py [trials] [stale_seconds]   (defaults: 3 trials, 30 s = the default)
"""
import os
import re
import signal
import sys
import time

import harness

TRIALS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
STALE = int(sys.argv[2]) if len(sys.argv) > 2 else 30
REAP_EVERY = 10.0  # portal/settings.py CELERY_BEAT_SCHEDULE["reap-stale-runs"]


def main():
    harness.setup()
    from django.conf import settings

    from environments.models import Run, StateLock
    from environments.services import environment_create
    from tasks.runner.reaper import runs_reap_stale

    settings.RUN_STALE_SECONDS = STALE
    portal_proc, url = harness.start_portal()
    user, project, version = harness.fixtures(harness.ROOT / "catalog" / "hello-sandbox")
    figures = []
    print(f"recovery: kill -9 the worker mid-apply; reaper every {REAP_EVERY:.0f} s, stale after {STALE} s")
    try:
        for n in range(TRIALS):
            worker = harness.start_worker(url)
            env, run = environment_create(user, project, version, f"rec-{n}",
                                          {"app_name": f"rec-{n}", "step_seconds": 30})
            while not run.events.filter(kind="resource", data__state="started").exists():
                time.sleep(0.05)
            run.refresh_from_db()
            os.kill(int(re.search(r"pid (\d+)", run.worker).group(1)), signal.SIGKILL)
            killed = time.monotonic()
            # Beat's schedule: the reaper runs every REAP_EVERY seconds, at a phase unrelated to the kill.
            next_tick = killed + (n * 3.3) % REAP_EVERY
            while True:
                time.sleep(max(0.0, next_tick - time.monotonic()))
                runs_reap_stale()
                next_tick += REAP_EVERY
                run.refresh_from_db()
                if run.status != Run.APPLYING:
                    break
            took = time.monotonic() - killed
            locked = StateLock.objects.filter(environment=env).exists()
            figures.append(took)
            print(f"  trial {n + 1}: errored after {took:5.1f} s (status {run.status}, lock held: {locked})")
            worker.proc.kill()  # its pool child is gone; stop the parent too
            worker.stop()
        worst = max(figures)
        print(f"worst {worst:.1f} s, mean {sum(figures) / len(figures):.1f} s; baseline (stale threshold) {STALE} s; "
              f"ratio worst/baseline {worst / STALE:.2f}; bound stale + reaper period = {STALE + REAP_EVERY:.0f} s")
    finally:
        harness.stop(portal_proc)


if __name__ == "__main__":
    main()
