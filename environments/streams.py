"""Live run logs over Server-Sent Events.

The stream sends each event with `id: <seq>`, so a browser that reconnects sends `Last-Event-ID` and resumes
exactly after the last event it saw. The database is the truth: a Redis pub/sub nudge (when Redis is
configured) only wakes the loop early; otherwise it polls every STREAM_POLL_SECONDS.
"""
import asyncio
import json
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404, HttpResponse, StreamingHttpResponse

from environments import notify
from environments.models import Run, RunEvent
from rbac import permissions as perms
from rbac.scoping import scope

log = logging.getLogger(__name__)
_BATCH = 500


def _visible_run(user, pk):
    run = scope(Run.objects.all(), user, perms.RUN_VIEW).filter(pk=pk).values("pk").first()
    if run is None:
        raise Http404("No such run.")
    return run["pk"]


def _fetch(run_id, after):
    """Status first, then events: a finished status seen here guarantees its final events are visible."""
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    events = list(RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:_BATCH])
    return status, events


class _Waiter:
    """Waits for a nudge on the run's channel, or for the poll interval to pass."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.pubsub = None
        self.client = None

    async def open(self):
        if not settings.REDIS_URL:
            return
        try:
            import redis.asyncio as aioredis

            self.client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
            self.pubsub = self.client.pubsub()
            await self.pubsub.subscribe(notify.channel(self.run_id))
        except Exception as exc:  # no Redis: poll instead
            log.warning("live nudges unavailable, polling: %s", exc)
            await self.close()

    async def wait(self):
        if self.pubsub is None:
            await asyncio.sleep(settings.STREAM_POLL_SECONDS)
            return
        try:
            # Re-check the database at least every second even without a nudge: nudges can be lost.
            await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        except Exception as exc:
            log.warning("live nudge failed, polling: %s", exc)
            await self.close()

    async def close(self):
        pubsub, client, self.pubsub, self.client = self.pubsub, self.client, None, None
        try:
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()
        except Exception:
            pass


def _frame(event):
    payload = json.dumps(event.as_dict(), separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {payload}\n\n"


async def _events(run_id, after):
    fetch = sync_to_async(_fetch, thread_sensitive=False)
    waiter = _Waiter(run_id)
    await waiter.open()
    last_sent = time.monotonic()
    try:
        yield "retry: 1000\n\n"
        while True:
            status, events = await fetch(run_id, after)
            for event in events:
                yield _frame(event)
                after = event.seq
            if events:
                last_sent = time.monotonic()
                if len(events) == _BATCH:
                    continue
            elif status is None or status in Run.FINISHED:
                yield f"event: end\ndata: {json.dumps({'status': status, 'last': after})}\n\n"
                return
            if time.monotonic() - last_sent > settings.STREAM_KEEPALIVE_SECONDS:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()
            await waiter.wait()
    finally:
        await waiter.close()


async def run_events_stream(request, pk):
    """GET /runs/<pk>/events — the live log, resumable with Last-Event-ID (or ?after=N)."""
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse("Authentication required.", status=401, content_type="text/plain")
    return await run_events_response(request, user, pk)


async def run_events_response(request, user, pk):
    """The stream of run `pk` for an authenticated `user` (the page's and the API's stream share it)."""
    run_id = await sync_to_async(_visible_run)(user, pk)
    try:
        after = int(request.headers.get("Last-Event-ID") or request.GET.get("after") or 0)
    except ValueError:
        return HttpResponse("Last-Event-ID and after must be integers.", status=400, content_type="text/plain")
    response = StreamingHttpResponse(_events(run_id, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
