"""The REST API's shared parts: token authentication, pagination, the one error shape, ETags, the router.

Every failure answers `{"error": {"code", "message", "fields"}}`, where `fields` maps a field path
(`name`, `variables.region`) to its messages. Views live beside their app (`environments/api.py`,
`rbac/api.py`) and read through the same selectors and `rbac.scoping.scope()` as the pages; writes go through
the same services, which re-check permissions with the acting user.
"""
import hashlib
import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponseNotModified
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from portal.api_base import Pagination, TokenAuthentication, bearer, token_user  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


# --- Authentication (in portal.api_base: DRF imports it while rest_framework.views loads) --------------

class _TokenSchemeExtension(OpenApiAuthenticationExtension):
    """drf-spectacular: document the bearer token scheme."""

    target_class = "portal.api_base.TokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "trc_<prefix>_<secret>",
                "description": "A personal API token, created under your name → API tokens."}


# --- Input -------------------------------------------------------------------------------------------

def _json_type(field):
    if isinstance(field, serializers.BooleanField):
        return bool, "a boolean"
    if isinstance(field, serializers.IntegerField):
        return int, "an integer"
    if isinstance(field, (serializers.CharField, serializers.ChoiceField)):
        return str, "a string"
    if isinstance(field, serializers.DictField):
        return dict, "an object"
    if isinstance(field, serializers.ListField):
        return list, "an array"
    return None, None


class StrictInputSerializer(serializers.Serializer):
    """A request body whose JSON types must be exactly the documented ones (DRF alone turns 0 into "0" and
    "1" into 1, so a client with a bug would get a silent conversion instead of an error)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, field in self.fields.items():
                if field.read_only or name not in data or data[name] is None:
                    continue
                expected, label = _json_type(field)
                value = data[name]
                if expected and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
                    errors[name] = [f"Expected {label}."]
            if errors:
                raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)


def validated(serializer_class, data):
    """`data` checked by `serializer_class`; a ValidationError becomes the API's one error shape."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def query_params(request, serializer_class):
    """Validated query parameters. Each is checked as given: an empty `?status=` is an error, not "no filter"
    (DRF's form-style parsing would silently drop it)."""
    return validated(serializer_class, {key: request.query_params.get(key) for key in request.query_params})


@csrf_exempt  # it changes nothing; without this a POST would get the CSRF page (HTML) instead of the JSON 404
def api_not_found(request, *args, **kwargs):
    """Any /api/v1/ URL that matches no endpoint (e.g. a non-numeric id): a 404 in the API's error shape."""
    from django.http import JsonResponse

    return JsonResponse(_body("not_found", "Not found (or not visible to you)."), status=404)


# --- Errors --------------------------------------------------------------------------------------------

class ApiError(exceptions.APIException):
    """An error with a code, a message and field paths, raised by API views."""

    def __init__(self, message, *, code="invalid", status_code=400, fields=None):
        super().__init__(message)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}


def flatten_fields(detail, prefix=""):
    """DRF's nested error detail as {"a.b.0.c": [messages]}; errors about no one field go under "__all__"."""
    out = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                name = prefix or "__all__"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for k, v in flatten_fields(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "__all__"] = [str(item) for item in detail]
        else:
            for i, item in enumerate(detail):
                for k, v in flatten_fields(item, f"{prefix}.{i}" if prefix else str(i)).items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "__all__"] = [str(detail)]
    return out


