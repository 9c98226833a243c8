"""Run the whole portal in the foreground: web (uvicorn, ASGI), a Celery worker and Celery beat, as three
separate processes. Ctrl-C stops all of them; if one dies, the others are stopped too.
"""
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TERRACE_HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("TERRACE_PORT", "8000"))
        parser.add_argument("--concurrency", default=os.environ.get("WORKER_CONCURRENCY", "2"))

    def handle(self, *args, host, port, concurrency, **options):
        py = sys.executable
        settings.BROKER_DIR.mkdir(parents=True, exist_ok=True)
        for sub in ("queue", "control", "processed"):
            (settings.BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
        commands = {
            "web": [py, "-m", "uvicorn", "portal.asgi:application", "--host", host, "--port", str(port),
                    "--timeout-graceful-shutdown", "3"],
            "worker": [py, "-m", "celery", "-A", "portal", "worker", "-Q", "runs,default", "-c", str(concurrency),
                       "--prefetch-multiplier", "1", "-l", "info", "-n", "worker@%h"],
            "beat": [py, "-m", "celery", "-A", "portal", "beat", "-l", "info",
                     "--schedule", str(settings.DATA_DIR / "celerybeat-schedule")],
        }
        # The worker keeps Terraform state in this web process's http backend: tell it where that listens.
        env = dict(os.environ)
        if not env.get("TERRACE_INTERNAL_URL"):
            reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            env["TERRACE_INTERNAL_URL"] = f"http://{reach}:{port}"
        procs = {name: subprocess.Popen(argv, env=env) for name, argv in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Terrace is starting on http://{host}:{port}/ (Ctrl-C stops it)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the others.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
