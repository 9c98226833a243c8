"""Faults with real processes: Redis restarts during a run, PostgreSQL becomes unreachable for the web.

Each test starts its own Redis server or TCP path to PostgreSQL, so cutting them touches nothing else on the
machine. (A worker killed with SIGKILL mid-apply is tests/integration/test_worker_crash.py.)
"""
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import pytest
from celery import Celery

from environments.models import Run
from environments.services import environment_create, template_import_catalog, template_share
from tests.conftest import ROOT, Portal, Worker, free_port, wait_for_run
from tests.sse import open_stream, read_events, session_cookie

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]

TICKS = 40  # the ticker prints one line every 100 ms: a 4 s apply


class RedisServer:
    """A private redis-server on a free port, without persistence (a restart loses everything, as a crash may)."""

    def __init__(self, tmp):
        self.port = free_port()
        self.tmp = tmp
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def _ticker(central, project):
    version = template_import_catalog(central, ROOT / "bench" / "templates" / "ticker", publish=True)
    template_share(version.template, project)
    return version


@pytest.fixture
def private_dir():
    """Outside pytest's basetemp: another pytest session on the machine prunes old basetemps, and would delete a
    run directory under a running Terraform."""
    folder = tempfile.mkdtemp(prefix="terrace-faults-")
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


def test_redis_restart_mid_run_loses_nothing(terraform_cli_config, private_dir, client, developer, project, central):
    redis = RedisServer(private_dir)
    portal = Portal(terraform_cli_config, private_dir, extra_env={"REDIS_URL": redis.url})
    worker = Worker(terraform_cli_config, private_dir, concurrency=1,
                    extra_env={"REDIS_URL": redis.url, "TERRACE_INTERNAL_URL": portal.url})
    broker = Celery(broker=redis.url)  # this test process enqueues on the private broker, as the web would
    version = _ticker(central, project)
    try:
        def create(name):
            with mock.patch("environments.services._enqueue") as enqueue:
                env, run = environment_create(developer, project, version, name, {"lines": TICKS})
            (run_id,), _ = enqueue.call_args
            broker.send_task("tasks.run_execute", args=[run_id], queue="runs")
            return run

        run = create("through-restart")
        cookie = session_cookie(client, developer)
        # Viewer A stays connected through the restart; viewer B drops and resumes with Last-Event-ID.
        conn_a, stream_a = open_stream(portal.url, f"/runs/{run.pk}/events", cookie)
        conn_b, stream_b = open_stream(portal.url, f"/runs/{run.pk}/events", cookie)
        frames_a = list(read_events(stream_a, until_end=False, limit=8))
        frames_b = list(read_events(stream_b, until_end=False, limit=8))
        conn_b.close()

        run.refresh_from_db()
        assert run.status in Run.EXECUTING, "Redis goes down while Terraform runs"
        redis.stop()
        time.sleep(1.0)
        redis.start()

        conn_b, stream_b = open_stream(portal.url, f"/runs/{run.pk}/events", cookie, last_event_id=frames_b[-1][0])
        frames_b += list(read_events(stream_b))
        frames_a += list(read_events(stream_a))
        conn_a.close()
        conn_b.close()
        run = wait_for_run(run)
        assert run.status == Run.SUCCEEDED, run.error
        total = run.events.count()
        for frames in (frames_a, frames_b):
            ids = [int(f[0]) for f in frames if f[0]]
            assert ids == list(range(1, total + 1)), "every event once, in order, for both viewers"
            assert frames[-1][1] == "end" and frames[-1][2]["status"] == "succeeded"
        outputs = [(e.data or {}).get("output") or "" for e in run.events.filter(kind="provision")]
        ticks = [line for line in outputs if line.startswith("tick ")]
        assert len(ticks) == TICKS, "no log line lost"

        # The worker reconnected to the restarted broker: the next run goes through.
        after = create("after-restart")
        assert wait_for_run(after).status == Run.SUCCEEDED, worker.output()[-3000:]
    finally:
        worker.stop()
        portal.stop()
        redis.stop()


class CuttableProxy:
    """A TCP proxy to PostgreSQL that can cut every connection and refuse new ones, like a database outage."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = False
        self.sockets = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.down = True
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.sockets.clear()

    def restore(self):
        self.down = False

    def close(self):
        self.cut()
        self.listener.close()


def _get(url, cookie, accept="text/html"):
    request = urllib.request.Request(url, headers={"Cookie": cookie, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_database_outage_answers_503_and_recovers_by_itself(terraform_cli_config, private_dir, client, developer):
    from django.db import connection

    db = connection.settings_dict
    proxy = CuttableProxy(int(db["PORT"] or 5432))
    url = f"postgres://{db['USER'] or 'postgres'}@127.0.0.1:{proxy.port}/{db['NAME']}"
    portal = Portal(terraform_cli_config, private_dir, extra_env={"DATABASE_URL": url})
    cookie = session_cookie(client, developer)
    try:
        status, _, _ = _get(f"{portal.url}/environments/", cookie)
        assert status == 200

        proxy.cut()
        status, headers, body = _get(f"{portal.url}/environments/", cookie)
        assert status == 503, body[:500]
        assert "cannot reach its database" in body and headers.get("Retry-After") == "5"
        status, _, body = _get(f"{portal.url}/environments/", cookie, accept="application/json")
        assert status == 503 and '"database_unavailable"' in body
        assert _get(f"{portal.url}/healthz", cookie)[0] == 503

        proxy.restore()
        deadline = time.monotonic() + 15
        while True:
            status, _, body = _get(f"{portal.url}/environments/", cookie)
            if status == 200:
                break
            assert time.monotonic() < deadline, f"still {status} after the database came back"
            time.sleep(0.5)
        assert "Environments" in body
    finally:
        portal.stop()
        proxy.close()
