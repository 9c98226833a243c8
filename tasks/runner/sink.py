"""The run's log sink: batches events into the database, nudges live viewers, and carries the heartbeat.

Events are written every `RUN_EVENT_FLUSH_MS` (or sooner when many are waiting), so the database sees a few
writes a second however chatty Terraform is. The heartbeat also answers "was cancel requested?", the way
Coder's provisioner heartbeats do.
"""
import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments import notify
from environments.models import Run, RunEvent
from environments.runs import next_seq

log = logging.getLogger(__name__)
_BATCH = 200


class EventSink:
    """Collects (kind, message, data) events of one run and persists them in order."""

    def __init__(self, run_id, masker):
        self.run_id = run_id
        self.masker = masker
        self.pending = []
        self.written = 0
        self.truncated = False
        self.last_flush = time.monotonic()
        self.last_heartbeat = 0.0
        self.cancel_requested = False
        self.lost = False  # the run was ended by someone else (the reaper): stop working on it

    def add(self, kind, message, data=None):
        if self.truncated:
            return
        if self.written + len(self.pending) >= settings.RUN_MAX_EVENTS:
            self.truncated = True
            kind, message, data = "log", "Log truncated: this run printed more lines than the portal keeps.", {
                "truncated": True
            }
        self.pending.append(
            RunEvent(
                run_id=self.run_id,
                created_at=timezone.now(),
                kind=kind,
                message=self.masker.text(message or ""),
                data=self.masker.data(data) if data is not None else None,
            )
        )
        if len(self.pending) >= _BATCH:
            self.flush()

    def tick(self):
        """Called often by the runner: flush when due, heartbeat when due. Returns True if cancel was asked."""
        now = time.monotonic()
        if self.pending and (now - self.last_flush) * 1000 >= settings.RUN_EVENT_FLUSH_MS:
            self.flush()
        if now - self.last_heartbeat >= settings.RUN_HEARTBEAT_SECONDS:
            self.heartbeat()
        return self.cancel_requested or self.lost

    def flush(self):
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        for attempt in range(3):
            try:
                with transaction.atomic():
                    seq = next_seq(self.run_id)
                    for offset, event in enumerate(self.pending):
                        event.seq = seq + offset
                    RunEvent.objects.bulk_create(self.pending)
                break
            except IntegrityError:
                # Someone else appended (a status event from the reaper or a cancel): renumber and retry.
                if attempt == 2:
                    raise
        last = self.pending[-1].seq
        self.written += len(self.pending)
        self.pending = []
        notify.publish(self.run_id, last)

    def heartbeat(self):
        self.last_heartbeat = time.monotonic()
        alive = Run.objects.filter(pk=self.run_id, status__in=Run.ACTIVE).update(heartbeat_at=timezone.now())
        if not alive:
            self.lost = True
            return
        if not self.cancel_requested:
            self.cancel_requested = Run.objects.filter(pk=self.run_id, cancel_requested_at__isnull=False).exists()
