"""GET /r/<code>: the click is recorded and the visitor lands on the campaign's page."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from sarafan.core.addresses import client_ip
from sarafan.core.hashing import keyed_hash
from sarafan.links.models import Click
from sarafan.links.services import landing_url_for
from tests.links.support import make_campaign

IP = "203.0.113.7"


@pytest.fixture
def campaign(project):
    return make_campaign(project)


@pytest.fixture
def code(api, campaign):
    return api.put("participants/u-7", {"email": "anna@example.ru"}).json()["referral_code"]


def _query(response):
    parts = urlsplit(response["Location"])
    return parts, parse_qs(parts.query)


def test_redirect_goes_to_landing_with_ref(client, code):
    response = client.get(f"/r/{code}")
    assert response.status_code == 302
    parts, query = _query(response)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "shop.example", "/welcome")
    assert query == {"x": ["1"], "ref": [code]}
    assert response["Cache-Control"] == "no-store"


def test_redirect_merges_link_utm_into_landing_query(api, client, project, code):
    make_campaign(
        project,
        name="Other",
        landing_url="https://shop.example/promo?utm_source=site&keep=yes#top",
    )
    from sarafan.campaigns.models import Campaign

    other = Campaign.objects.get(name="Other")
    link = api.post(
        "participants/u-7/links",
        {
            "channel": "email",
            "utm": {"utm_source": "newsletter", "utm_campaign": "spring"},
            "campaign": other.public_id,
        },
    ).json()
    response = client.get(f"/r/{link['code']}")
    parts, query = _query(response)
    assert parts.path == "/promo"
    assert parts.fragment == "top"
    assert query == {
        "utm_source": ["newsletter"],
        "keep": ["yes"],
        "ref": [link["code"]],
        "utm_campaign": ["spring"],
    }


def test_code_is_case_insensitive(client, code):
    response = client.get(f"/r/{code.lower()}")
    assert response.status_code == 302
    assert _query(response)[1]["ref"] == [code]


def test_click_is_recorded_with_hashed_ip_only(client, code):
    client.get(
        f"/r/{code}?utm_source=tg&utm_medium=post",
        REMOTE_ADDR=IP,
        HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 600,
        HTTP_REFERER="https://t.me/some/chat",
    )
    click = Click.objects.get()
    assert click.participant.external_id == "u-7"
    assert click.channel == "link"
    assert click.campaign is not None
    assert click.ip_hash == keyed_hash(IP, purpose="ip")
    assert len(click.user_agent) == 500
    assert click.referer == "https://t.me/some/chat"
    assert click.utm == {"utm_source": "tg", "utm_medium": "post"}
    assert click.livemode is False
    stored = Click.objects.filter(pk=click.pk).values().get()
    assert IP not in repr(stored)


def test_click_ids_are_captured(client, code):
    client.get(
        f"/r/{code}",
        {"prm_click_id": "p1", "gclid": "g1", "yclid": "y1", "fbclid": "f1", "other": "no"},
    )
    assert Click.objects.get().click_ids == {
        "prm_click_id": "p1",
        "gclid": "g1",
        "yclid": "y1",
        "fbclid": "f1",
    }


def test_visitor_cookie_is_set_once_and_reused(client, code, settings):
    first = client.get(f"/r/{code}")
    cookie = first.cookies["sf_vid"]
    assert len(cookie.value) >= 16
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == settings.SARAFAN_VISITOR_COOKIE_DAYS * 86400
    assert not cookie["httponly"]
    second = client.get(f"/r/{code}")
    assert "sf_vid" not in second.cookies
    assert [c.visitor_id for c in Click.objects.order_by("id")] == [cookie.value] * 2


def test_malformed_visitor_cookie_is_replaced(code):
    client = Client()
    client.cookies["sf_vid"] = "<script>"
    response = client.get(f"/r/{code}")
    fresh = response.cookies["sf_vid"].value
    assert fresh != "<script>"
    assert Click.objects.get().visitor_id == fresh


def test_visitor_cookie_is_secure_over_https(client, code, settings):
    settings.HTTPS = True
    assert client.get(f"/r/{code}").cookies["sf_vid"]["secure"]


def test_unknown_code_is_a_plain_html_404(client, campaign):
    response = client.get("/r/NOSUCH22")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"<html" in response.content
    assert not Click.objects.exists()


def test_code_of_impossible_shape_is_404_without_a_query(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/r/" + "A" * 40).status_code == 404


def test_without_any_campaign_the_program_is_not_active(api, client):
    code = api.put("participants/u-7", {}).json()["referral_code"]
    response = client.get(f"/r/{code}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_link_without_campaign_falls_back_to_default_campaign(api, client, project):
    code = api.put("participants/u-7", {}).json()["referral_code"]
    make_campaign(project, landing_url="https://shop.example/late")
    response = client.get(f"/r/{code}")
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example/late?ref=")


@pytest.mark.parametrize(
    "query",
    [
        "?next=https://evil.example/",
        "?url=https://evil.example/",
        "?redirect_uri=//evil.example",
        "?landing_url=https://evil.example&ref=EVIL",
        "?utm_source=x%0d%0aLocation:%20https://evil.example",
    ],
)
def test_redirect_target_cannot_be_injected(client, code, query):
    response = client.get(f"/r/{code}{query}")
    assert response.status_code == 302
    parts, params = _query(response)
    assert parts.netloc == "shop.example"
    assert "evil" not in response["Location"]
    assert params["ref"] == [code]


def test_direct_redirect_is_one_lookup_and_one_insert(
    client, code, settings, django_assert_num_queries
):
    settings.SARAFAN_CLICK_WRITES = "direct"
    with django_assert_num_queries(2):
        response = client.get(f"/r/{code}?gclid=1", REMOTE_ADDR=IP)
    assert response.status_code == 302
    with django_assert_num_queries(1):  # the link is remembered: the insert only
        assert client.get(f"/r/{code}?gclid=2", REMOTE_ADDR=IP).status_code == 302
    assert Click.objects.count() == 2


def test_head_request_does_not_count_as_a_click(client, code):
    assert client.head(f"/r/{code}").status_code == 302
    assert not Click.objects.exists()


def test_landing_url_keeps_params_and_overrides_same_keys():
    url = landing_url_for(
        landing_url="https://shop.example/w?a=1&ref=old&utm_source=site&ref=again",
        code="K7QX2M9A",
        utm={"utm_source": "mail", "utm_term": "gift"},
    )
    assert url == "https://shop.example/w?a=1&ref=K7QX2M9A&utm_source=mail&utm_term=gift"


@pytest.mark.parametrize("landing", ["javascript:alert(1)", "/relative", "ftp://shop.example/"])
def test_only_absolute_http_landing_urls_are_targets(landing):
    assert landing_url_for(landing_url=landing, code="K7QX2M9A", utm={}) is None


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.1"),
        (1, "198.51.100.9, 198.51.100.1", "198.51.100.1"),
        (2, "spoofed, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (3, "198.51.100.1", "198.51.100.1"),
        (1, "not-an-ip", ""),
        (1, "", "10.0.0.1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxy_hops(rf, settings, hops, forwarded, expected):
    settings.SARAFAN_TRUSTED_PROXY_HOPS = hops
    request = rf.get("/r/X", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
