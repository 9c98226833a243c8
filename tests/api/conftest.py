"""API test helpers: a Django test client that authenticates with a real personal API token."""
import pytest

from rbac.tokens import api_token_create


class Api:
    """Django's test client with `Authorization: Bearer <token>` on every request, JSON in and out."""

    def __init__(self, client, raw):
        self.client, self.raw = client, raw

    def _headers(self, extra):
        return {"Authorization": f"Bearer {self.raw}", **(extra or {})}

    def get(self, url, data=None, headers=None):
        return self.client.get(url, data, headers=self._headers(headers))

    def post(self, url, data=None, headers=None):
        return self.client.post(url, data or {}, content_type="application/json", headers=self._headers(headers))

    def delete(self, url, headers=None):
        return self.client.delete(url, headers=self._headers(headers))


@pytest.fixture
def api_as(client):
    """api_as(user, project=None, expires_at=None) -> Api acting with a fresh token of `user`."""

    def make(user, **kwargs):
        _token, raw = api_token_create(user, name="test", **kwargs)
        return Api(client, raw)

    return make
