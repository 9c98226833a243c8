"""A minimal Server-Sent Events client for tests (http.client, no dependencies)."""
import http.client
import json
import time
from urllib.parse import urlparse


def session_cookie(client, user):
    """Log `user` in through Django's test client and return a Cookie header usable against a live server."""
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_stream(base_url, path, cookie=None, last_event_id=None, timeout=60):
    url = urlparse(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    headers = {"Accept": "text/event-stream"}
    if cookie:
        headers["Cookie"] = cookie
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    conn.request("GET", path, headers=headers)
    return conn, conn.getresponse()


def read_events(response, until_end=True, limit=None):
    """Yield (id, event, data, received_at) for each SSE frame until the `end` event (or `limit` frames)."""
    frame = {}
    count = 0
    while True:
        raw = response.fp.readline()
        if not raw:
            return
        line = raw.decode().rstrip("\n")
        if line == "":
            if "data" in frame:
                data = json.loads(frame["data"])
                yield frame.get("id"), frame.get("event", "message"), data, time.monotonic()
                count += 1
                if (until_end and frame.get("event") == "end") or (limit and count >= limit):
                    return
            frame = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        frame[key] = value[1:] if value.startswith(" ") else value
