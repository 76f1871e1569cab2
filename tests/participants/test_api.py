"""The participants API: upsert, read, erase and extra links, as a client sees them."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sarafan.links.models import Click, Link
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward
from tests.conftest import ApiClient
from tests.links.support import make_campaign

ANNA = {
    "email": "anna@example.ru",
    "phone": "+79161234567",
    "name": "Анна",
    "attributes": {"city": "Москва"},
    "tags": ["vip"],
    "consent": {"marketing": True},
}


def _error(response, status, param, code=None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["type"] == "invalid_request"
    assert error["param"] == param
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


def test_put_creates_participant_with_code_and_urls(api, settings):
    response = api.put("participants/u-7", ANNA)
    assert response.status_code == 201
    data = response.json()
    assert data["id"].startswith("prt_")
    assert data["external_id"] == "u-7"
    assert data["livemode"] is False
    assert (data["email"], data["phone"], data["name"]) == (
        "anna@example.ru",
        "+79161234567",
        "Анна",
    )
    assert data["attributes"] == {"city": "Москва"}
    assert data["tags"] == ["vip"]
    code = data["referral_code"]
    assert len(code) == 8
    assert data["referral_url"] == f"{settings.BASE_URL}/r/{code}"
    assert data["qr_url"] == f"{settings.BASE_URL}/r/{code}/qr.svg"
    assert data["portal_url"].startswith(f"{settings.BASE_URL}/p/")
    assert data["created_at"]
    assert data["stats"] == {"clicks": 0, "signups": 0, "orders": 0, "rewards_amount": "0.00"}


def test_put_again_updates_and_answers_200_with_same_code(api):
    first = api.put("participants/u-7", ANNA).json()
    response = api.put("participants/u-7", {"name": "Анна К.", "tags": ["vip", "new"]})
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == first["id"]
    assert data["referral_code"] == first["referral_code"]
    assert data["name"] == "Анна К."
    assert data["tags"] == ["vip", "new"]
    assert data["email"] == "anna@example.ru"  # fields not sent are kept
    assert Participant.objects.count() == 1


def test_get_returns_same_as_put(api):
    created = api.put("participants/u-7", ANNA).json()
    response = api.get("participants/u-7")
    assert response.status_code == 200
    assert response.json() == created


def test_new_participant_gets_a_primary_link_on_the_default_campaign(api, project):
    campaign = make_campaign(project)
    data = api.put("participants/u-7", {}).json()
    link = Link.objects.get(participant__public_id=data["id"])
    assert link.is_primary
    assert link.code == data["referral_code"]
    assert link.channel == "link"
    assert link.campaign == campaign


def test_unknown_participant_is_404(api):
    response = api.get("participants/nobody")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert response.json()["error"]["param"] == "external_id"


def test_test_key_participant_is_invisible_to_live_key(api, live_api):
    api.put("participants/u-7", ANNA)
    assert live_api.get("participants/u-7").status_code == 404
    assert live_api.get("participants/u-7/links").status_code == 404
    assert live_api.delete("participants/u-7").status_code == 404
    live = live_api.put("participants/u-7", {"email": "other@example.ru"})
    assert live.status_code == 201
    assert live.json()["livemode"] is True
    assert api.get("participants/u-7").json()["email"] == "anna@example.ru"


def test_participants_need_a_secret_key(anon_api, project_keys):
    assert anon_api.put("participants/u-7", ANNA).status_code == 401
    widget = ApiClient(anon_api.client, project_keys.keys["publishable_key_test"])
    response = widget.get("participants/u-7")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"email": "not-an-email"}, "email", "invalid_email"),
        ({"phone": "8916"}, "phone", "invalid_phone"),
        ({"phone": "+7916"}, "phone", "invalid_phone"),
        ({"nickname": "x"}, "nickname", "unknown_field"),
        ({"tags": "vip"}, "tags", "invalid_value"),
        ({"tags": [1, 2]}, "tags.0", "invalid_value"),
        ({"attributes": ["city"]}, "attributes", "invalid_value"),
        ({"consent": {"marketing": "yes"}}, "consent.marketing", "invalid_value"),
        ({"name": "x" * 201}, "name", "invalid_value"),
        ({"email": 5}, "email", "invalid_value"),
    ],
)
def test_invalid_participant_fields_are_rejected_naming_the_field(api, body, param, code):
    _error(api.put("participants/u-7", body), 422, param, code)
    assert not Participant.objects.exists()


def test_external_id_longer_than_200_is_rejected(api):
    _error(api.put(f"participants/{'x' * 201}", {}), 422, "external_id", "invalid_external_id")


def test_malformed_json_is_400(api):
    response = api.put("participants/u-7", raw="{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_blank_string_clears_a_contact_field(api):
    api.put("participants/u-7", ANNA)
    assert api.put("participants/u-7", {"phone": ""}).json()["phone"] is None


def test_a_national_phone_number_is_stored_in_e164(api):
    # SARAFAN_PHONE_REGION (RU by default) reads "8 916 …" as +7 916 …
    data = api.put("participants/u-7", {"phone": "8 (916) 123-45-67"}).json()
    assert data["phone"] == "+79161234567"


def test_delete_erases_personal_data_but_keeps_counts(api, project):
    campaign = make_campaign(project)
    data = api.put("participants/u-7", ANNA).json()
    participant = Participant.objects.get(public_id=data["id"])
    api.client.get(f"/r/{data['referral_code']}", HTTP_USER_AGENT="Firefox", REMOTE_ADDR="1.2.3.4")
    friend = Participant.objects.create(
        project=project, external_id="u-42", referral_code="FRIEND22"
    )
    Referral.objects.create(
        project=project, campaign=campaign, referrer=participant, referee=friend, source="code"
    )

    response = api.delete("participants/u-7")

    assert response.status_code == 200
    erased = response.json()
    assert erased["id"] == data["id"]
    assert erased["external_id"] == f"erased-{data['id']}"
    assert (erased["email"], erased["phone"], erased["name"]) == (None, None, None)
    assert (erased["attributes"], erased["tags"], erased["consent"]) == ({}, [], {})
    assert erased["erased_at"]
    assert erased["portal_url"] is None
    assert erased["referral_code"] == data["referral_code"]
    assert erased["stats"]["clicks"] == 1
    assert erased["stats"]["signups"] == 1
    click = Click.objects.get()
    assert (click.user_agent, click.referer, click.ip_hash) == ("", "", "")
    assert api.get("participants/u-7").status_code == 404


def test_participant_can_be_created_again_after_erasure(api):
    first = api.put("participants/u-7", ANNA).json()
    api.delete("participants/u-7")
    again = api.put("participants/u-7", {"email": "anna@example.ru"})
    assert again.status_code == 201
    assert again.json()["id"] != first["id"]


def test_stats_count_rewards_that_are_earned(api, project):
    make_campaign(project)
    data = api.put("participants/u-7", ANNA).json()
    participant = Participant.objects.get(public_id=data["id"])
    for index, (status, amount) in enumerate(
        [("issued", "500.00"), ("approved", "250.50"), ("pending", "100.00"), ("cancelled", "9")]
    ):
        Reward.objects.create(
            project=project,
            recipient=participant,
            amount=Decimal(amount),
            status=status,
            available_at=datetime(2026, 1, 1, tzinfo=UTC),
            dedupe_key=f"k{index}",
        )
    assert api.get("participants/u-7").json()["stats"]["rewards_amount"] == "750.50"


def test_post_link_creates_a_channel_link_with_utm(api, project, settings):
    make_campaign(project)
    api.put("participants/u-7", ANNA)
    response = api.post(
        "participants/u-7/links",
        {"channel": "email", "utm": {"utm_source": "newsletter", "utm_medium": "email"}},
    )
    assert response.status_code == 201
    link = response.json()
    assert link["id"].startswith("lnk_")
    assert link["channel"] == "email"
    assert link["utm"] == {"utm_source": "newsletter", "utm_medium": "email"}
    assert link["url"] == f"{settings.BASE_URL}/r/{link['code']}"
    assert link["qr_url"] == f"{settings.BASE_URL}/r/{link['code']}/qr.svg"
    assert link["code"] != api.get("participants/u-7").json()["referral_code"]


def test_links_are_listed_newest_first(api):
    api.put("participants/u-7", ANNA)
    for channel in ("email", "sms", "telegram"):
        assert api.post("participants/u-7/links", {"channel": channel}).status_code == 201
    response = api.get("participants/u-7/links", limit=2)
    assert response.status_code == 200
    page = response.json()
    assert [link["channel"] for link in page["data"]] == ["telegram", "sms"]
    assert page["has_more"] is True
    rest = api.get("participants/u-7/links", starting_after=page["data"][-1]["id"]).json()
    assert [link["channel"] for link in rest["data"]] == ["email", "link"]
    assert rest["has_more"] is False


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"channel": "fax"}, "channel", "unknown_channel"),
        ({"channel": "email", "utm": {"utm_evil": "x"}}, "utm.utm_evil", "unknown_utm_parameter"),
        ({"channel": "email", "utm": {"utm_source": "x" * 201}}, "utm.utm_source", None),
        ({"channel": "email", "color": "red"}, "color", "unknown_field"),
        ({"utm": {}}, "channel", "missing_field"),
    ],
)
def test_invalid_link_requests_are_rejected(api, body, param, code):
    api.put("participants/u-7", ANNA)
    _error(api.post("participants/u-7/links", body), 422, param, code)
    assert Link.objects.count() == 1


def test_link_for_unknown_campaign_is_404(api):
    api.put("participants/u-7", ANNA)
    response = api.post("participants/u-7/links", {"channel": "qr", "campaign": "cmp_nope"})
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "campaign"


def test_link_for_unknown_participant_is_404(api):
    assert api.post("participants/nobody/links", {"channel": "email"}).status_code == 404
