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
    for r in results:
        if r.status != Status.SUCCESS:
            print(f"{r.status.name} {r.resource_type} {r.title}: {r.reason}")
    failures = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    assert not failures, f"{len(failures)} checks failed"
    # Nothing skipped, and every feature was actually exercised on both resource types.
    assert summary["SKIPPED"] == 0
    done = {(r.resource_type, r.title) for r in results if r.status == Status.SUCCESS}
    for resource_type in ("User", "Group"):
        for title in ("object_creation", "object_query", "object_query_without_id", "object_replacement",
                      "object_deletion", "check_add_attribute", "check_remove_attribute", "check_replace_attribute",
                      "object_query_with_attributes", "object_list_with_attributes", "search_with_attributes"):
            assert (resource_type, title) in done, (resource_type, title)
    assert summary["SUCCESS"] >= 130

def test_concurrent_membership_patches_lose_nothing(live_server, platform_admin, make_user):
    """IdPs push membership changes in parallel: each PATCH locks its group, so none undoes another."""
    from concurrent.futures import ThreadPoolExecutor

    from rbac.models import AuditEvent, Membership

    _token, raw = scim_token_create(platform_admin, name="parallel")
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/scim+json"}
    base = f"{live_server.url}/scim/v2"
    users = [make_user(f"p{i}") for i in range(8)]
    group = httpx2.post(f"{base}/Groups", headers=headers, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "parallel"}).json()

    def add(user):
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": str(user.pk)}]}]}
        return httpx2.patch(f"{base}/Groups/{group['id']}", headers=headers, json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(add, users))
    assert statuses == [200] * 8
    assert Membership.objects.filter(group_id=group["id"]).count() == 8
    assert AuditEvent.objects.filter(action="membership.add", data__source="scim").count() == 8
