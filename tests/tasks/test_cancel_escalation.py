"""Cancel escalates SIGINT → (grace) → SIGTERM → SIGKILL to the whole process group, reading output to EOF."""
import sys
import time

import pytest

from tasks.runner import process

STUBBORN = """
import signal, sys, time
def note(name):
    def handler(signum, frame):
        print("got " + name, flush=True)
    return handler
signal.signal(signal.SIGINT, note("INT"))
signal.signal(signal.SIGTERM, note("TERM"))
print("started", flush=True)
while True:
    time.sleep(0.05)
"""


def test_a_process_ignoring_sigint_and_sigterm_is_killed(settings, monkeypatch, tmp_path):
    settings.RUN_CANCEL_GRACE_SECONDS = 1
    monkeypatch.setattr(process, "TERM_GRACE_SECONDS", 1)
    lines = []
    start = time.monotonic()
    with pytest.raises(process.Canceled):
        process.stream([sys.executable, "-c", STUBBORN], str(tmp_path), {"PATH": "/usr/bin:/bin"},
                       lines.append, lambda: any("started" in line for line in lines), time.monotonic() + 60)
    took = time.monotonic() - start
    text = "".join(lines)
    assert text.index("got INT") < text.index("got TERM"), text
    assert 2 <= took < 10, f"SIGKILL after both grace periods, took {took:.1f} s"
