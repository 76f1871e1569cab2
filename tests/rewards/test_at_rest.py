"""Codes, PINs and portal tokens at rest: nowhere in clear, and still working where they must.

Every test reads the database raw (every column of every table), not through the models,
so a clear copy left anywhere is found.
"""

from urllib.parse import quote

import pytest
from django.db import connection

from sarafan.participants.models import Participant
from sarafan.rewards.delivery import deliver, mask_email
from sarafan.rewards.models import Certificate, Delivery, Reward
from tests.at_rest import rows_holding
from tests.factories import create_campaign, create_referrer, order, resend_now

RULES = [
    {
        "recipient": "referrer",
        "trigger": "first_order",
        "kind": "fixed",
        "amount": "1500.00",
        "hold_days": 0,
    }
]


@pytest.fixture
def campaign(api):
    return create_campaign(api, rules=RULES)


def _issue(api, customer="c-1"):
    """A reward issued through the events API to u-7, and the reward as the API shows it."""
    code = Participant.objects.get(external_id="u-7").referral_code
    response = order(api, customer, f"o-{customer}", code=code)
    assert response.status_code == 201, response.content
    [data] = response.json()["rewards"]
    shown = api.get(f"rewards/{data['id']}").json()
    return Reward.objects.get(public_id=data["id"]), shown["certificate"]


def _raw_certificate(certificate_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT code_hash, code_encrypted, pin_encrypted FROM rewards_certificate "
            "WHERE public_id = %s",
            [certificate_id],
        )
        return cursor.fetchone()


def test_own_certificate_codes_and_pins_are_nowhere_in_clear(api, campaign):
    create_referrer(api, "u-7", phone="+79161234567")
    _reward, issued = _issue(api)
    manual = api.post("rewards", {"recipient": "u-7", "amount": "300.00", "note": "goodwill"})
    assert manual.status_code == 201, manual.content
    by_hand = manual.json()["certificate"]

    for certificate in (issued, by_hand):
        assert certificate["code"].startswith("SF-") and certificate["pin"].isdigit()
        code_hash, code_encrypted, pin_encrypted = _raw_certificate(certificate["id"])
        assert len(code_hash) == 64 and code_encrypted and pin_encrypted
        assert rows_holding(certificate["code"]) == []
        assert rows_holding(certificate["code"].replace("-", "")) == []
        assert rows_holding(certificate["pin"]) == []
    # The API still gives them where API.md says it does.
    listed = api.get("rewards", participant="u-7").json()["data"]
    assert {r["certificate"]["code"] for r in listed} == {issued["code"], by_hand["code"]}


def test_certificates_are_found_by_code_in_any_case_and_spacing(api, campaign):
    create_referrer(api, "u-7")
    _reward, certificate = _issue(api)
    code = certificate["code"]

    for typed in (code, code.lower(), f"  {code.lower()} "):
        found = api.get(f"certificates/{quote(typed)}")
        assert found.status_code == 200, typed
        assert found.json()["id"] == certificate["id"]
        assert found.json()["code"] == code
        assert "pin" not in found.json()
    redeemed = api.post(
        f"certificates/{quote(code.lower())}/redeem", {"amount": "500.00", "order_id": "A"}
    )
    assert redeemed.status_code == 201, redeemed.content
    assert redeemed.json()["certificate"]["balance"] == "1000.00"
    assert redeemed.json()["certificate"]["code"] == code
    wrong = code[:-1] + ("2" if code[-1] != "2" else "3")
    assert api.get(f"certificates/{wrong}").status_code == 404


def test_certificate_email_carries_the_code_and_pin(api, campaign, smtp):
    create_referrer(api, "u-7")
    reward, certificate = _issue(api)

    # The e-mail the events API enqueues once it commits, sent through the real server.
    assert deliver(reward.pk).status == "sent"
    [received] = smtp.inbox.messages
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    html = received.message.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert certificate["code"] in body
        assert certificate["pin"] in body
    token = Participant.objects.get(external_id="u-7").portal_token_value()
    assert f"/p/{token}" in text
    assert rows_holding(certificate["code"], certificate["pin"], token) == []


def test_portal_tokens_are_stored_hashed_and_still_open_the_portal(api, client, campaign):
    created = create_referrer(api, "u-7")
    token = created["portal_url"].rsplit("/p/", 1)[1]
    assert len(token) >= 40

    assert rows_holding(token) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT portal_token_hash, portal_token_encrypted FROM participants_participant "
            "WHERE external_id = %s",
            ["u-7"],
        )
        token_hash, token_encrypted = cursor.fetchone()
    assert len(token_hash) == 64 and token_encrypted
    # API.md: GET gives the same portal_url again.
    assert api.get("participants/u-7").json()["portal_url"] == created["portal_url"]
    assert client.get(f"/p/{token}").status_code == 200
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/p/{wrong}").status_code == 404
    assert client.get(f"/p/{token_hash}").status_code == 404


def test_erasure_leaves_no_copy_of_the_address_in_deliveries(api, campaign, smtp, project):
    create_referrer(api, "u-7", phone="+79161234567")
    reward, certificate = _issue(api)
    assert deliver(reward.pk).status == "sent"
    resend_now(reward, actor="console:admin")
    smtp.inbox.refused.add("u-7@example.ru")
    failed = resend_now(reward, actor="api")
    assert failed.status == "failed"
    address = "u-7@example.ru"
    assert Delivery.objects.filter(to=address).count() == 3
    assert rows_holding(address)  # the participant's row and the deliveries, until erased

    assert api.delete("participants/u-7").status_code == 200

    assert rows_holding(address, mask_email(address), "Анна", "+79161234567") == []
    assert Delivery.objects.filter(reward=reward).count() == 3
    assert set(Delivery.objects.values_list("to", flat=True)) == {""}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent", "failed"}
    # The money stays: the certificate is still found by its code.
    assert api.get(f"certificates/{certificate['code']}").status_code == 200
    assert rows_holding(certificate["code"], certificate["pin"]) == []
    assert Certificate.objects.get(reward=reward).code_value() == certificate["code"]
    # And the portal is gone with the person.
    erased = Participant.objects.get(pk=reward.recipient_id)
    assert erased.portal_token_hash is None and erased.portal_token_encrypted == ""
