"""The REST API's token authentication and pagination classes.

Kept apart from portal.api: DRF imports the classes named in its settings while `rest_framework.views` itself
is loading, so this module must not import DRF views (or anything that does)."""
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.pagination import PageNumberPagination

from rbac.tokens import InvalidToken, api_token_authenticate


def token_user(header_value):
    """(user, token) for an `Authorization: Bearer trc_...` header value; raises InvalidToken.

    Shared by the DRF authentication class and the (non-DRF, async) event stream. The user object carries the
    token's project, which rbac.scoping uses to narrow every query (see `token_project_id`).
    """
    token = api_token_authenticate(header_value)
    user = token.user
    user.api_token_project_id = token.project_id
    user.api_token_id = token.pk
    return user, token


def bearer(request_headers_authorization):
    """The raw token of a `Bearer` Authorization header, or None when there is no such header."""
    parts = (request_headers_authorization or "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer trc_...`: a personal API token (never accepted in the query string, where it
    would end up in access logs)."""

    def authenticate(self, request):
        raw = bearer(get_authorization_header(request).decode("latin-1"))
        if raw is None:
            return None
        try:
            return token_user(raw)
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc))

    def authenticate_header(self, request):
        return 'Bearer realm="terrace"'


# --- Pagination ----------------------------------------------------------------------------------------

class Pagination(PageNumberPagination):
    """`?page=N&page_size=M` (at most 200); answers {count, next, previous, results}."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        """The page size asked for; a value that is not an integer from 1 to 200 is an error, not ignored."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError({"page_size": [f"Expected an integer from 1 to {self.max_page_size}."]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            param["schema"]["minimum"] = 1
            if param["name"] == self.page_size_query_param:
                param["schema"]["maximum"] = self.max_page_size
        return params

    def get_paginated_response_schema(self, schema):
        data = super().get_paginated_response_schema(schema)
        data["required"] = ["count", "results"]
        return data
