"""A small client of the Terrace REST API: JSON requests with the bearer token, and the live event stream."""
import json
import time

import httpx

from terrace_cli import __version__


class ApiError(Exception):
    """An error answer of the API, in its one shape: code, message and field paths."""

    def __init__(self, status, code, message, fields=None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}

    def __str__(self):
        lines = [f"{self.message} (HTTP {self.status})"]
        for path, messages in self.fields.items():
            for message in messages:
                if f"{path}: {message}" != self.message:
                    lines.append(f"  {path}: {message}")
        return "\n".join(lines)


class Client:
    def __init__(self, url, token, timeout=30.0):
        self.base = url.rstrip("/") + "/api/v1"
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"terrace-cli/{__version__}",
                     "Accept": "application/json"},
            timeout=timeout,
        )

    def close(self):
        self.http.close()

    def _check(self, response):
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                raise ApiError(response.status_code, err.get("code", ""), err.get("message", ""), err.get("fields"))
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "http_error", response.text[:500] or response.reason_phrase)
        if response.status_code == 204:
            return None
        return response.json()

    def get(self, path, **params):
        params = {k: v for k, v in params.items() if v is not None}
        return self._check(self.http.get(self.base + path, params=params))

    def post(self, path, body=None):
        return self._check(self.http.post(self.base + path, json=body or {}))

    def paginate(self, path, **params):
        """Every result of a paginated list, page by page."""
        page = 1
        while True:
            data = self.get(path, page=page, page_size=200, **params)
            yield from data["results"]
            if not data.get("next"):
                return
            page += 1

    def events(self, run_id, after=0, retries=30):
        """Yield the run's events live (SSE), from seq > `after`, until the stream's `end` event.

        A dropped connection is resumed with Last-Event-ID, so nothing is lost or repeated. Yields dicts:
        events as the API gives them, then {"kind": "end", "status": ...}.
        """
        attempts = 0
        while True:
            headers = {"Accept": "text/event-stream", "Last-Event-ID": str(after)}
            try:
                timeout = httpx.Timeout(30.0, read=120.0)
                with self.http.stream("GET", f"{self.base}/runs/{run_id}/events/stream/", headers=headers,
                                      timeout=timeout) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise ApiError(response.status_code, "http_error", response.text.strip())
                    frame = {}
                    for line in response.iter_lines():
                        if line == "":
                            if "data" in frame:
                                data = json.loads(frame["data"])
                                if frame.get("event") == "end":
                                    yield {"kind": "end", **data}
                                    return
                                if frame.get("id"):
                                    after = int(frame["id"])
                                attempts = 0
                                yield data
                            frame = {}
                        elif line.startswith(":"):
                            continue
                        else:
                            key, _, value = line.partition(":")
                            value = value[1:] if value.startswith(" ") else value
                            frame[key] = frame[key] + "\n" + value if key == "data" and key in frame else value
            except (httpx.TransportError, httpx.RemoteProtocolError):
                pass
            attempts += 1
            if attempts > retries:
                raise ApiError(0, "stream_lost", f"Lost the event stream of run {run_id} after {retries} retries.")
            time.sleep(min(attempts, 5))
