"""Refused SCIM requests: each answers a SCIM Error (RFC 7644 §3.12) with the right status and scimType, and
changes nothing in the database."""
import pytest

from rbac.models import Group, Membership
from tests.rbac import scim_support
from tests.rbac.scim_support import GROUP_URN, PATCH_URN, USER_URN, assert_scim_error, db_snapshot

scim, scim_token = scim_support.scim, scim_support.scim_token  # fixtures


@pytest.fixture
def world(scim, make_user):
    """A SCIM user alice in the SCIM group devs, a second SCIM user bob, and a local group with a local user."""
    alice = scim.create_user("alice", displayName="Alice", externalId="okta-alice")
    bob = scim.create_user("bob")
    devs = scim.create_group("devs", members=[alice["id"]])
    local = make_user("carol")
    admins = Group.objects.create(name="admins")
    Membership.objects.create(group=admins, user=local)
    return {"alice": alice["id"], "bob": bob["id"], "devs": devs["id"], "admins": admins.pk, "carol": local.pk}


def _user(name, **extra):
    return {"schemas": [USER_URN], "userName": name, **extra}


def _ops(*operations):
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


LONG_FILTER = 'userName eq "' + "a" * 2000 + '"'
DEEP_FILTER = "(" * 20 + 'userName eq "a"' + ")" * 20

