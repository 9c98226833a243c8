"""Nudges for live viewers: "run N has events after seq S".

The database is the truth; a nudge only shortens the wait. With Redis (production) nudges go through pub/sub;
without it (embedded mode) streams poll the database and `publish` does nothing.
"""
import logging

from django.conf import settings

log = logging.getLogger(__name__)
_client = None


def channel(run_id):
    return f"terrace:run:{run_id}"


def _redis():
    global _client
    if _client is None and settings.REDIS_URL:
        import redis

        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _client


def publish(run_id, seq):
    """Announce that events up to `seq` exist. Losing a nudge delays a viewer by one poll, never loses data."""
    client = _redis()
    if client is None:
        return
    try:
        client.publish(channel(run_id), str(seq))
    except Exception as exc:  # a broken Redis must never fail a run: viewers fall back to polling
        log.warning("could not publish run %s nudge: %s", run_id, exc)
