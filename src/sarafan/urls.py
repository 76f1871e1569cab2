"""Mounts the API, the redirect, the portal and the console."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from sarafan.api import api
from sarafan.core import views as core
from sarafan.links import views as links
from sarafan.portal import views as portal

urlpatterns = [
    path("api/v1/", api.urls),
    path("healthz", core.healthz, name="healthz"),
    path("readyz", core.readyz, name="readyz"),
    path("r/<str:code>", links.redirect, name="redirect"),
    path("r/<str:code>/qr.svg", links.qr_svg, name="qr-svg"),
    path("r/<str:code>/qr.png", links.qr_png, name="qr-png"),
    path("p/<str:token>", portal.portal, name="portal"),
    path(
        "p/<str:token>/rewards/<str:reward_id>/brand",
        portal.choose_brand,
        name="portal_choose_brand",
    ),
    # Decisions and alerts were fraud's models before the moderation and alerts apps: old
    # links to their console pages still arrive.
    *(
        re_path(
            rf"^console/fraud/{model}/(?P<rest>.*)$",
            RedirectView.as_view(
                url=f"/console/{app}/{model}/%(rest)s", permanent=True, query_string=True
            ),
        )
        for app, model in (("moderation", "decision"), ("alerts", "alert"))
    ),
    path("console/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", RedirectView.as_view(url="/console/", permanent=False)),
]