def _body(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    """Every API failure in one shape. Unknown exceptions propagate (a 500 with Django's own logging)."""
    from environments import services as env_services
    from rbac import services as rbac_services

    headers = {}
    if isinstance(exc, ApiError):
        return Response(_body(exc.error_code, str(exc.detail), exc.fields), status=exc.status_code)
    if isinstance(exc, (Http404, exceptions.NotFound)):
        return Response(_body("not_found", "Not found (or not visible to you)."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(_body("forbidden", str(exc) or "You may not do this."), status=403)
    if isinstance(exc, env_services.RunConflict):
        return Response(_body("conflict", str(exc)), status=409)
    if isinstance(exc, rbac_services.InvalidRequest):
        fields = {exc.field: [str(exc)]} if getattr(exc, "field", None) else {}
        return Response(_body("invalid", str(exc), fields), status=400)
    if isinstance(exc, env_services.PolicyViolation):
        fields = {(f"variables.{name}" if name else "__all__"): [message] for name, message in exc.errors.items()}
        return Response(_body("invalid", str(exc), fields), status=400)
    if isinstance(exc, env_services.InvalidRequest):
        fields = {exc.field: [str(exc)]} if getattr(exc, "field", None) else {}
        code = "quota_exceeded" if isinstance(exc, env_services.QuotaExceeded) else "invalid"
        return Response(_body(code, str(exc), fields), status=400)
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_fields(exc.detail)
        first = next(iter(fields.items()), ("", ["Invalid input."]))
        message = f"{first[0]}: {first[1][0]}" if first[0] and first[0] != "__all__" else first[1][0]
        return Response(_body("invalid", message, fields), status=400)
    if isinstance(exc, exceptions.APIException):
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            headers["WWW-Authenticate"] = 'Bearer realm="terrace"'
            code = "not_authenticated" if isinstance(exc, exceptions.NotAuthenticated) else "authentication_failed"
            return Response(_body(code, str(exc.detail)), status=401, headers=headers)
        if isinstance(exc, exceptions.Throttled) and exc.wait:
            headers["Retry-After"] = str(int(exc.wait))
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (dict, list)) else "; ".join(
            m for ms in flatten_fields(detail).values() for m in ms)
        return Response(_body(exc.default_code, message), status=exc.status_code, headers=headers)
    return None


ERROR_RESPONSES = {
    "400": "The request is invalid; `fields` names each wrong field by its path.",
    "401": "No valid API token or session (missing, unknown, expired or revoked token).",
    "403": "You can see the object but may not do this.",
    "404": "No such object, or not visible to you.",
}


def schema_postprocess(result, generator, request, public):
    """Add the error responses every operation can give, and the event stream (a plain ASGI view)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "type": "object",
        "description": "The one error shape of the API.",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {"type": "object", "description": "Field path → messages, e.g. variables.region.",
                           "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        }},
    }
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            codes = dict(ERROR_RESPONSES)
            if method != "get":
                codes["409"] = "Conflicts with the object's current state (e.g. a run already in progress)."
            else:
                responses.setdefault("304", {"description": "Not modified (If-None-Match matched the ETag)."})
            for code, description in codes.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": ref}}})
    result["paths"]["/api/v1/runs/{id}/events/stream/"] = {"get": {
        "operationId": "runs_events_stream",
        "summary": "The run's log, live, as Server-Sent Events",
        "description": (
            "Each event is sent with `id: <seq>`; resume with `Last-Event-ID: <seq>` or `?after=<seq>` (the "
            "same cursor as `/api/v1/runs/{id}/events/`). The stream ends with an `end` event carrying the "
            "run's final status. Authenticate with the bearer token (or the browser session)."),
        "tags": ["runs"],
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
            {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "security": [{"apiToken": []}, {"cookieAuth": []}],
        "responses": {
            "200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **{code: {"description": ERROR_RESPONSES[code], "content": {"text/plain": {"schema": {"type": "string"}}}}
               for code in ("400", "401", "404")},
        },
    }}
    return result


# --- Views ---------------------------------------------------------------------------------------------

class ApiView:
    """Mixin for every API view: weak ETags on GET so pollers get 304 Not Modified for unchanged data."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "GET" and response.status_code == 200 and isinstance(response, Response):
            response.render()
            etag = 'W/"' + hashlib.sha256(response.content).hexdigest()[:32] + '"'
            response["ETag"] = etag
            if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
                not_modified = HttpResponseNotModified()
                not_modified["ETag"] = etag
                return not_modified
        return response


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
    token_project = serializers.CharField(allow_null=True, help_text="Slug of the token's project, if scoped.")
    org_admin = serializers.BooleanField()


class MeView(ApiView, APIView):
    """Who the request acts as (the CLI's `terrace login` checks a token with it)."""

    @extend_schema(responses=MeSerializer, tags=["account"], operation_id="me")
    def get(self, request):
        from rbac import permissions as perms
        from rbac.models import Project
        from rbac.scoping import has_org_perm, token_project_id

        narrowed = token_project_id(request.user)
        return Response({
            "username": request.user.get_username(),
            "email": request.user.email or "",
            "token_project": Project.objects.filter(pk=narrowed).values_list("slug", flat=True).first()
            if narrowed else None,
            "org_admin": has_org_perm(request.user, perms.ORG_MANAGE),
        })


def router():
    from environments import api as env_api
    from rbac import api as rbac_api

    r = DefaultRouter(trailing_slash=True)
    r.include_root_view = False
    env_api.register(r)
    rbac_api.register(r)
    return r


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema (public, like the docs page: it describes the API, not anyone's data)."""

    authentication_classes = []


def urlpatterns():
    from environments.api import run_events_stream

    return [
        path("me/", MeView.as_view(), name="me"),
        path("runs/<int:pk>/events/stream/", run_events_stream, name="runs-events-stream"),
        path("schema/", SchemaView.as_view(), name="schema"),
        path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[]),
             name="docs"),
        path("redoc/", SpectacularRedocView.as_view(url_name="api:schema", authentication_classes=[]),
             name="redoc"),
        path("", include(router().urls)),
        re_path(r"", api_not_found),
    ]