# id -> (method, path (format keys from `world`), body or raw string, status, scimType)
CASES = {
    "malformed-json": ("POST", "Users", '{"userName": "x",', 400, "invalidSyntax"),
    "json-not-object": ("POST", "Users", "[]", 400, "invalidSyntax"),
    "wrong-content-type": ("POST", "Users", ("text/plain", '{"userName": "x"}'), 400, "invalidSyntax"),
    "unknown-attribute": ("POST", "Users", _user("dave", favouriteColour="blue"), 400, "invalidSyntax"),
    "unknown-schema-extension": ("POST", "Users", _user("dave", **{"urn:example:ext:1.0": {"a": 1}}), 400,
                                 "invalidSyntax"),
    "missing-userName": ("POST", "Users", {"schemas": [USER_URN], "displayName": "No name"}, 400, "invalidValue"),
    "userName-with-space": ("POST", "Users", _user("dave smith"), 400, "invalidValue"),
    "userName-too-long": ("POST", "Users", _user("d" * 151), 400, "invalidValue"),
    "active-not-boolean": ("POST", "Users", _user("dave", active="maybe"), 400, "invalidValue"),
    "duplicate-userName-other-case": ("POST", "Users", _user("ALICE"), 409, "uniqueness"),
    "put-takes-other-userName": ("PUT", "Users/{alice}", _user("bob"), 409, "uniqueness"),
    "patch-unknown-path": ("PATCH", "Users/{alice}", _ops({"op": "replace", "path": "favouriteColour", "value": "x"}),
                           400, "invalidPath"),
    "patch-unknown-op": ("PATCH", "Users/{alice}", _ops({"op": "explode", "path": "displayName"}), 400,
                         "invalidValue"),
    "patch-no-operations": ("PATCH", "Users/{alice}", {"schemas": [PATCH_URN]}, 400, "invalidValue"),
    "patch-removes-userName": ("PATCH", "Users/{alice}", _ops({"op": "remove", "path": "userName"}), 400,
                               "mutability"),
    "patch-half-valid-is-atomic": ("PATCH", "Users/{alice}", _ops(
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "replace", "path": "nope", "value": "x"},
    ), 400, "invalidPath"),
    "filter-or-1-eq-1": ("GET", 'Users?filter=userName eq "x" or 1 eq 1', None, 400, "invalidFilter"),
    "filter-unquoted-sql": ("GET", "Users?filter=userName eq x' OR '1'='1", None, 400, "invalidFilter"),
    "filter-sql-comment": ("GET", 'Users?filter=userName eq "a" -- ', None, 400, "invalidFilter"),
    "filter-semicolon": ("GET", 'Users?filter=userName eq "a"; DROP TABLE auth_user', None, 400, "invalidFilter"),
    "filter-too-long": ("GET", "Users?filter=" + LONG_FILTER, None, 400, "invalidFilter"),
    "filter-too-deep": ("GET", "Users?filter=" + DEEP_FILTER, None, 400, "invalidFilter"),
    "filter-unknown-attribute": ("GET", 'Users?filter=password eq "x"', None, 400, "invalidFilter"),
    "filter-missing-value": ("GET", "Users?filter=userName eq", None, 400, "invalidFilter"),
    "filter-unknown-operator": ("GET", 'Users?filter=userName like "a%"', None, 400, "invalidFilter"),
    "filter-unclosed-parenthesis": ("GET", 'Users?filter=(userName eq "a"', None, 400, "invalidFilter"),
    "filter-null": ("GET", "Users?filter=userName eq null", None, 400, "invalidFilter"),
    "group-filter-unknown-attribute": ("GET", 'Groups?filter=source eq "local"', None, 400, "invalidFilter"),
    "count-not-integer": ("GET", "Users?count=ten", None, 400, "invalidValue"),
    "group-unknown-member": ("PATCH", "Groups/{devs}", _ops({"op": "add", "path": "members",
                                                             "value": [{"value": "987654"}]}), 400, "invalidValue"),
    "group-half-valid-members-is-atomic": ("PATCH", "Groups/{devs}", _ops(
        {"op": "add", "path": "members", "value": [{"value": "{bob}"}]},
        {"op": "add", "path": "members", "value": [{"value": "not-a-user"}]},
    ), 400, "invalidValue"),
    "group-nested-group-member": ("PATCH", "Groups/{devs}", _ops({"op": "add", "path": "members",
                                                                  "value": [{"value": "{devs}", "type": "Group"}]}),
                                  400, "invalidValue"),
    "group-takes-local-group-name": ("POST", "Groups", {"schemas": [GROUP_URN], "displayName": "Admins"}, 409,
                                     "uniqueness"),
    "group-rename-to-local-name": ("PATCH", "Groups/{devs}", _ops({"op": "replace", "path": "displayName",
                                                                   "value": "admins"}), 409, "uniqueness"),
    "patch-local-group": ("PATCH", "Groups/{admins}", _ops({"op": "add", "path": "members",
                                                            "value": [{"value": "{alice}"}]}), 404, None),
    "put-local-group": ("PUT", "Groups/{admins}", {"schemas": [GROUP_URN], "displayName": "admins"}, 404, None),
    "delete-local-group": ("DELETE", "Groups/{admins}", None, 404, None),
    "unknown-user": ("GET", "Users/424242", None, 404, None),
    "non-numeric-id": ("DELETE", "Users/1 OR 1=1", None, 404, None),
    "stale-if-match": ("PUT", "Users/{alice}", _user("alice"), 412, None),
    "body-too-large": ("POST", "Users", '{"userName": "' + "x" * (3 * 1024 * 1024) + '"}', 413, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_request_is_a_scim_error_and_changes_nothing(case, scim, world):
    method, path, body, status, scim_type = CASES[case]
    path = path.format(**world)
    kwargs = {}
    if isinstance(body, tuple):
        kwargs["content_type"], kwargs["raw_body"] = body
    elif isinstance(body, str):
        kwargs["raw_body"] = body.replace("{bob}", world["bob"]) if "{bob}" in body else body
    elif body is not None:
        import json

        kwargs["raw_body"] = json.dumps(body).replace("{bob}", world["bob"]).replace("{devs}", world["devs"]) \
            .replace("{alice}", world["alice"])
    if case == "stale-if-match":
        kwargs["If-Match"] = 'W/"stale"'
    before = db_snapshot()
    response = scim.request(method, path, **kwargs)
    assert_scim_error(response, status, scim_type)
    assert db_snapshot() == before


def test_sql_meta_characters_in_a_quoted_value_are_just_a_value(scim, world):
    """A well-formed filter whose value holds SQL is compared as a string: no match, no error, nothing run."""
    for value in ["x'; DROP TABLE auth_user; --", 'a\\" or \\"1\\"=\\"1', "%", "_", "alice%"]:
        response = scim.get(f'Users?filter=userName eq "{value}"')
        assert response.status_code == 200, (value, response.content)
        assert response.json()["totalResults"] == 0, value
    assert scim.get('Users?filter=userName eq "alice"').json()["totalResults"] == 1
