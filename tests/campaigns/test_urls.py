"""URLs with control or invisible characters are refused wherever Sarafan takes one, naming
the field."""

import pytest

from sarafan.campaigns.models import Campaign
from tests.factories import campaign_body, create_campaign

# urlsplit drops TAB, CR and LF, so the first one lands on shop.example.evil.example.
CONTROLLED = [
    "https://shop.example\t.evil.example/",
    "https://shop.example\r\n.evil.example/",
    "https://shop.example/\nwelcome",
    "https://shop.example/\x00welcome",
    "https://shop.example/welcome\x7f",
    "https://shop.example/\x85welcome",  # C1 "next line"
    # A browser drops a soft hyphen or a zero-width space from a host name: evil.example.
    "https://shop.example\u00ad.evil.example/",
    "https://shop.example\u200b.evil.example/",
    "https://shop.example\u200d.evil.example/",  # zero-width joiner
    "https://shop.example/\u202ewelcome",  # right-to-left override
    "https://shop.example/\u2066welcome",  # left-to-right isolate
    "https://\ufeffshop.example/",  # byte order mark
]


def _refused(response, param):
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request", param)
    assert "control or invisible characters" in error["message"]


@pytest.mark.parametrize("url", CONTROLLED)
def test_landing_url_with_a_control_character_is_refused(api, url):
    _refused(api.post("campaigns", campaign_body(landing_url=url)), "landing_url")
    assert not Campaign.objects.exists()
    campaign = create_campaign(api)
    _refused(api.patch(f"campaigns/{campaign['id']}", {"landing_url": url}), "landing_url")
    assert api.get(f"campaigns/{campaign['id']}").json()["landing_url"] == campaign["landing_url"]


def test_allowed_redirect_host_with_a_control_character_is_refused(api):
    body = campaign_body(allowed_redirect_hosts=["shop.example", "shop\t.evil.example"])
    _refused(api.post("campaigns", body), "allowed_redirect_hosts.1")


@pytest.mark.parametrize("stored", [CONTROLLED[0], CONTROLLED[6]])
def test_stored_landing_url_with_a_control_character_never_redirects(api, client, stored):
    """An install that stored such a URL before it was refused does not send visitors on."""
    campaign = create_campaign(api)
    code = api.put("participants/u-7", {"email": "anna@example.ru"}).json()["referral_code"]
    Campaign.objects.filter(public_id=campaign["id"]).update(landing_url=stored)
    response = client.get(f"/r/{code}")
    assert response.status_code != 302
    assert "evil.example" not in response.get("Location", "")


@pytest.mark.parametrize("url", CONTROLLED[:1] + CONTROLLED[3:])
def test_brand_logo_and_issuer_urls_with_a_control_character_are_refused(api, url):
    _refused(api.post("brands", {"name": "Ozon", "logo_url": url}), "logo_url")
    _refused(api.post("issuers", {"name": "Карты", "url": url}), "url")
