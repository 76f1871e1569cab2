"""The redirect of links this process already knows, served ahead of most middleware.

A redirect uses no session, CSRF token, user, message or language (the 302 has no text), yet
running that middleware was about a third of its time. This middleware sits after
SecurityMiddleware (the HTTPS redirect and HSTS still apply), WhiteNoise and ApiMiddleware,
and answers GET/HEAD /r/<code> when the link is in the process's link cache with a landing
URL. Everything else, including every 404 page (which needs the visitor's language), goes
down the whole stack to the redirect view as before.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .views import redirect_known_link

PREFIX = "/r/"


class KnownLinkRedirectMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(PREFIX) and request.method in ("GET", "HEAD"):
            code = path[len(PREFIX) :]
            if code and "/" not in code:  # what the URL pattern r/<str:code> matches
                request.get_host()  # an unknown Host is refused (400), as CommonMiddleware does
                response = redirect_known_link(request, code)
                if response is not None:
                    response.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
                    return response
        return self.get_response(request)
