"""Test settings: the production-like stack on this machine (PostgreSQL and Redis on loopback)."""
import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/terrace")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("TERRACE_DATA_DIR", os.path.join(tempfile.gettempdir(), "terrace-test-data"))

from portal.settings import *  # noqa: E402,F403  (the test settings are the real ones plus overrides)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
RUN_HEARTBEAT_SECONDS = 1
STREAM_KEEPALIVE_SECONDS = 5
