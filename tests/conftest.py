"""Shared fixtures: a project with its four keys and JSON API clients for each key."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import settings as hypothesis_settings

from sarafan.projects.models import Project
from sarafan.projects.services import create_project

# A busy machine makes an example slow now and then: the properties judge results, never time.
hypothesis_settings.register_profile("sarafan", deadline=None)
hypothesis_settings.load_profile("sarafan")


@dataclass
class ApiClient:
    """A thin JSON client for /api/v1 that authenticates with one key."""

    client: Client
    key: str | None

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        result = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**result, **(headers or {})}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: str | bytes | None = None,
        **query: Any,
    ) -> Any:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs: dict[str, Any] = {"headers": self._headers(headers)}
        if method in {"GET", "DELETE"}:
            return getattr(self.client, method.lower())(url, query or None, **kwargs)
        return getattr(self.client, method.lower())(
            url, data=data or "", content_type="application/json", **kwargs
        )

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, **query)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@dataclass
class ProjectKeys:
    project: Project
    keys: dict[str, str]


@pytest.fixture
def project_keys(db: None) -> ProjectKeys:
    project, keys = create_project(name="Shop")
    return ProjectKeys(project=project, keys=keys)


@pytest.fixture
def project(project_keys: ProjectKeys) -> Project:
    return project_keys.project


@pytest.fixture
def api(project_keys: ProjectKeys) -> ApiClient:
    """Authenticated with the project's test secret key."""
    return ApiClient(Client(), project_keys.keys["secret_key_test"])


@pytest.fixture
def live_api(project_keys: ProjectKeys) -> ApiClient:
    return ApiClient(Client(), project_keys.keys["secret_key_live"])


@pytest.fixture
def anon_api(db: None) -> ApiClient:
    return ApiClient(Client(), None)


# Clicks without a user agent are a bot's (links/traffic.py): the test client visits as a
# desktop browser does.
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture
def client() -> Client:
    """Django's test client, sending a browser's User-Agent."""
    return Client(HTTP_USER_AGENT=BROWSER_UA)


@pytest.fixture(autouse=True)
def _fresh_fraud_lists() -> Iterator[None]:
    """Ids repeat across tests on a rolled-back database: no process cache may outlive one."""
    from sarafan.fraud.config import forget_all_lists

    forget_all_lists()
    yield
    forget_all_lists()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Every test starts with no requests counted and no client blocked in this process."""
    from sarafan.core import ratelimit

    ratelimit.reset()
    yield
    ratelimit.reset()


@pytest.fixture
def on_postgres() -> Iterator[None]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run with DATABASE_URL)")
    yield
