"""/r/<code> of a link the process remembers is answered ahead of most middleware, with the
same answer the redirect view gives; anything else still goes through the whole stack."""

import pytest
from django.test import Client

from sarafan.links.models import Click
from tests.links.support import make_campaign


@pytest.fixture
def code(api, project):
    make_campaign(project)
    return api.put("participants/u-7", {}).json()["referral_code"]


@pytest.fixture
def known(client, code):
    """The code, its link remembered by this process after one redirect."""
    assert client.head(f"/r/{code}").status_code == 302
    return code


def test_remembered_link_is_answered_like_the_view_does(client, code, settings):
    settings.HTTPS = True
    first = client.get(f"/r/{code}?utm_source=tg")  # looked up: the redirect view
    client.cookies.clear()  # a new visitor again
    second = client.get(f"/r/{code}?utm_source=tg")  # remembered: the middleware
    assert second.status_code == first.status_code == 302
    for header in (
        "Location",
        "Cache-Control",
        "Content-Type",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
    ):
        assert second[header] == first[header], header
    assert second.cookies["sf_vid"].value != first.cookies["sf_vid"].value
    for attribute in ("max-age", "samesite", "secure", "path", "httponly"):
        assert second.cookies["sf_vid"][attribute] == first.cookies["sf_vid"][attribute]
    assert Click.objects.count() == 2


def test_remembered_link_costs_no_query(client, known, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.head(f"/r/{known}").status_code == 302


def test_unknown_host_is_refused_on_the_short_path_too(client, known):
    assert client.get(f"/r/{known}", HTTP_HOST="evil.example").status_code == 400
    assert not Click.objects.exists()


def test_https_redirect_still_comes_first(known, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get(f"/r/{known}")  # a new client loads the middleware anew
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_other_methods_and_paths_take_the_whole_stack(client, known):
    assert client.post(f"/r/{known}").status_code == 405
    assert client.get(f"/r/{known}/").status_code == 404
    assert client.get(f"/r/{known}/qr.svg").status_code == 200


def test_not_found_page_is_still_in_the_visitors_language(client, known):
    english = client.get("/r/NOSUCH22", HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 404
    assert b"This referral link does not exist." in english.content
