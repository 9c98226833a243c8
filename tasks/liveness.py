"""Worker liveness: the worker's main process (which never runs tasks itself, so it answers even when every
pool slot is busy with a long apply) upserts a `WorkerHeartbeat` row every WORKER_HEARTBEAT_SECONDS."""
import logging
import os
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from environments.models import WorkerHeartbeat

log = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(name, started_at):
    while not _stop.is_set():
        try:
            WorkerHeartbeat.objects.update_or_create(
                name=name, defaults={"pid": os.getpid(), "started_at": started_at, "last_seen": timezone.now()}
            )
        except Exception as exc:  # the database may be briefly away: report in again next time
            log.warning("worker heartbeat failed: %s", exc)
        finally:
            close_old_connections()
        _stop.wait(settings.WORKER_HEARTBEAT_SECONDS)


@worker_ready.connect
def start_heartbeat(sender=None, **kwargs):
    name = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    threading.Thread(target=_beat, args=(name, timezone.now()), name="terrace-heartbeat", daemon=True).start()


@worker_shutdown.connect
def stop_heartbeat(sender=None, **kwargs):
    _stop.set()
    name = getattr(sender, "hostname", None)
    if name:
        try:
            WorkerHeartbeat.objects.filter(name=name).delete()
        except Exception as exc:
            log.warning("could not remove worker heartbeat: %s", exc)
