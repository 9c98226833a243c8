"""A database outage answers 503 with a clear message instead of a 500, and the next request after the database
is back succeeds (Django drops the broken connection at the end of the failed request)."""
import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# Plain HTML, rendered without templates or context processors: those would query the database again.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{retry}">
<title>Terrace is briefly unavailable</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}}
h1{{font-size:1.4rem}}</style></head>
<body><h1>Terrace cannot reach its database right now</h1>
<p>This is usually a restart or a short network problem and fixes itself. Runs already in progress keep going
and their logs are kept. This page tries again every {retry} seconds.</p>
<p>If you had just submitted a form, check afterwards whether it went through before sending it again.</p>
</body></html>
"""


def _wants_json(request):
    accept = request.headers.get("Accept", "")
    return request.path.startswith(("/api/", "/state/", "/scim/")) or (
        "application/json" in accept and "text/html" not in accept
    )


def database_unavailable_response(request):
    if _wants_json(request):
        response = JsonResponse({"error": {"code": "database_unavailable",
                                           "message": "The database is unreachable; retry shortly."}}, status=503)
    else:
        response = HttpResponse(_PAGE.format(retry=RETRY_AFTER_SECONDS), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def is_database_outage(exc):
    return isinstance(exc, (OperationalError, InterfaceError))


class DatabaseUnavailableMiddleware:
    """Turns database connection errors raised by views into 503 pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_outage(exception):
            log.error("database unavailable during %s %s: %s", request.method, request.path, exception)
            return database_unavailable_response(request)
        return None


def server_error(request):
    """handler500: a database outage raised outside a view (e.g. in a middleware) is a 503 too."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_outage(exc):
        return database_unavailable_response(request)
    return HttpResponse("<h1>Server error</h1><p>Something went wrong on our side; it has been logged.</p>",
                        status=500)
