"""The SCIM 2.0 endpoint (RFC 7644) under /scim/v2/: discovery, /Users and /Groups.

Three hops like every other view: URL → view (authenticate the bearer token, parse, map errors) → service.
Every answer, errors included, is `application/scim+json`; every error is a SCIM Error message with the right
HTTP status and scimType. No session, no CSRF: the bearer token is the only credential these views accept.
"""
import json
import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidFilterException,
    InvalidSyntaxException,
    InvalidValueException,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    PayloadTooLargeException,
    PreconditionFailedException,
    ResponseParameters,
    SCIMException,
    ScimPolicy,
)

from rbac.audit import client_ip
from rbac.models import Group, Membership
from rbac.scim import services
from rbac.scim.filters import Attribute, filter_to_q
from rbac.scim.resources import (
    DEFAULT_PAGE_SIZE,
    GROUP_URN,
    LIST_URN,
    MAX_PAGE_SIZE,
    USER_URN,
    GroupResource,
    UserResource,
    group_model,
    group_payload,
    resource_types,
    schemas,
    service_provider_config,
    user_model,
    user_payload,
)
from rbac.scim.tokens import InvalidToken, scim_token_authenticate

logger = logging.getLogger(__name__)
User = get_user_model()
CONTENT_TYPE = "application/scim+json"
JSON_TYPES = {"application/scim+json", "application/json", ""}
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
# Strict on unknown attributes; tolerant of what Microsoft Entra ID sends: `remove` with a value selecting the
# members to remove, and `add` on `emails[type eq "work"].value` when the user has no work email yet.
POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

USER_FILTERS = {
    "id": Attribute("pk", kind="id"),
    "userName": Attribute("username"),
    "externalId": Attribute("scim__external_id", case_exact=True),
    "displayName": Attribute("scim__attributes__displayName"),
    "active": Attribute("is_active", kind="boolean"),
    "emails": Attribute("email"),
    "emails.value": Attribute("email"),
    "name.givenName": Attribute("first_name"),
    "name.familyName": Attribute("last_name"),
    "meta.lastModified": Attribute("scim__updated_at", kind="datetime"),
}
GROUP_FILTERS = {
    "id": Attribute("pk", kind="id"),
    "displayName": Attribute("name"),
    "externalId": Attribute("external_id", case_exact=True),
    "members": Attribute("membership__user_id", kind="id"),
    "members.value": Attribute("membership__user_id", kind="id"),
    "meta.lastModified": Attribute("scim__updated_at", kind="datetime"),
}


# --- Plumbing ------------------------------------------------------------------------------------------

def _response(data, status=200, headers=None):
    response = HttpResponse(json.dumps(data), status=status, content_type=CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _error(status, detail, scim_type=None, headers=None):
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return _response(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status, headers)


def _error_from(error):
    return _response(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), error.status or 400)


def _base(request):
    return request.build_absolute_uri(reverse("scim:root")).rstrip("/")


