"""The WSGI application: Django's, with request bodies sent in chunks read whole first."""

import io
import os
from collections.abc import Callable, Iterable
from typing import IO, Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sarafan.settings")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
READ_SIZE = 64 * 1024


class ChunkedBodies:
    """Django reads a request body only as far as its Content-Length, so one sent in chunks
    (Transfer-Encoding: chunked, no Content-Length) reached the views empty. Such a body
    is read here, up to the installation's body limit, and handed on with its length; a
    longer one is answered 413 without reading the rest."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("CONTENT_LENGTH") and _chunked(environ):
            limit = _body_limit()
            body = _read(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                return _too_large(environ, start_response, limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def _chunked(environ: dict[str, Any]) -> bool:
    codings = str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower().split(",")
    return "chunked" in (coding.strip() for coding in codings)


def _body_limit() -> int:
    from django.conf import settings

    return max(settings.SARAFAN_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)


def _read(stream: IO[bytes], most: int) -> bytes:
    """Up to `most` bytes of the stream, fewer if it ends first."""
    parts, size = [], 0
    while size < most:
        part = stream.read(min(READ_SIZE, most - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _too_large(
    environ: dict[str, Any], start_response: StartResponse, limit: int
) -> Iterable[bytes]:
    from sarafan.core.middleware import API_PREFIX, too_large

    if str(environ.get("PATH_INFO", "")).startswith(API_PREFIX):
        body = too_large().content
        content_type = "application/json"
    else:
        body = f"The request body is larger than the {limit} bytes allowed.\n".encode()
        content_type = "text/plain; charset=utf-8"
    start_response(
        "413 Content Too Large",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [body]


application = ChunkedBodies(get_wsgi_application())
