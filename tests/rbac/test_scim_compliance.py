"""The SCIM endpoint against the `scim2-tester` compliance checker, over HTTP on a live server."""
from collections import Counter

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from rbac.scim.tokens import scim_token_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_scim2_tester_passes_every_check(live_server, platform_admin):
    _token, raw = scim_token_create(platform_admin, name="checker")
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {raw}", "Connection": "close"},
        timeout=30,
    )
    results = check_server(SyncSCIMClient(http))
    summary = Counter(result.status.name for result in results)
    print(f"\nscim2-tester: {dict(summary)}")
    failures = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    for r in results:
        if r.status == Status.SKIPPED:
            print(f"SKIPPED {r.resource_type} {r.title}: {r.reason}")
    print(Counter((r.resource_type, r.title) for r in results))
    for r in failures:
        print(f"FAIL {r.resource_type} {r.title}: {r.reason}")
    assert not failures, f"{len(failures)} checks failed"
