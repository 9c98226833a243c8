"""Shared by the SCIM tests: a client that speaks SCIM with a bearer token, and a database snapshot."""
import json

import pytest

from rbac.scim.tokens import scim_token_create

SCIM_TYPE = "application/scim+json"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimClient:
    """Django's test client with `Authorization: Bearer <token>` and SCIM JSON bodies."""

    def __init__(self, client, raw_token):
        self.client, self.raw = client, raw_token

    def request(self, method, path, body=None, *, token=None, content_type=SCIM_TYPE, raw_body=None, **headers):
        url = path if path.startswith("/") else f"/scim/v2/{path}"
        data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if (token if token is not None else self.raw):
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token if token is not None else self.raw}"
        kwargs = {"content_type": content_type} if data is not None else {}
        if data is not None:
            kwargs["data"] = data
        return getattr(self.client, method.lower())(url, **kwargs, **extra)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, operations, **kw):
        return self.request("PATCH", path, {"schemas": [PATCH_URN], "Operations": operations}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_user(self, user_name, **attrs):
        response = self.post("Users", {"schemas": [USER_URN], "userName": user_name, **attrs})
        assert response.status_code == 201, response.content
        return response.json()

    def create_group(self, name, members=(), **attrs):
        body = {"schemas": [GROUP_URN], "displayName": name, "members": [{"value": str(m)} for m in members], **attrs}
        response = self.post("Groups", body)
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def scim_token(platform_admin):
    return scim_token_create(platform_admin, name="Okta test")


@pytest.fixture
def scim(client, scim_token):
    return ScimClient(client, scim_token[1])


def assert_scim_error(response, status, scim_type=None):
    """`response` is a SCIM Error message (RFC 7644 §3.12) with this status and scimType."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == SCIM_TYPE
    body = response.json()
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type, body
    assert body.get("detail")
    return body


def db_snapshot():
    """Everything a SCIM request could change, to assert that a refused one changed nothing."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    from rbac.models import AuditEvent, Group, Membership, RoleBinding, ScimGroup, ScimUser

    tables = [
        (get_user_model(), ("id", "username", "first_name", "last_name", "email", "is_active", "password")),
        (ScimUser, ("id", "user_id", "external_id", "attributes", "updated_at")),
        (Group, ("id", "name", "source", "external_id")),
        (ScimGroup, ("id", "group_id", "updated_at")),
        (Membership, ("id", "group_id", "user_id", "source")),
        (RoleBinding, ("id", "role", "user_id", "group_id", "project_id")),
        (AuditEvent, ("id",)),
        (Session, ("session_key",)),
    ]
    return {model.__name__: list(model.objects.order_by(fields[0]).values_list(*fields)) for model, fields in tables}