def scim_endpoint(**handlers):
    """A SCIM view: bearer token first, then the handler for the HTTP method; SCIM errors for everything."""

    @csrf_exempt
    def view(request, *args, **kwargs):
        try:
            token = scim_token_authenticate(request.headers.get("Authorization"))
        except InvalidToken as exc:
            return _error(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="terrace-scim"'})
        handler = handlers.get(request.method.lower())
        if handler is None:
            allowed = ", ".join(sorted(m.upper() for m in handlers))
            return _error(405, f"{request.method} is not supported here (allowed: {allowed}).",
                          headers={"Allow": allowed})
        request.scim_token = token
        try:
            # One transaction per request: a write that fails half-way changes nothing.
            with transaction.atomic(), POLICY:
                return handler(request, *args, **kwargs)
        except SCIMException as exc:
            return _error_from(exc.to_error())
        except ValidationError as exc:
            return _error_from(Error.from_validation_errors(exc)[0])

    return view


def _body(request):
    """The JSON object a request carries; invalidSyntax when it is not one."""
    if request.content_type not in JSON_TYPES:
        raise InvalidSyntaxException(detail=f"Send {CONTENT_TYPE}, not {request.content_type}.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise PayloadTooLargeException(detail="The request body is too large.") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSyntaxException(detail=f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="The body must be a JSON object.")
    return data


def _response_parameters(model, attributes, excluded):
    if not attributes and not excluded:
        return None
    return ResponseParameters[model].model_validate(
        {"attributes": attributes or None, "excludedAttributes": excluded or None}
    )


def _render(model_cls, payload, params, ctx=Context.RESOURCE_QUERY_RESPONSE):
    return model_cls.model_validate(payload).model_dump(scim_ctx=ctx, response_parameters=params)


def _resource_response(model_cls, payload, request, status=200, params=None):
    """One resource, with its ETag (and Location on creation); 304 when If-None-Match already has it."""
    etag = payload["meta"]["version"]
    headers = {"ETag": etag}
    if status == 201:
        headers["Location"] = payload["meta"]["location"]
    if status == 200 and request.method == "GET" and etag in _etags(request.headers.get("If-None-Match")):
        response = HttpResponse(status=304)
        response["ETag"] = etag
        return response
    ctx = Context.RESOURCE_CREATION_RESPONSE if status == 201 else Context.RESOURCE_QUERY_RESPONSE
    return _response(_render(model_cls, payload, params, ctx), status, headers)


def _etags(header):
    return {tag.strip() for tag in (header or "").split(",") if tag.strip()}


def _check_if_match(request, payload):
    """412 when the client sent If-Match and the resource has changed since."""
    wanted = _etags(request.headers.get("If-Match"))
    if wanted and "*" not in wanted and payload["meta"]["version"] not in wanted:
        raise PreconditionFailedException(detail="The resource has changed (If-Match does not match its ETag).")


def _int_param(value, name, default):
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidValueException(detail=f"{name} must be an integer.") from None


def _paging(query):
    start = max(_int_param(query.get("startIndex"), "startIndex", 1), 1)
    count = min(max(_int_param(query.get("count"), "count", DEFAULT_PAGE_SIZE), 0), MAX_PAGE_SIZE)
    return start, count


def _filtered(queryset, filters, schema, query):
    """`queryset` narrowed by the SCIM filter in `query`, if any (RFC 7644 §3.4.2.2)."""
    text = query.get("filter")
    if text is None:
        return queryset
    if not isinstance(text, str):
        raise InvalidValueException(detail="filter must be a string.")
    q = filter_to_q(text, filters, [schema])
    # The filter may join memberships: select ids first so each resource appears once.
    return queryset.filter(pk__in=queryset.model.objects.filter(q).values("pk"))


def _list_response(total, start, resources):
    return _response({"schemas": [LIST_URN], "totalResults": total, "startIndex": start,
                      "itemsPerPage": len(resources), "Resources": resources})


def _list(request, queryset, filters, schema, model_cls, to_payload, query):
    """A ListResponse page of `queryset` narrowed by the SCIM filter in `query` (RFC 7644 §3.4.2)."""
    params = _response_parameters(model_cls, query.get("attributes"), query.get("excludedAttributes"))
    start, count = _paging(query)
    queryset = _filtered(queryset, filters, schema, query)
    total = queryset.count()
    page = list(queryset.order_by("pk")[start - 1:start - 1 + count]) if count else []
    return _list_response(total, start, [_render(model_cls, payload, params) for payload in to_payload(page)])


def _search_query(request):
    """A POST .../.search body as the query parameters of a GET (RFC 7644 §3.4.3)."""
    body = _body(request)
    if SEARCH_URN not in (body.get("schemas") or []):
        raise InvalidSyntaxException(detail=f"A search request lists the schema {SEARCH_URN}.")
    query = dict(body)
    for key in ("attributes", "excludedAttributes"):
        if isinstance(query.get(key), list):
            query[key] = ",".join(str(v) for v in query[key])
    return query


def _query(request):
    return {key: request.GET.get(key) for key in request.GET}


# --- Users ---------------------------------------------------------------------------------------------

def _scim_groups_of(user_ids):
    """{user id: [(group pk, name)]} of SCIM groups, one query."""
    out = {}
    rows = (Membership.objects.filter(user_id__in=user_ids, group__source=Group.SCIM)
            .order_by("group_id").values_list("user_id", "group_id", "group__name"))
    for uid, gid, name in rows:
        out.setdefault(uid, []).append((gid, name))
    return out


def _users_payloads(request, users):
    base = _base(request)
    groups = _scim_groups_of([u.pk for u in users])
    return [user_payload(u, base, groups.get(u.pk, [])) for u in users]


def _user_queryset():
    return User.objects.select_related("scim")


def _locked(queryset, request):
    """Writes lock the row before reading its state: two PATCHes of one group at once (IdPs send them in
    parallel) would otherwise both start from the same members and the second would undo the first."""
    if request.method in ("GET", "HEAD"):
        return queryset
    return queryset.select_for_update(of=("self",))


def _user(request, user_id):
    if not user_id.isdigit() or len(user_id) > 18:
        raise NotFoundException(detail=f"No user with the id {user_id!r}.")
    user = _locked(_user_queryset(), request).filter(pk=int(user_id)).first()
    if user is None:
        raise NotFoundException(detail=f"No user with the id {user_id!r}.")
    return user


def _user_current(request, user_id):
    user = _user(request, user_id)
    return user, _users_payloads(request, [user])[0]


def _users_list(request, query):
    return _list(request, _user_queryset(), USER_FILTERS, USER_URN, UserResource,
                 lambda page: _users_payloads(request, page), query)


def users_get(request):
    return _users_list(request, _query(request))


def users_search(request):
    return _users_list(request, _search_query(request))


def users_create(request):
    model = UserResource.model_validate(_body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    user = services.scim_user_create(request.scim_token, model, ip=client_ip(request))
    return _resource_response(UserResource, _users_payloads(request, [_user(request, str(user.pk))])[0], request,
                              status=201)


def user_get(request, user_id):
    params = _response_parameters(UserResource, request.GET.get("attributes"), request.GET.get("excludedAttributes"))
    _user_obj, payload = _user_current(request, user_id)
    return _resource_response(UserResource, payload, request, params=params)


def user_put(request, user_id):
    user, payload = _user_current(request, user_id)
    _check_if_match(request, payload)
    model = UserResource.model_validate(_body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    model.replace(user_model(payload))
    services.scim_user_update(request.scim_token, user, model, ip=client_ip(request))
    return _resource_response(UserResource, _user_current(request, user_id)[1], request)


def user_patch(request, user_id):
    user, payload = _user_current(request, user_id)
    _check_if_match(request, payload)
    patch = PatchOp[UserResource].model_validate(_body(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    model = user_model(payload)
    patch.patch(model)
    services.scim_user_update(request.scim_token, user, model, ip=client_ip(request))
    return _resource_response(UserResource, _user_current(request, user_id)[1], request)


def user_delete(request, user_id):
    user, payload = _user_current(request, user_id)
    _check_if_match(request, payload)
    services.scim_user_delete(request.scim_token, user, ip=client_ip(request))
    return HttpResponse(status=204)


def _drop_member_display(body):
    """Okta sends `display` with each member; RFC 7643 §8.7.1 has no such sub-attribute and Terrace shows the
    username anyway, so it is dropped rather than refused (anything else unknown is still refused)."""
    def clean(members):
        if isinstance(members, list):
            for member in members:
                if isinstance(member, dict):
                    member.pop("display", None)

    clean(body.get("members"))
    operations = body.get("Operations")
    for operation in operations if isinstance(operations, list) else []:
        if not isinstance(operation, dict):
            continue
        value = operation.get("value")
        if str(operation.get("path", "")).lower() == "members":
            clean(value)
        elif isinstance(value, dict):
            clean(value.get("members"))
    return body


# --- Groups --------------------------------------------------------------------------------------------

def _group_queryset():
    """SCIM sees only the groups it manages."""
    return Group.objects.filter(source=Group.SCIM).select_related("scim")


def _groups_payloads(request, groups, with_members=True):
    base = _base(request)
    members = {}
    if with_members:
        rows = Membership.objects.filter(group__in=groups).values_list("group_id", "user_id")
        for gid, uid in rows:
            members.setdefault(gid, set()).add(uid)
    return [group_payload(g, base, members.get(g.pk, set())) for g in groups]


def _group(request, group_id):
    if not group_id.isdigit() or len(group_id) > 18:
        raise NotFoundException(detail=f"No group with the id {group_id!r}.")
    group = _locked(_group_queryset(), request).filter(pk=int(group_id)).first()
    if group is None:
        raise NotFoundException(detail=f"No group with the id {group_id!r}.")
    return group


def _group_current(request, group_id):
    group = _group(request, group_id)
    return group, _groups_payloads(request, [group])[0]


def _groups_list(request, query):
    return _list(request, _group_queryset(), GROUP_FILTERS, GROUP_URN, GroupResource,
                 lambda page: _groups_payloads(request, page), query)


def groups_get(request):
    return _groups_list(request, _query(request))


def groups_search(request):
    return _groups_list(request, _search_query(request))


def groups_create(request):
    model = GroupResource.model_validate(_drop_member_display(_body(request)),
                                        scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    group = services.scim_group_create(request.scim_token, model, ip=client_ip(request))
    return _resource_response(GroupResource, _group_current(request, str(group.pk))[1], request, status=201)


def group_get(request, group_id):
    params = _response_parameters(GroupResource, request.GET.get("attributes"),
                                  request.GET.get("excludedAttributes"))
    _group_obj, payload = _group_current(request, group_id)
    return _resource_response(GroupResource, payload, request, params=params)


def group_put(request, group_id):
    group, payload = _group_current(request, group_id)
    _check_if_match(request, payload)
    model = GroupResource.model_validate(_drop_member_display(_body(request)),
                                        scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    model.replace(group_model(payload))
    services.scim_group_update(request.scim_token, group, model, ip=client_ip(request))
    return _resource_response(GroupResource, _group_current(request, group_id)[1], request)


def group_patch(request, group_id):
    group, payload = _group_current(request, group_id)
    _check_if_match(request, payload)
    patch = PatchOp[GroupResource].model_validate(_drop_member_display(_body(request)),
                                                  scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    model = group_model(payload)
    patch.patch(model)
    services.scim_group_update(request.scim_token, group, model, ip=client_ip(request))
    return _resource_response(GroupResource, _group_current(request, group_id)[1], request)


def group_delete(request, group_id):
    group, payload = _group_current(request, group_id)
    _check_if_match(request, payload)
    services.scim_group_delete(request.scim_token, group, ip=client_ip(request))
    return HttpResponse(status=204)


# --- Discovery and the rest ----------------------------------------------------------------------------

def _discovery_list(documents):
    docs = list(documents.values())
    return _response({"schemas": [LIST_URN], "totalResults": len(docs), "startIndex": 1,
                      "itemsPerPage": len(docs), "Resources": docs})


def _discovery_one(documents, key, what):
    if key not in documents:
        raise NotFoundException(detail=f"No {what} {key!r}.")
    return _response(documents[key])


def root_search(request):
    """POST /.search: users then groups, one page over both (RFC 7644 §3.4.3).

    A filter or an attribute that one resource type does not have leaves that type out (filter) or is
    ignored for it (attributes); a filter neither type understands is invalidFilter."""
    query = _search_query(request)
    start, count = _paging(query)
    kinds = [
        (_user_queryset(), USER_FILTERS, USER_URN, UserResource, lambda page: _users_payloads(request, page)),
        (_group_queryset(), GROUP_FILTERS, GROUP_URN, GroupResource, lambda page: _groups_payloads(request, page)),
    ]
    parts, refusals = [], []
    for queryset, filters, schema, model_cls, to_payload in kinds:
        try:
            queryset = _filtered(queryset, filters, schema, query)
        except InvalidFilterException as exc:
            refusals.append(exc)
            continue
        try:
            params = _response_parameters(model_cls, query.get("attributes"), query.get("excludedAttributes"))
        except ValidationError:
            params = None
        parts.append((queryset, model_cls, to_payload, params))
    if not parts:
        raise refusals[0]
    total, skip, resources = 0, start - 1, []
    for queryset, model_cls, to_payload, params in parts:
        size = queryset.count()
        total += size
        wanted = count - len(resources)
        if wanted > 0 and skip < size:
            page = list(queryset.order_by("pk")[skip:skip + wanted])
            resources += [_render(model_cls, payload, params) for payload in to_payload(page)]
        skip = max(skip - size, 0)
    return _list_response(total, start, resources)


def _not_implemented(what):
    def handler(request, *args, **kwargs):
        raise NotImplementedException(detail=f"{what} is not supported.")
    return handler


def _not_found(request, *args, **kwargs):
    raise NotFoundException(detail=f"No SCIM endpoint at {request.path}.")


service_provider_config_view = scim_endpoint(get=lambda r: _response(service_provider_config(_base(r))))
resource_types_view = scim_endpoint(get=lambda r: _discovery_list(resource_types(_base(r))))
resource_type_view = scim_endpoint(get=lambda r, rid: _discovery_one(resource_types(_base(r)), rid, "resource type"))
schemas_view = scim_endpoint(get=lambda r: _discovery_list(schemas(_base(r))))
schema_view = scim_endpoint(get=lambda r, sid: _discovery_one(schemas(_base(r)), sid, "schema"))
users_view = scim_endpoint(get=users_get, post=users_create)
users_search_view = scim_endpoint(post=users_search)
user_view = scim_endpoint(get=user_get, put=user_put, patch=user_patch, delete=user_delete)
groups_view = scim_endpoint(get=groups_get, post=groups_create)
groups_search_view = scim_endpoint(post=groups_search)
group_view = scim_endpoint(get=group_get, put=group_put, patch=group_patch, delete=group_delete)
search_view = scim_endpoint(post=root_search)
bulk_view = scim_endpoint(post=_not_implemented("Bulk"))
me_view = scim_endpoint(**{m: _not_implemented("/Me") for m in ("get", "put", "patch", "delete", "post")})
not_found_view = scim_endpoint(**{m: _not_found for m in ("get", "put", "patch", "delete", "post")})
