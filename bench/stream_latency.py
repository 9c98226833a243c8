"""Stream latency: time from a line printed by Terraform (a provisioner printing its own timestamp every
100 ms) to its arrival at an SSE client of the ASGI portal. Prints p50/p95/max (target p95 ≤ 300 ms).
Usage: .venv/bin/python bench/stream_latency.py [lines]
"""
import sys
import time

import harness

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def main():
    harness.setup()
    portal_proc, url = harness.start_portal()
    worker = harness.start_worker(url)
    try:
        from django.test import Client

        from environments.services import environment_create
        from tests.sse import open_stream, read_events, session_cookie

        user, project, version = harness.fixtures(harness.ROOT / "bench" / "templates" / "ticker")
        cookie = session_cookie(Client(), user)
        env, run = environment_create(user, project, version, "ticker", {"lines": LINES})
        conn, response = open_stream(url, f"/runs/{run.pk}/events", cookie, timeout=300)
        latencies = []
        for _id, kind, data, _received in read_events(response):
            now = time.time()
            output = (data.get("data") or {}).get("output") or ""
            if kind == "provision" and output.startswith("tick "):
                latencies.append((now - float(output.split()[1])) * 1000)
        conn.close()
        print(f"stream latency: {len(latencies)} lines, Redis nudges, batch flush "
              f"{__import__('django.conf').conf.settings.RUN_EVENT_FLUSH_MS} ms")
        print(f"  p50 {harness.percentile(latencies, 50):.0f} ms   p95 {harness.percentile(latencies, 95):.0f} ms   "
              f"max {max(latencies):.0f} ms (target p95 <= 300 ms)")
    finally:
        harness.stop(worker, portal_proc)


if __name__ == "__main__":
    main()
