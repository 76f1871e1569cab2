"""Projects and their API keys."""

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from sarafan.core.errors import AuthenticationFailed
from sarafan.core.hashing import token_hash

from .models import ApiKey, KeyKind, Project

KEY_BODY_BYTES = 24

# Sent inside create_project's transaction with `project=`: the apps above that give a new
# project its defaults (fraud's stop-rules) connect to it in their AppConfig.ready().
project_created = Signal()


@dataclass(frozen=True)
class ApiCaller:
    """Who is calling the API: a project, in live or test mode, with a secret or publishable key."""

    project: Project
    livemode: bool
    kind: str

    @property
    def is_secret(self) -> bool:
        return self.kind == KeyKind.SECRET


def _new_key(kind: str, livemode: bool) -> str:
    mode = "live" if livemode else "test"
    return f"{kind}_{mode}_{secrets.token_urlsafe(KEY_BODY_BYTES)}"


def _store_key(*, project: Project, kind: str, livemode: bool) -> str:
    raw = _new_key(kind, livemode)
    ApiKey.objects.create(
        project=project,
        livemode=livemode,
        kind=kind,
        prefix=raw[: len(kind) + 6 + 4],
        key_hash=token_hash(raw),
    )
    return raw


@transaction.atomic
def create_project(*, name: str) -> tuple[Project, dict[str, str]]:
    """Create a project with its four keys; the raw keys are returned only this once.

    Its defaults (the stop-rules) are written by the receivers of `project_created`, in
    this transaction.
    """
    project = Project.objects.create(name=name)
    project_created.send(sender=Project, project=project)
    keys = {
        "secret_key_test": _store_key(project=project, kind=KeyKind.SECRET, livemode=False),
        "secret_key_live": _store_key(project=project, kind=KeyKind.SECRET, livemode=True),
        "publishable_key_test": _store_key(
            project=project, kind=KeyKind.PUBLISHABLE, livemode=False
        ),
        "publishable_key_live": _store_key(
            project=project, kind=KeyKind.PUBLISHABLE, livemode=True
        ),
    }
    return project, keys


# Resolved keys are remembered briefly per process: one query less on every API request.
# A deleted key keeps working here for at most this long; expiry is checked on every call.
_KEY_CACHE: dict[str, tuple[float, ApiCaller, datetime | None]] = {}
_KEY_CACHE_MAX = 4096


def authenticate_key(raw: str) -> ApiCaller:
    """Resolve a raw key to its caller; unknown, malformed and expired keys are refused."""
    if not raw or not raw.startswith(("sk_", "pk_")):
        raise AuthenticationFailed("Provide a valid API key as 'Authorization: Bearer <key>'.")
    digest = token_hash(raw)
    now = time.monotonic()
    cached = _KEY_CACHE.get(digest)
    if cached is not None and now - cached[0] < settings.SARAFAN_KEY_CACHE_SECONDS:
        _, caller, expires_at = cached
    else:
        key = (
            ApiKey.objects.select_related("project")
            .filter(key_hash=digest)
            .only(
                "livemode",
                "kind",
                "expires_at",
                "project__id",
                "project__public_id",
                "project__name",
                # Read by fulfilment on every issued reward.
                "project__tax_threshold",
                "project__tax_hold",
                "project__tax_warn_percent",
                "project__email_rewards",
            )
            .first()
        )
        if key is None:
            raise AuthenticationFailed("The API key is not valid.")
        caller = ApiCaller(project=key.project, livemode=key.livemode, kind=key.kind)
        expires_at = key.expires_at
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[digest] = (now, caller, expires_at)
    if expires_at is not None and expires_at <= timezone.now():
        raise AuthenticationFailed("The API key has expired.", code="expired_api_key")
    return caller
